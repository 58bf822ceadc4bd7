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
    threads: int | None = None,
) -> Features:
    """Decode `path` at the extractor's frame rate and size and compute its features.

    Args:
        extractor: any `FeatureExtractor` (a fused one included).
        path: the video.
        start, duration: the part of the video to cover, in seconds.
        threads: decoder threads (None: FFmpeg's choice).

    Returns:
        `Features` with `[ceil(duration * rate), dim]` rows.
    """
    frames = media.read_frames(path, rate=extractor.frame_rate, size=extractor.frame_size, start=start, duration=duration, threads=threads)
    with torch.no_grad():  # not inference_mode: callers may feed these features to trainable modules
        feats = extractor.extract(frames.frames, frames.times - start, duration=frames.duration)
    return Features(
        features=feats.float().cpu(),
        rate=extractor.rate,
        extractor_ids=list(extractor.part_ids),
        dims=list(extractor.part_dims),
        duration=frames.duration,
    )
