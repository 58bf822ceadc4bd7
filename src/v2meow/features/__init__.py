"""Visual feature extractors behind one interface, built by name from a registry.

    ext = build_extractor("clip+i3d")              # pretrained weights from local caches
    ext = build_extractor("motion,clip", debug=True)  # tiny random models, no weights
    feats = extract_features(ext, frames, times)   # Features: [T, ext.dim] at ext.rate

`channels` holds the condition channels (e.g. the rhythm) made from music and from a video alike.

`ClipExtractor` and `I3DExtractor` import open_clip / pytorchvideo, so they are loaded
on first access.
"""

from __future__ import annotations

from typing import Any

from v2meow.features.base import FeatureExtractor, Features, num_output_steps
from v2meow.features.fusion import FusedExtractor
from v2meow.features.motion import MOTION_FEATURES, MotionExtractor
from v2meow.features.registry import build_extractor, extract_features, list_extractors

_LAZY = {"ClipExtractor": "v2meow.features.clip", "I3DExtractor": "v2meow.features.i3d"}

__all__ = [
    "MOTION_FEATURES",
    "ClipExtractor",
    "FeatureExtractor",
    "Features",
    "FusedExtractor",
    "I3DExtractor",
    "MotionExtractor",
    "build_extractor",
    "extract_features",
    "list_extractors",
    "num_output_steps",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'v2meow.features' has no attribute {name!r}")
