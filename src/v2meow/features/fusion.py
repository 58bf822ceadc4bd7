"""Several extractors run on one frame stream, resampled to one rate and concatenated."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from v2meow.errors import ConfigError
from v2meow.features._time import resample, resolve_duration, sample_frames_at
from v2meow.features.base import FeatureExtractor, num_output_steps


class FusedExtractor(FeatureExtractor):
    """Concatenation of several extractors' features at one common rate.

    `extract` takes frames at the highest `frame_rate` of the parts and at the largest
    `frame_size`; each part receives the frames nearest to its own frame times
    (`k / part.frame_rate`) and resizes them to its own size. Each part's output is
    resampled to `rate`: held (nearest earlier step) when upsampling, averaged over the
    covered steps when downsampling. Columns follow the order of `extractors`.

    Args:
        extractors: the parts, at least one.
        rate: common output rate; default the highest part rate.
    """

    name = "fused"

    def __init__(self, extractors: Sequence[FeatureExtractor], rate: float | None = None):
        super().__init__()
        if not extractors:
            raise ConfigError("FusedExtractor needs at least one extractor")
        self.parts = nn.ModuleList(extractors)
        self._rate = float(rate) if rate is not None else max(e.rate for e in extractors)
        if self._rate <= 0:
            raise ConfigError(f"fused rate must be positive, got {rate}")

    @property
    def extractors(self) -> list[FeatureExtractor]:
        """The parts, in column order (same as `parts`)."""
        return list(self.parts)

    @property
    def dim(self) -> int:
        return sum(e.dim for e in self.parts)

    @property
    def rate(self) -> float:
        return self._rate

    @property
    def frame_rate(self) -> float:
        return max(e.frame_rate for e in self.parts)

    @property
    def frame_size(self) -> tuple[int, int] | None:
        sizes = [e.frame_size for e in self.parts]
        if any(s is None for s in sizes):
            return None
        return max(s[0] for s in sizes), max(s[1] for s in sizes)

    @property
    def id(self) -> str:
        return "+".join(self.part_ids) + f"@{self._rate:g}Hz"

    @property
    def part_ids(self) -> list[str]:
        return [i for e in self.parts for i in e.part_ids]

    @property
    def part_dims(self) -> list[int]:
        return [d for e in self.parts for d in e.part_dims]

    def frames_for(
        self, part: FeatureExtractor, frames: torch.Tensor, times: torch.Tensor, duration: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The subset of `frames [T, 3, H, W]` nearest to `part`'s frame times, with their times."""
        if math.isclose(part.frame_rate, self.frame_rate):
            return frames, times
        n = max(1, math.ceil(duration * part.frame_rate - 1e-6))
        targets = torch.arange(n, dtype=torch.float64) / part.frame_rate  # [n]
        idx = torch.unique(sample_frames_at(times, targets))  # sorted, no repeats
        return frames[idx], times[idx]

    def extract(self, frames: torch.Tensor, times: torch.Tensor, duration: float | None = None) -> torch.Tensor:
        duration = resolve_duration(times, self.frame_rate, duration)
        if frames.shape[0] == 0 or frames.shape[0] != times.shape[0]:
            raise ConfigError(f"need matching non-empty frames and times, got {frames.shape[0]} and {times.shape[0]}")
        n_out = num_output_steps(duration, self._rate)
        outs = []
        for part in self.parts:
            f, t = self.frames_for(part, frames, times, duration)
            x = part.extract(f, t, duration)  # [ceil(duration * part.rate), part.dim]
            outs.append(resample(x, part.rate, self._rate, n_out))  # [n_out, part.dim]
        return torch.cat(outs, dim=1)  # [n_out, dim]
