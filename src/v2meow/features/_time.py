"""Shared helpers: assign frames to output bins, reduce per bin, resize frames."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from v2meow.errors import ConfigError


def resolve_duration(times: torch.Tensor, frame_rate: float, duration: float | None) -> float:
    """The duration `extract` covers: `duration` if given, else `T_in / frame_rate`.

    When `duration` is None and the frame times run past `T_in / frame_rate` (frames
    not starting at 0), the last frame time plus one frame period is used instead.
    """
    if duration is not None:
        if not math.isfinite(duration) or duration <= 0:
            raise ConfigError(f"duration must be a positive number of seconds, got {duration}")
        return float(duration)
    if times.numel() == 0:
        raise ConfigError("cannot extract features from zero frames")
    n = times.numel() / frame_rate
    return max(n, float(times[-1]) + 1.0 / frame_rate)


def bin_index(times: torch.Tensor, rate: float, n_out: int) -> torch.Tensor:
    """Output step of each frame time, `floor(t * rate)` clamped to `[0, n_out - 1]`."""
    idx = torch.floor(times.double() * rate + 1e-6).long()  # [T]
    return idx.clamp_(0, n_out - 1)


def fill_empty(values: torch.Tensor, filled: torch.Tensor) -> torch.Tensor:
    """Forward-fill rows where `filled` is False (leading gaps take the first filled row).

    Args:
        values: `[N, D]`.
        filled: `[N]` bool, at least one True.
    """
    n = values.shape[0]
    if bool(filled.all()):
        return values
    pos = torch.where(filled, torch.arange(n), torch.full((n,), -1))  # [N]
    last = torch.cummax(pos, dim=0).values  # [N] index of the last filled row so far
    first = int(torch.nonzero(filled)[0])
    last = torch.where(last < 0, torch.full_like(last, first), last)
    return values[last]


def reduce_bins(values: torch.Tensor, idx: torch.Tensor, n_out: int, reduce: str = "mean") -> torch.Tensor:
    """Reduce `values [T, D]` into `[n_out, D]` bins given by `idx [T]`; empty bins are filled.

    Args:
        reduce: "mean" or "amax".
    """
    if values.shape[0] == 0:
        raise ConfigError("cannot extract features from zero frames")
    counts = torch.bincount(idx, minlength=n_out)  # [N]
    out = values.new_zeros(n_out, values.shape[1])  # [N, D]
    if reduce == "mean":
        out.index_add_(0, idx, values).div_(counts.clamp_min(1)[:, None].to(values.dtype))
    elif reduce == "amax":
        out.scatter_reduce_(0, idx[:, None].expand_as(values), values, "amax", include_self=False)
    else:
        raise ValueError(f"unknown reduce {reduce!r}")
    return fill_empty(out, counts > 0)


def resample(x: torch.Tensor, rate_in: float, rate_out: float, n_out: int) -> torch.Tensor:
    """Resample a feature stream `[T_in, D]` at `rate_in` to `[n_out, D]` at `rate_out`.

    Upsampling holds each input step (nearest step covering the output start time);
    downsampling averages the input steps whose start time falls in each output step.
    """
    if rate_in == rate_out and x.shape[0] == n_out:
        return x
    if rate_out > rate_in:
        t = torch.arange(n_out, dtype=torch.float64) / rate_out  # [N]
        src = torch.floor(t * rate_in + 1e-6).long().clamp_(0, x.shape[0] - 1)
        return x[src]
    t = torch.arange(x.shape[0], dtype=torch.float64) / rate_in  # [T_in]
    return reduce_bins(x, bin_index(t, rate_out, n_out), n_out, "mean")


def prepare_frames(frames: torch.Tensor, size: tuple[int, int] | None, chunk: int = 32) -> torch.Tensor:
    """uint8 `[T, 3, H, W]` -> float32 in `[0, 1]`, resized to `size` if it differs."""
    if frames.ndim != 4 or frames.shape[1] != 3:
        raise ConfigError(f"frames must be [T, 3, H, W], got shape {tuple(frames.shape)}")
    if size is None or tuple(frames.shape[-2:]) == tuple(size):
        return _to_unit(frames)
    out = []
    for start in range(0, frames.shape[0], chunk):  # bound memory for large source frames
        x = _to_unit(frames[start : start + chunk])  # [C, 3, H, W]
        out.append(F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False, antialias=True))
    return torch.cat(out) if out else frames.new_zeros(0, 3, *size, dtype=torch.float32)


def _to_unit(frames: torch.Tensor) -> torch.Tensor:
    return frames.float().div_(255.0) if frames.dtype == torch.uint8 else frames.float()


def sample_frames_at(times: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Index of the frame nearest to each target time. `times [T]` sorted, `targets [N]`."""
    t = times.double()
    right = torch.searchsorted(t, targets.double()).clamp_(0, t.numel() - 1)  # [N]
    left = (right - 1).clamp_(min=0)
    pick_left = (targets - t[left]).abs() <= (t[right] - targets).abs()
    return torch.where(pick_left, left, right)


__all__ = [
    "bin_index",
    "fill_empty",
    "prepare_frames",
    "reduce_bins",
    "resample",
    "resolve_duration",
    "sample_frames_at",
]
