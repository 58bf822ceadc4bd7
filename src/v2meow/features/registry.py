"""Build extractors by name: "clip", "i3d", "motion", or several joined by '+' or ','."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

import torch

from v2meow.errors import ConfigError, UnknownComponentError
from v2meow.features.base import FeatureExtractor, Features


def _motion_class() -> type[FeatureExtractor]:
    from v2meow.features.motion import MotionExtractor

    return MotionExtractor


def _clip_class() -> type[FeatureExtractor]:
    from v2meow.features.clip import ClipExtractor

    return ClipExtractor


def _i3d_class() -> type[FeatureExtractor]:
    from v2meow.features.i3d import I3DExtractor

    return I3DExtractor


def _debug_kwargs(name: str) -> dict[str, Any]:
    """Tiny random settings for tests and the demo (no weights needed)."""
    if name == "clip":
        from v2meow.features.clip import DEBUG_CLIP_ARCH

        return {"model_name": "debug", "pretrained": None, "arch": DEBUG_CLIP_ARCH}
    if name == "i3d":
        from v2meow.features.i3d import DEBUG_I3D_ARCH

        return {"arch": DEBUG_I3D_ARCH, "size": (32, 32)}
    return {}


# name -> (class loader, needs pretrained weights); imports stay lazy (open_clip is slow)
_EXTRACTORS: dict[str, tuple[Callable[[], type[FeatureExtractor]], bool]] = {
    "clip": (_clip_class, True),
    "i3d": (_i3d_class, True),
    "motion": (_motion_class, False),
}


def list_extractors() -> list[str]:
    """Names accepted by `build_extractor`."""
    return sorted(_EXTRACTORS)


def parse_spec(spec: str) -> list[str]:
    """Split "clip+i3d" / "motion,clip" into lower-case names, checking each is known."""
    names = [n.strip().lower() for n in re.split(r"[+,]", spec or "") if n.strip()]
    if not names:
        raise ConfigError(f"empty extractor spec {spec!r}; known: {', '.join(list_extractors())}")
    for n in names:
        if n not in _EXTRACTORS:
            raise UnknownComponentError(f"unknown feature extractor {n!r}; known: {', '.join(list_extractors())}")
    if len(set(names)) != len(names):
        raise ConfigError(f"extractor spec {spec!r} names an extractor twice")
    return names


def _accepted(cls: type, with_loader: bool) -> set[str]:
    params = set(inspect.signature(cls.__init__).parameters)
    if with_loader and hasattr(cls, "from_pretrained"):
        params |= set(inspect.signature(cls.from_pretrained).parameters)
    return params - {"self", "cls", "kwargs"}


def build_extractor(
    spec: str,
    *,
    debug: bool = False,
    load_weights: bool = True,
    rate: float | None = None,
    trust_pickle: bool = False,
    **overrides: Any,
) -> FeatureExtractor:
    """Build one extractor, or a `FusedExtractor` of several, by name.

    Args:
        spec: a name from `list_extractors()` or several joined by '+' or ','.
        debug: build tiny random `clip`/`i3d` models (tests, demo); loads nothing.
        load_weights: load `clip`/`i3d` weights with `from_pretrained` (local files or
            caches only; raises `MissingWeightsError` with a download hint). False
            builds the full architectures with random weights.
        rate: output rate: of the extractor if one, else the fused common rate.
        trust_pickle: let `clip`/`i3d` read weight files that can run code (TorchScript,
            pickles the weights-only reader refuses); see `v2meow.safety.safeload`.
        **overrides: `name={...}` passes keyword arguments to that extractor (e.g.
            `clip={"pretrained": "/path/open_clip_model.safetensors"}`, `i3d={"path": ...}`);
            any other keyword goes to every named extractor that accepts it.

    Raises:
        UnknownComponentError: an unknown name.
        ConfigError: an override no named extractor accepts.
    """
    names = parse_spec(spec)
    per_name = {n: dict(overrides.pop(n)) for n in list(overrides) if n in _EXTRACTORS}
    for n in per_name:
        if n not in names:
            raise ConfigError(f"overrides given for {n!r}, which is not in {spec!r}")
    shared_used: set[str] = set()
    parts = []
    for n in names:
        loader, needs_weights = _EXTRACTORS[n]
        cls = loader()
        load = needs_weights and load_weights and not debug
        accepted = _accepted(cls, load)
        kwargs = _debug_kwargs(n) if debug else {}
        for key, value in overrides.items():
            if key in accepted:
                kwargs[key] = value
                shared_used.add(key)
        kwargs.update(per_name.get(n, {}))
        if rate is not None and len(names) == 1:
            kwargs["rate"] = rate
        if load and "trust_pickle" in accepted:
            kwargs["trust_pickle"] = trust_pickle
        parts.append(cls.from_pretrained(**kwargs) if load else cls(**kwargs))
    unused = set(overrides) - shared_used
    if unused:
        raise ConfigError(f"no extractor in {spec!r} accepts {', '.join(sorted(unused))}")
    if len(parts) == 1:
        return parts[0]
    from v2meow.features.fusion import FusedExtractor

    return FusedExtractor(parts, rate=rate)


def extract_features(
    extractor: FeatureExtractor, frames: torch.Tensor, times: torch.Tensor, duration: float | None = None
) -> Features:
    """Run `extractor` and wrap the result with its rate, ids and dims.

    Args:
        frames: `[T, 3, H, W]` uint8 at `extractor.frame_rate`.
        times: `[T]` seconds of each frame.
        duration: seconds of video (default `T / frame_rate`).
    """
    from v2meow.features._time import resolve_duration

    duration = resolve_duration(times, extractor.frame_rate, duration)
    feats = extractor.extract(frames, times, duration)  # [T_out, D]
    return Features(
        features=feats,
        rate=extractor.rate,
        extractor_ids=extractor.part_ids,
        dims=extractor.part_dims,
        duration=duration,
    )
