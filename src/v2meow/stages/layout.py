"""Token layout: codebooks flattened time-major with per-codebook offsets, as in AudioLM.

Codes `[B, K, T]` (K codebooks of size `codebook_size`, T frames) become one sequence

    [c(0,0), c(0,1), ..., c(0,K-1), c(1,0), ...]      # [B, T * K]

where token `c(t, q)` has id `offset + q * codebook_size + code`. Every position of a
sequence also carries a time (seconds), which the transformer turns into a rotary
position, so different streams line up by time.
"""

from __future__ import annotations

import torch


def flatten_codes(codes: torch.Tensor, codebook_size: int, offset: int = 0) -> torch.Tensor:
    """`[B, K, T]` codes -> `[B, T * K]` ids (time-major, per-codebook offsets)."""
    b, k, t = codes.shape
    shift = offset + torch.arange(k, device=codes.device)[None, :, None] * codebook_size  # [1, K, 1]
    return (codes + shift).transpose(1, 2).reshape(b, t * k)


def unflatten_codes(ids: torch.Tensor, num_codebooks: int, codebook_size: int, offset: int = 0) -> torch.Tensor:
    """Inverse of `flatten_codes`: `[B, T * K]` ids -> `[B, K, T]` codes."""
    b, n = ids.shape
    if n % num_codebooks:
        raise ValueError(f"{n} ids is not a whole number of {num_codebooks}-codebook frames")
    codes = ids.reshape(b, n // num_codebooks, num_codebooks).transpose(1, 2)  # [B, K, T]
    shift = offset + torch.arange(num_codebooks, device=ids.device)[None, :, None] * codebook_size
    return codes - shift


def frame_times(num_frames: int, rate: float, device=None) -> torch.Tensor:
    """Seconds of frames 0..num_frames-1 at `rate` Hz -> `[num_frames]`."""
    return torch.arange(num_frames, device=device, dtype=torch.float32) / rate


def flat_times(num_frames: int, num_codebooks: int, rate: float, device=None) -> torch.Tensor:
    """Seconds of each flattened token (all codebooks of a frame share its time) -> `[T * K]`."""
    return frame_times(num_frames, rate, device).repeat_interleave(num_codebooks)


def flat_ranges(num_tokens: int, num_codebooks: int, codebook_size: int, offset: int = 0) -> torch.Tensor:
    """Allowed id range `[lo, hi)` of each of `num_tokens` flattened tokens (codebook 0 first) -> `[N, 2]`."""
    q = torch.arange(num_tokens) % num_codebooks
    lo = offset + q * codebook_size
    return torch.stack([lo, lo + codebook_size], dim=1)


def expand_frame_mask(mask: torch.Tensor, num_codebooks: int) -> torch.Tensor:
    """Frame mask `[B, T]` -> flattened token mask `[B, T * K]`."""
    return mask.repeat_interleave(num_codebooks, dim=1)


def common_grid(rates: list[float], limit: int = 10_000) -> float:
    """Smallest period (s) on which every rate has a whole number of frames (or 1/max rate)."""
    top = max(rates)
    for n in range(1, limit):
        p = n / top
        if all(abs(p * r - round(p * r)) < 1e-6 for r in rates):
            return p
    return 1.0 / top


def fit_frames(x: torch.Tensor, n: int) -> torch.Tensor:
    """Trim `[..., T]` to n frames, or pad by repeating the last frame (tokenizers round down by < 1 frame)."""
    t = x.shape[-1]
    if t >= n:
        return x[..., :n]
    if t == 0:
        raise ValueError("no frames to pad from")
    return torch.cat([x, x[..., -1:].expand(*x.shape[:-1], n - t)], dim=-1)
