"""Bundles: a directory with `pipeline.json` naming component directories and generation defaults.

    pipeline.json
    {
      "format_version": 1,
      "features": {"spec": "motion", "options": {}},        # build_extractor(spec, **options)
      "components": {"stage1": "stage1", "stage2": "stage2", "stage3": "stage3",
                     "codec": "codec", "semantic": "semantic", "style": "style"},  # dirs, relative
      "generation": {...}                                   # GenerationConfig fields
    }

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
from v2meow.errors import ConfigError, MissingWeightsError
from v2meow.io import atomic_output

FORMAT_VERSION = 1
PIPELINE_FILE = "pipeline.json"
REQUIRED = ("stage1", "stage2", "stage3", "codec")


@dataclasses.dataclass
class GenerationConfig:
    """Sampling defaults per stage (stage 1, 2, 3) and windowing."""

    temperatures: tuple[float, float, float] = (1.0, 0.95, 0.4)
    top_k: tuple[int, int, int] = (0, 0, 0)
    top_p: tuple[float, float, float] = (1.0, 1.0, 1.0)
    cfg: tuple[float, float, float] = (1.0, 1.0, 1.0)
    context_seconds: tuple[float, float, float] = (4.0, 4.0, 1.0)  # prompt overlap between windows
    num_samples: int = 1
    seed: int | None = 0
    style_mode: str = "none"  # how stage 1's style input was trained: "none", "text" or "audio"
    cuda_graphs: bool = False  # replay each stage's decode step as a captured CUDA graph (device cuda only)

    def __post_init__(self) -> None:
        checked = validation.generation({f.name: getattr(self, f.name) for f in dataclasses.fields(self)})
        for name, value in checked.items():
            setattr(self, name, value)

    def replace(self, **changes: Any) -> GenerationConfig:
        validation.generation({k: v for k, v in changes.items() if v is not None})  # names an unknown field
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


def read_bundle(directory: str | os.PathLike) -> dict[str, Any]:
    """Parse and check `pipeline.json`; component paths come back absolute."""
    directory = Path(directory)
    path = directory / PIPELINE_FILE
    if not directory.is_dir():
        raise MissingWeightsError(f"{directory}: bundle directory not found")
    if not path.is_file():
        raise MissingWeightsError(f"{directory}: not a v2meow bundle (no {PIPELINE_FILE})")
    try:
        spec = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path}: unreadable ({e})") from None
    validation.pipeline_spec(spec, str(path))
    if spec.get("format_version") != FORMAT_VERSION:
        raise ConfigError(f"{path}: format_version {spec.get('format_version')} (this v2meow reads {FORMAT_VERSION})")
    components = spec.get("components", {})
    missing = [c for c in REQUIRED if c not in components]
    if missing:
        raise ConfigError(f"{path}: components {', '.join(missing)} are missing")
    spec["components"] = {k: str(directory / v) for k, v in components.items() if v}
    for name, comp_dir in spec["components"].items():
        if not Path(comp_dir).is_dir():
            raise MissingWeightsError(f"{directory}: component '{name}' directory {comp_dir} not found")
    spec["generation"] = GenerationConfig(**spec.get("generation", {}))  # fields checked by pipeline_spec
    spec.setdefault("features", {"spec": "motion", "options": {}})
    return spec


def write_bundle_file(directory: str | os.PathLike, features: dict[str, Any], components: dict[str, str], generation: GenerationConfig) -> Path:
    """Write `pipeline.json` (atomically); `components` maps names to paths relative to `directory`."""
    spec = {
        "format_version": FORMAT_VERSION,
        "v2meow_version": __version__,
        "features": features,
        "components": components,
        "generation": dataclasses.asdict(generation),
    }
    path = Path(directory) / PIPELINE_FILE
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(spec, indent=2) + "\n")
    return path
