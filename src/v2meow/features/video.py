"""Run an extractor over a video file, in bounded memory."""

from __future__ import annotations

import math
import os

import torch

from v2meow import media
from v2meow.features.base import FeatureExtractor, Features


def _extract_span(extractor: FeatureExtractor, path, start: float, duration: float | None, threads: int | None):
    frames = media.read_frames(
        path, rate=extractor.frame_rate, size=extractor.frame_size, start=start, duration=duration, threads=threads
    )
    with torch.no_grad():  # not inference_mode: callers may feed these features to trainable modules
        feats = extractor.extract(frames.frames, frames.times - start, duration=frames.duration)  # [T, D]
    return feats.float().cpu(), frames.duration


def extract_video(
    extractor: FeatureExtractor,
    path: str | os.PathLike,
    start: float = 0.0,
    duration: float | None = None,
    threads: int | None = None,
    chunk_seconds: float = 60.0,
) -> Features:
    """Decode `path` at the extractor's frame rate and size and compute its features.

    Long videos are decoded `chunk_seconds` at a time (each chunk a whole number of output
    steps), so memory stays bounded whatever the length.

    Args:
        extractor: any `FeatureExtractor` (a fused one included).
        path: the video.
        start, duration: the part of the video to cover, in seconds.
        threads: decoder threads (None: FFmpeg's choice).
        chunk_seconds: decode at most this much video at once.

    Returns:
        `Features` with `[ceil(duration * rate), dim]` rows.
    """
    total = media.probe(path).duration - start if duration is None else duration
    chunk = max(1, round(chunk_seconds * extractor.rate)) / extractor.rate  # whole output steps
    if total <= 1.5 * chunk:
        feats, covered = _extract_span(extractor, path, start, duration, threads)
    else:
        parts, covered = [], 0.0
        for i in range(math.ceil(total / chunk - 1e-9)):
            length = min(chunk, total - i * chunk)
            part, got = _extract_span(extractor, path, start + i * chunk, length, threads)
            parts.append(part)
            covered += got
        feats = torch.cat(parts)  # [T, D]
    return Features(
        features=feats,
        rate=extractor.rate,
        extractor_ids=list(extractor.part_ids),
        dims=list(extractor.part_dims),
        duration=covered,
    )
