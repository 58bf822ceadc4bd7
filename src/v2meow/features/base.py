"""The visual feature extractor interface.

An extractor turns decoded frames into a feature sequence at its own output `rate`:

    frames = media.read_frames(path, rate=ext.frame_rate, size=ext.frame_size)
    feats = ext.extract(frames.frames, frames.times)      # [T_out, ext.dim]

`frame_rate` is the rate at which the extractor wants its input frames (it may be
higher than `rate`: I3D reads a short clip per output step, `motion` differences frames
at a higher internal rate). Output step `k` describes the interval
`[k / rate, (k + 1) / rate)` of the video.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import nn


def num_output_steps(duration: float, rate: float) -> int:
    """Number of output steps covering `duration` seconds at `rate` Hz (at least one)."""
    return max(1, math.ceil(duration * rate - 1e-6))


class FeatureExtractor(nn.Module, ABC):
    """Frames in, `[T, dim]` features at `rate` Hz out."""

    #: registry name, e.g. "clip"
    name: str = ""

    @property
    @abstractmethod
    def dim(self) -> int:
        """Feature size per output step."""

    @property
    @abstractmethod
    def rate(self) -> float:
        """Output steps per second."""

    @property
    def frame_rate(self) -> float:
        """Rate at which `extract` wants its input frames (default: one per output step)."""
        return self.rate

    @property
    def frame_size(self) -> tuple[int, int] | None:
        """(height, width) the frames should be resized to, or None for source size."""
        return None

    @property
    def id(self) -> str:
        """A short string naming the extractor and the settings that change its output."""
        return self.name

    @property
    def part_ids(self) -> list[str]:
        """Ids of the extractors whose features are concatenated, in column order."""
        return [self.id]

    @property
    def part_dims(self) -> list[int]:
        """Feature size of each part, summing to `dim`."""
        return [self.dim]

    @abstractmethod
    def extract(self, frames: torch.Tensor, times: torch.Tensor, duration: float | None = None) -> torch.Tensor:
        """Compute features.

        Args:
            frames: `[T_in, 3, H, W]` uint8 RGB frames sampled at `frame_rate`.
            times: `[T_in]` float64 seconds of each frame (`k / frame_rate`).
            duration: seconds of video; defaults to `T_in / frame_rate`.

        Returns:
            `[T_out, dim]` float32 with `T_out = ceil(duration * rate)`.
        """


class StoredShapeExtractor(FeatureExtractor):
    """An extractor whose constructor sets `_dim`, `_rate`, `_frame_rate` and `_size` (H, W)."""

    _dim: int
    _rate: float
    _frame_rate: float
    _size: tuple[int, int]

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def rate(self) -> float:
        return self._rate

    @property
    def frame_rate(self) -> float:
        return self._frame_rate

    @property
    def frame_size(self) -> tuple[int, int]:
        return self._size


@dataclass
class Features:
    """Features of one video, with what produced them."""

    features: torch.Tensor  # [T, D] float32
    rate: float  # output steps per second
    extractor_ids: list[str]  # one per fused extractor, in column order
    dims: list[int]  # feature size of each extractor, summing to D
    duration: float  # seconds of video covered
