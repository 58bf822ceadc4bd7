"""Token layout: codebooks flattened time-major with per-codebook offsets, as in AudioLM.

Codes `[B, K, T]` (K codebooks of size `codebook_size`, T frames) become one sequence

    [c(0,0), c(0,1), ..., c(0,K-1), c(1,0), ...]      # [B, T * K]

where token `c(t, q)` has id `offset + q * codebook_size + code`. Every position of a
sequence also carries a time (seconds), which the transformer turns into a rotary
position, so different streams line up by time.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass
class CodeLayout:
    """The token layout stages 2 and 3 share: `[prefix ; K codebooks flattened]`, one decoder sequence.

        ids      [x_0 .. x_{P-1}, c_0 .. c_{L-2}]     # [B, P + L - 1], L = T * K
        targets  [c_0 .. c_{L-1}]                       # predicted from position P - 1 on

    The prefix (stage 2: semantic tokens + SEP, or a BOS; stage 3: coarse codes + SEP) sits at
    its own times; its last id sits at the first code's time, every code at its frame's time.
    """

    prefix: torch.Tensor  # [B, P] ids (P >= 1)
    prefix_pos: torch.Tensor  # [B, P] ticks (the last one is not used: that input sits at the first code's time)
    prefix_mask: torch.Tensor | None  # [B, P] bool, or None (all real)
    codebook_size: int
    offset: int  # id of code 0 of codebook 0
    codec_rate: float  # frames per second
    ticks_per_second: float

    @property
    def ticks_per_frame(self) -> float:
        return self.ticks_per_second / self.codec_rate

    def training_inputs(self, codes: torch.Tensor, frame_mask: torch.Tensor | None = None) -> TeacherForced:
        """Teacher-forced decoder inputs for codes `[B, K, T]` (frame mask `[B, T]`)."""
        b, k, t = codes.shape
        flat = flatten_codes(codes, self.codebook_size, self.offset)  # [B, L]
        flat_pos = (flat_times(t, k, self.codec_rate, codes.device) * self.ticks_per_second).expand(b, -1)  # [B, L]
        ids = torch.cat([self.prefix, flat[:, :-1]], 1)  # [B, P + L - 1]
        pos = torch.cat([self.prefix_pos[:, :-1], flat_pos], 1)  # [B, P + L - 1]
        flat_mask = expand_frame_mask(frame_mask, k) if frame_mask is not None else None  # [B, L]
        key_mask = None
        if self.prefix_mask is not None or flat_mask is not None:
            pm = (
                self.prefix_mask
                if self.prefix_mask is not None
                else self.prefix.new_ones(self.prefix.shape, dtype=torch.bool)
            )
            fm = flat_mask if flat_mask is not None else flat.new_ones(flat.shape, dtype=torch.bool)
            key_mask = torch.cat([pm, fm[:, :-1]], 1)  # [B, P + L - 1]
        target_mask = flat_mask if flat_mask is not None else torch.ones_like(flat, dtype=torch.bool)
        return TeacherForced(ids, pos, key_mask, flat, target_mask, self.prefix.shape[1] - 1)


@dataclass
class TeacherForced:
    """What a training forward feeds the decoder, and where its targets are."""

    ids: torch.Tensor  # [B, N] decoder inputs
    pos: torch.Tensor  # [B, N] ticks
    key_mask: torch.Tensor | None  # [B, N] bool
    targets: torch.Tensor  # [B, L] ids
    target_mask: torch.Tensor  # [B, L] bool
    first_target: int  # logits[:, first_target:] predict the targets

    def target_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """`[B, N, V]` decoder logits -> `[B, L, V]` those of the targets."""
        return logits[:, self.first_target :]
