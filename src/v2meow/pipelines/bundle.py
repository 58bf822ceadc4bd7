"""Bundles: a directory with `pipeline.json` naming component directories and generation defaults.

    pipeline.json
    {
      "format_version": 2,
      "features": {"spec": "motion", "options": {}},        # build_extractor(spec, **options)
      "components": {"stage1": "stage1", "stage2": "stage2", "stage3": "stage3",
                     "codec": "codec", "semantic": "semantic", "style": "style"},  # dirs, relative
      "generation": {"stages": [{"temperature": 1.0, "top_k": 0, "top_p": 1.0, "guidance": {}}, x3],
                     "context_seconds": [4.0, 4.0, 1.0], "num_samples": 1, "seed": 0, "cuda_graphs": false,
                     "loudness": -14.0}                                # optional; null: no normalisation
    }

Format 1 (per-setting tuples `temperatures`/`top_k`/`top_p`/`cfg` and an unused
`style_mode`) is read and migrated (`migrate_generation`).

`semantic` (the tokenizer that made the training tokens) is not needed to generate; when
present, its vocabulary and rate are checked against the stages. `style` is optional.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from v2meow import __version__, validation
from v2meow.components import build_dataclass, read_json_config
from v2meow.errors import ConfigError, MissingWeightsError
from v2meow.io import atomic_output
from v2meow.stages.conditions import ALL
from v2meow.stages.sampling import PAPER_TEMPERATURES, SamplingConfig

FORMAT_VERSION = 2
PIPELINE_FILE = "pipeline.json"
REQUIRED = ("stage1", "stage2", "stage3", "codec")


def paper_sampling() -> tuple[SamplingConfig, SamplingConfig, SamplingConfig]:
    """V2Meow's per-stage sampling: temperatures 1.0, 0.95, 0.4, no top-k/top-p, no guidance."""
    return tuple(SamplingConfig(temperature=t) for t in PAPER_TEMPERATURES)


@dataclasses.dataclass
class GenerationConfig:
    """Sampling settings per stage (stage 1, 2, 3), windowing, candidates, seed."""

    stages: tuple[SamplingConfig, SamplingConfig, SamplingConfig] = dataclasses.field(default_factory=paper_sampling)
    context_seconds: tuple[float, float, float] = (4.0, 4.0, 1.0)  # prompt overlap between windows
    num_samples: int = 1
    seed: int | None = 0
    cuda_graphs: bool = False  # replay each stage's decode step as a captured CUDA graph (device cuda only)
    loudness: float | None = -14.0  # output target in LUFS (true peak <= -1 dBTP); None: as the codec gives it

    def __post_init__(self) -> None:
        checked = validation.generation({f.name: getattr(self, f.name) for f in dataclasses.fields(self)})
        self.stages = tuple(_sampling(st, f"generation.stages[{i + 1}]") for i, st in enumerate(checked["stages"]))
        self.context_seconds = checked["context_seconds"]
        self.num_samples, self.seed = checked["num_samples"], checked["seed"]
        self.cuda_graphs = checked["cuda_graphs"]
        self.loudness = checked["loudness"]

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["stages"] = [s.to_dict() for s in self.stages]
        return d

    def replace(
        self,
        temperatures: tuple[float, ...] | None = None,
        top_k: tuple[int, ...] | None = None,
        top_p: tuple[float, ...] | None = None,
        cfg: tuple[float, ...] | None = None,
        guidance: tuple[dict[str, float], ...] | None = None,
        **changes: Any,
    ) -> GenerationConfig:
        """A copy with `changes` (fields; None = keep) and per-stage overrides, each 3 values
        (stage 1, 2, 3): `temperatures`, `top_k`, `top_p`, `cfg` (the guidance scale of all
        conditions together) and `guidance` (per-condition scales, merged in)."""
        changes = {k: v for k, v in changes.items() if v is not None}
        validation.generation(changes)  # names an unknown field or a bad value
        stages = [dataclasses.asdict(s) for s in changes.pop("stages", None) or self.stages]
        per_stage = {"temperature": (temperatures, "temperatures", validation.temperature), "top_k": (top_k, "top_k", validation.top_k),
                     "top_p": (top_p, "top_p", validation.top_p), "cfg": (cfg, "cfg", validation.cfg),
                     "guidance": (guidance, "guidance", validation.guidance)}  # fmt: skip
        for key, (values, name, check) in per_stage.items():
            if values is None:
                continue
            for s, v in zip(stages, validation.per_stage(values, name, check)):
                if key == "cfg":
                    s["guidance"] = {**s["guidance"], ALL: v}
                elif key == "guidance":
                    s["guidance"] = {**s["guidance"], **v}
                else:
                    s[key] = v
        return dataclasses.replace(self, stages=tuple(stages), **changes)


def _sampling(value: Any, label: str) -> SamplingConfig:
    if isinstance(value, SamplingConfig):
        return value
    return build_dataclass(SamplingConfig, value, label)


def migrate_generation(d: dict[str, Any], from_version: int) -> dict[str, Any]:
    """Generation settings of an older pipeline.json in this version's shape."""
    if from_version == 1:  # per-setting tuples -> one SamplingConfig per stage; style_mode was never read
        d = dict(d)
        d.pop("style_mode", None)
        temps = validation.per_stage(d.pop("temperatures", PAPER_TEMPERATURES), "generation.temperatures", validation.temperature)
        top_k = validation.per_stage(d.pop("top_k", (0, 0, 0)), "generation.top_k", validation.top_k)
        top_p = validation.per_stage(d.pop("top_p", (1.0, 1.0, 1.0)), "generation.top_p", validation.top_p)
        cfg = validation.per_stage(d.pop("cfg", (1.0, 1.0, 1.0)), "generation.cfg", validation.cfg)
        d["stages"] = [
            {"temperature": t, "top_k": k, "top_p": p, "guidance": {} if g == 1 else {ALL: g}}
            for t, k, p, g in zip(temps, top_k, top_p, cfg)
        ]
    return d


def read_bundle(directory: str | os.PathLike) -> dict[str, Any]:
    """Parse and check `pipeline.json`; component paths come back absolute."""
    directory = Path(directory)
    path = directory / PIPELINE_FILE
    if not directory.is_dir():
        raise MissingWeightsError(f"{directory}: bundle directory not found")
    if not path.is_file():
        raise MissingWeightsError(f"{directory}: not a v2meow bundle (no {PIPELINE_FILE})")
    spec = read_json_config(path)
    validation.pipeline_spec(spec, str(path))
    version = spec.get("format_version")
    if version not in range(1, FORMAT_VERSION + 1):
        raise ConfigError(f"{path}: format_version {version} (this v2meow reads 1 to {FORMAT_VERSION})")
    components = spec.get("components", {})
    missing = [c for c in REQUIRED if c not in components]
    if missing:
        raise ConfigError(f"{path}: components {', '.join(missing)} are missing")
    spec["components"] = {k: str(directory / v) for k, v in components.items() if v}
    for name, comp_dir in spec["components"].items():
        if not Path(comp_dir).is_dir():
            raise MissingWeightsError(f"{directory}: component '{name}' directory {comp_dir} not found")
    try:
        generation = validation.generation(migrate_generation(spec.get("generation", {}), version), "generation.")
        spec["generation"] = GenerationConfig(**generation)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    spec.setdefault("features", {"spec": "motion", "options": {}})
    return spec


def write_bundle_file(directory: str | os.PathLike, features: dict[str, Any], components: dict[str, str], generation: GenerationConfig) -> Path:
    """Write `pipeline.json` (atomically); `components` maps names to paths relative to `directory`."""
    spec = {
        "format_version": FORMAT_VERSION,
        "v2meow_version": __version__,
        "features": features,
        "components": components,
        "generation": generation.to_dict(),
    }
    path = Path(directory) / PIPELINE_FILE
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(spec, indent=2) + "\n")
    return path
