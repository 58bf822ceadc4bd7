"""Save and load a `Features` record as one safetensors file (no pickle)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from v2meow import __version__
from v2meow.errors import UnreadableMediaError
from v2meow.features.base import Features
from v2meow.safety.outputs import atomic_output

FORMAT_VERSION = 1


def save_features(path: str | os.PathLike, feats: Features, source: str | None = None) -> Path:
    """Write features, their frame times and what produced them, atomically.

    Tensors: `features` `[T, D]` float32, `times` `[T]` float64 (start of each step).
    Metadata (strings): `format_version`, `rate`, `duration`, `extractor_ids` (JSON list),
    `dims` (JSON list), `source`, `v2meow_version`.
    """
    times = torch.arange(feats.features.shape[0], dtype=torch.float64) / feats.rate  # [T]
    metadata = {
        "format_version": str(FORMAT_VERSION),
        "rate": repr(float(feats.rate)),
        "duration": repr(float(feats.duration)),
        "extractor_ids": json.dumps(feats.extractor_ids),
        "dims": json.dumps(feats.dims),
        "source": source or "",
        "v2meow_version": __version__,
    }
    with atomic_output(path) as tmp:
        save_file({"features": feats.features.contiguous().float(), "times": times}, str(tmp), metadata=metadata)
    return Path(path)


def load_features(path: str | os.PathLike) -> Features:
    """Read a file written by `save_features`."""
    from safetensors import safe_open

    try:
        tensors = load_file(str(path))
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        return Features(
            features=tensors["features"],
            rate=float(meta["rate"]),
            extractor_ids=json.loads(meta["extractor_ids"]),
            dims=json.loads(meta["dims"]),
            duration=float(meta["duration"]),
        )
    except (SafetensorError, OSError, KeyError, ValueError) as e:
        raise UnreadableMediaError(f"{path}: not a v2meow features file ({e})") from None
