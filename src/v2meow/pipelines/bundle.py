"""Bundles: a directory with `pipeline.json` naming component directories and generation defaults.

    pipeline.json
    {
      "format_version": 3,
      "features": {"spec": "motion", "options": {}},        # build_extractor(spec, **options)
      "components": {<each role's key (roles.KEYS)>: <its dir>, ...,
                     "codec": "codec", "semantic": "semantic", "style": "style"},  # dirs, relative
      "generation": {"sampling": {"semantic": {"temperature": 1.0, "top_k": 0, "top_p": 1.0, "guidance": {}},
                                  "coarse": {...}, "fine": {...}},               # by stage role
                     "context_seconds": {"semantic": 4.0, "coarse": 4.0, "fine": 1.0},
                     "num_samples": 1, "seed": 0, "cuda_graphs": false,
                     "loudness": -14.0}                                # optional; null: no normalisation
    }

Older files are read and migrated (`migrate_generation`): format 2 (`stages` and
`context_seconds` as lists in stage order) and format 1 (per-setting tuples
`temperatures`/`top_k`/`top_p`/`cfg` and an unused `style_mode`).

`semantic` (the tokenizer that made the training tokens) is not needed to generate; when
present, its vocabulary and rate are checked against the stages. `style` is optional.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from v2meow import __version__
from v2meow.components import build_dataclass, read_json_config
from v2meow.errors import ConfigError, MissingWeightsError
from v2meow.safety import validation
from v2meow.safety.outputs import atomic_output
from v2meow.stages.conditions import ALL
from v2meow.stages.roles import KEYS, ROLE_SPECS, ROLES
from v2meow.stages.sampling import PAPER_TEMPERATURES, SamplingConfig

FORMAT_VERSION = 3
PIPELINE_FILE = "pipeline.json"
REQUIRED = (*KEYS, "codec")


def paper_sampling() -> dict[str, SamplingConfig]:
    """V2Meow's sampling by stage role: temperatures 1.0, 0.95, 0.4, no top-k/top-p, no guidance."""
    return {role: SamplingConfig(temperature=t) for role, t in zip(ROLES, PAPER_TEMPERATURES)}


def paper_context() -> dict[str, float]:
    """Seconds of each window primed with the previous one's tail, by stage role."""
    return {r.name: r.context_seconds for r in ROLE_SPECS}


@dataclasses.dataclass
class GenerationConfig:
    """Sampling settings and window context by stage role (`stages.base.ROLES`), candidates, seed.

    `sampling` and `context_seconds` take an object naming every role, or a list in the
    pipeline's order (stage 1, 2, 3).
    """

    sampling: dict[str, SamplingConfig] = dataclasses.field(default_factory=paper_sampling)
    context_seconds: dict[str, float] = dataclasses.field(
        default_factory=paper_context
    )  # prompt overlap between windows
    num_samples: int = 1
    seed: int | None = 0
    cuda_graphs: bool = False  # replay each stage's decode step as a captured CUDA graph (device cuda only)
    loudness: float | None = -14.0  # output target in LUFS (true peak <= -1 dBTP); None: as the codec gives it
    phase: str | None = None  # a mel codec's phase reconstruction, griffin_lim or pghi; None: the codec's own

    def __post_init__(self) -> None:
        checked = validation.generation({f.name: getattr(self, f.name) for f in dataclasses.fields(self)}, roles=ROLES)
        self.sampling = {role: _sampling(st, f"generation.sampling.{role}") for role, st in checked["sampling"].items()}
        self.context_seconds = checked["context_seconds"]
        self.num_samples, self.seed = checked["num_samples"], checked["seed"]
        self.cuda_graphs = checked["cuda_graphs"]
        self.loudness = checked["loudness"]
        self.phase = checked["phase"]

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["sampling"] = {role: s.to_dict() for role, s in self.sampling.items()}
        return d

    def replace(
        self,
        temperatures: Any = None,
        top_k: Any = None,
        top_p: Any = None,
        cfg: Any = None,
        guidance: Any = None,
        **changes: Any,
    ) -> GenerationConfig:
        """A copy with `changes` (fields; None = keep) and per-role overrides: `temperatures`, `top_k`,
        `top_p`, `cfg` (the guidance scale of all conditions together) and `guidance`
        (per-condition scales, merged in), each an object by role (`{"semantic": 0.9}`: the
        roles not named keep theirs) or 3 values in the pipeline's order (CLI style)."""
        changes = {k: v for k, v in changes.items() if v is not None}
        checked = validation.generation(changes, roles=ROLES)  # names an unknown field or a bad value
        sampling = {
            role: _sampling(s, f"sampling.{role}").to_dict()
            for role, s in checked.pop("sampling", self.sampling).items()
        }
        per_role = {
            "temperature": (temperatures, "temperatures", validation.temperature),
            "top_k": (top_k, "top_k", validation.top_k),
            "top_p": (top_p, "top_p", validation.top_p),
            "cfg": (cfg, "cfg", validation.cfg),
            "guidance": (guidance, "guidance", validation.guidance),
        }
        for key, (values, name, check) in per_role.items():
            if values is None:
                continue
            for role, v in _roles(values, name, check).items():
                s = sampling[role]
                if key == "cfg":
                    s["guidance"] = {**s["guidance"], ALL: v}
                elif key == "guidance":
                    s["guidance"] = {**s["guidance"], **v}
                else:
                    s[key] = v
        return dataclasses.replace(self, **{**changes, **checked, "sampling": sampling})


def _roles(values: Any, name: str, check) -> dict[str, Any]:
    """Per-role override values: an object naming some roles, or one value per role in the pipeline's order."""
    if isinstance(values, dict):
        unknown = sorted(set(values) - set(ROLES))
        if unknown:
            raise ConfigError(f"{name}: unknown stage role '{unknown[0]}' (roles: {', '.join(ROLES)})")
        return {role: check(v, f"{name}.{role}") for role, v in values.items()}
    return dict(zip(ROLES, validation.per_stage(values, name, check)))


def _sampling(value: Any, label: str) -> SamplingConfig:
    if isinstance(value, SamplingConfig):
        return value
    return build_dataclass(SamplingConfig, value, label)


def migrate_generation(d: dict[str, Any], from_version: int) -> dict[str, Any]:
    """Generation settings of an older pipeline.json in this version's shape (one step per format version)."""
    d = dict(d)
    if from_version == 1:  # per-setting tuples -> one SamplingConfig per stage; style_mode was never read
        d.pop("style_mode", None)
        temps = validation.per_stage(
            d.pop("temperatures", PAPER_TEMPERATURES), "generation.temperatures", validation.temperature
        )
        top_k = validation.per_stage(d.pop("top_k", (0, 0, 0)), "generation.top_k", validation.top_k)
        top_p = validation.per_stage(d.pop("top_p", (1.0, 1.0, 1.0)), "generation.top_p", validation.top_p)
        cfg = validation.per_stage(d.pop("cfg", (1.0, 1.0, 1.0)), "generation.cfg", validation.cfg)
        d["stages"] = [
            {"temperature": t, "top_k": k, "top_p": p, "guidance": {} if g == 1 else {ALL: g}}
            for t, k, p, g in zip(temps, top_k, top_p, cfg)
        ]
    if from_version <= 2:  # lists in stage order -> objects by stage role
        if "stages" in d:
            d["sampling"] = dict(
                zip(ROLES, validation.per_stage(d.pop("stages"), "generation.stages", validation.sampling))
            )
        if "context_seconds" in d:
            d["context_seconds"] = dict(
                zip(ROLES, validation.per_stage(d["context_seconds"], "generation.context_seconds", validation.context))
            )
    return d


def read_bundle(directory: str | os.PathLike, allow_outside: bool = False) -> dict[str, Any]:
    """Parse and check `pipeline.json`; component paths come back absolute.

    Component paths are relative to the bundle and must stay inside it once resolved (symlinks
    followed): an absolute path, a `../` path or a link leading out is a ConfigError unless
    `allow_outside` (`--allow-outside-bundle`).
    """
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
    if not allow_outside:
        for name, value in components.items():
            if value:
                inside_bundle(directory / value, directory, f"{path}: components.{name} ({value!r})")
    for name, comp_dir in spec["components"].items():
        if not Path(comp_dir).is_dir():
            raise MissingWeightsError(f"{directory}: component '{name}' directory {comp_dir} not found")
    try:
        generation = validation.generation(
            migrate_generation(spec.get("generation", {}), version), "generation.", ROLES
        )
        spec["generation"] = GenerationConfig(**generation)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    spec.setdefault("features", {"spec": "motion", "options": {}})
    return spec


def inside_bundle(path: str | os.PathLike, bundle: str | os.PathLike, what: str) -> Path:
    """`path` resolved (symlinks followed); a ConfigError naming `what` when it is not inside `bundle` (resolved)."""
    resolved, root = Path(path).resolve(), Path(bundle).resolve()
    if not resolved.is_relative_to(root):
        raise ConfigError(
            f"{what} leads outside the bundle, to {resolved}: component paths must stay inside it "
            "(--allow-outside-bundle, or allow_outside=True, loads it anyway)"
        )
    return resolved


def write_bundle_file(
    directory: str | os.PathLike, features: dict[str, Any], components: dict[str, str], generation: GenerationConfig
) -> Path:
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
