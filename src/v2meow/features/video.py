"""Run an extractor over a video file."""

from __future__ import annotations

import os

import torch

from v2meow import media
from v2meow.features.base import FeatureExtractor, Features


def extract_video(
    extractor: FeatureExtractor,
    path: str | os.PathLike,
    start: float = 0.0,
    duration: float | None = None,
) -> Features:
    """Decode `path` at the extractor's frame rate and size and compute its features.

    Returns:
        `Features` with `[ceil(duration * rate), dim]` rows.
    """
    frames = media.read_frames(path, rate=extractor.frame_rate, size=extractor.frame_size, start=start, duration=duration)
    with torch.inference_mode():
        feats = extractor.extract(frames.frames, frames.times - start, duration=frames.duration)
    parts = getattr(extractor, "extractors", None) or [extractor]
    return Features(
        features=feats.float().cpu(),
        rate=extractor.rate,
        extractor_ids=[e.id for e in parts],
        dims=[e.dim for e in parts],
        duration=frames.duration,
    )
