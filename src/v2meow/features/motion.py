"""`motion`: a weight-free extractor of motion, brightness, colour and cut features.

Cheap enough to run at 10 Hz or more, it gives stage 1 the rhythm cues (movement,
flashes, cuts) that 1-Hz semantic embeddings miss. Frames are read at `internal_rate`
on small `size` frames; each output step aggregates the frames whose time falls in it.
"""

from __future__ import annotations

import math

import torch

from v2meow.errors import ConfigError
from v2meow.features._time import bin_index, prepare_frames, reduce_bins, resolve_duration
from v2meow.features.base import FeatureExtractor, num_output_steps

#: Column names of the motion features, in order. Grey is Rec.601 luma in [0, 1];
#: "motion" at a frame is the mean |grey_t - grey_{t-1}| (0 for the first frame).
MOTION_FEATURES: tuple[str, ...] = (
    "motion_mean",  # mean over the step's frames of the frame motion energy, 0..1
    "motion_max",  # max over the step's frames of the frame motion energy, 0..1
    "motion_top_left",  # motion energy in each quadrant of a 2x2 grid (step mean)
    "motion_top_right",
    "motion_bottom_left",
    "motion_bottom_right",
    "brightness_mean",  # mean grey level
    "brightness_std",  # spatial std of the grey level (contrast)
    "brightness_change",  # signed change of mean grey over the step (sum of frame deltas)
    "red_mean",  # mean R, G, B in [0, 1]
    "green_mean",
    "blue_mean",
    "saturation_mean",  # mean HSV saturation (max - min) / max
    "hue_cos",  # chroma-weighted circular mean of hue: resultant vector, length 0..1
    "hue_sin",  #   (0, 0) for grey frames; direction = mean hue, length = concentration
    "scene_cut",  # max over the step of the L1 distance / 2 of consecutive grey histograms
)

_LUMA = (0.299, 0.587, 0.114)


class MotionExtractor(FeatureExtractor):
    """Motion energy, brightness, colour and scene-cut strength per output step.

    Args:
        rate: output steps per second.
        internal_rate: rate at which frames are read and differenced; default
            `max(2 * rate, 10)`. Must be at least `rate`.
        size: (height, width) the frames are reduced to before any computation.
        hist_bins: grey histogram bins for the scene-cut distance.
    """

    name = "motion"
    feature_names = MOTION_FEATURES

    def __init__(
        self,
        rate: float = 10.0,
        internal_rate: float | None = None,
        size: tuple[int, int] = (64, 64),
        hist_bins: int = 16,
    ):
        super().__init__()
        if rate <= 0:
            raise ConfigError(f"motion rate must be positive, got {rate}")
        internal_rate = max(2.0 * rate, 10.0) if internal_rate is None else float(internal_rate)
        if internal_rate < rate:
            raise ConfigError(f"motion internal_rate ({internal_rate}) must be >= rate ({rate})")
        self._rate = float(rate)
        self._internal_rate = internal_rate
        self._size = (int(size[0]), int(size[1]))
        if min(self._size) < 2:
            raise ConfigError(f"motion size must be at least 2x2, got {size}")
        self.hist_bins = int(hist_bins)

    @property
    def dim(self) -> int:
        return len(MOTION_FEATURES)

    @property
    def rate(self) -> float:
        return self._rate

    @property
    def frame_rate(self) -> float:
        return self._internal_rate

    @property
    def frame_size(self) -> tuple[int, int]:
        return self._size

    @property
    def id(self) -> str:
        h, w = self._size
        return f"motion-r{self._rate:g}-f{self._internal_rate:g}-{h}x{w}"

    def frame_features(self, frames: torch.Tensor, chunk: int = 32) -> torch.Tensor:
        """Per-frame features, `[T, 16]` in `MOTION_FEATURES` order.

        `motion_max` holds the frame motion and `scene_cut` the histogram distance to the
        previous frame; `extract` reduces them per step with max. Frames are processed in
        chunks so that the work stays in cache.

        Args:
            frames: `[T, 3, H, W]` uint8 (or float in [0, 1]), any size.
        """
        rows, prev = [], None
        for start in range(0, frames.shape[0], chunk):
            x = prepare_frames(frames[start : start + chunk], self._size)  # [C, 3, h, w] in [0, 1]
            feats, prev = self._chunk_features(x, prev)
            rows.append(feats)
        return torch.cat(rows)

    def _chunk_features(self, x: torch.Tensor, prev: tuple | None) -> tuple[torch.Tensor, tuple]:
        """Features of one chunk `[C, 3, h, w]`, given the last frame's (grey, hist, brightness)."""
        c, _, h, w = x.shape
        r, g, b = x.unbind(1)  # each [C, h, w]
        grey = r * _LUMA[0] + g * _LUMA[1] + b * _LUMA[2]  # [C, h, w]
        hist = self._histogram(grey)  # [C, bins]
        bright = grey.flatten(1).mean(1)  # [C]
        p_grey, p_hist, p_bright = prev if prev is not None else (grey[:1], hist[:1], bright[:1])
        # each frame against the previous one; the very first frame against itself (0)
        diff = (grey - torch.cat([p_grey, grey[:-1]])).abs_()  # [C, h, w]
        cut = 0.5 * (hist - torch.cat([p_hist, hist[:-1]])).abs().sum(1)  # [C]
        change = bright - torch.cat([p_bright, bright[:-1]])  # [C]

        h2, w2 = h // 2, w // 2
        grid = diff[:, : 2 * h2, : 2 * w2].reshape(c, 2, h2, 2, w2).mean((2, 4)).flatten(1)  # [C, 4] tl tr bl br
        motion = diff.flatten(1).mean(1)  # [C]
        contrast = grey.flatten(1).std(1, unbiased=False)  # [C]
        rgb = x.flatten(2).mean(-1)  # [C, 3]
        cmax = torch.maximum(torch.maximum(r, g), b)  # [C, h, w]
        cmin = torch.minimum(torch.minimum(r, g), b)
        sat = ((cmax - cmin) / cmax.clamp_min(1e-6)).flatten(1).mean(1)  # [C]
        alpha = r - 0.5 * (g + b)  # chroma-plane coordinates: hue = atan2(beta, alpha)
        beta = (math.sqrt(3.0) / 2.0) * (g - b)
        chroma = torch.sqrt(alpha * alpha + beta * beta).flatten(1).sum(1).clamp_min(1e-6)  # [C]
        hue = torch.stack([alpha.flatten(1).sum(1), beta.flatten(1).sum(1)], 1) / chroma[:, None]  # [C, 2]

        cols = [
            motion[:, None],
            motion[:, None],
            grid,
            bright[:, None],
            contrast[:, None],
            change[:, None],
            rgb,
            sat[:, None],
            hue,
            cut[:, None],
        ]
        return torch.cat(cols, 1), (grey[-1:], hist[-1:], bright[-1:])

    def _histogram(self, grey: torch.Tensor) -> torch.Tensor:
        """Normalised grey histograms `[C, bins]` of `grey [C, h, w]`."""
        c = grey.shape[0]
        q = (grey.flatten(1) * self.hist_bins).long().clamp_(0, self.hist_bins - 1)  # [C, P]
        q += torch.arange(c, device=q.device)[:, None] * self.hist_bins
        counts = torch.bincount(q.flatten(), minlength=c * self.hist_bins).view(c, self.hist_bins)
        return counts.float() / q.shape[1]

    @torch.inference_mode()
    def extract(self, frames: torch.Tensor, times: torch.Tensor, duration: float | None = None) -> torch.Tensor:
        duration = resolve_duration(times, self.frame_rate, duration)
        n_out = num_output_steps(duration, self._rate)
        if frames.shape[0] == 0:
            raise ConfigError("cannot extract motion features from zero frames")
        if frames.shape[0] != times.shape[0]:
            raise ConfigError(f"got {frames.shape[0]} frames but {times.shape[0]} times")
        per_frame = self.frame_features(frames)  # [T, 16]
        idx = bin_index(times, self._rate, n_out)  # [T]
        out = reduce_bins(per_frame, idx, n_out, "mean")  # [N, 16]
        peaks = reduce_bins(per_frame[:, [1, 15]], idx, n_out, "amax")  # [N, 2]
        out[:, 1] = peaks[:, 0]
        out[:, 15] = peaks[:, 1]
        # brightness change over a step is the sum of its frame deltas (0 for an empty step)
        out[:, 8] = torch.zeros(n_out).index_add_(0, idx, per_frame[:, 8])
        return out.float()
