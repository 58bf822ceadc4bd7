"""Phase reconstruction from a magnitude spectrogram: fast Griffin-Lim (Perraudin et al. 2013).

Used by the weight-free codec reference (`evaluation.codec_quality.mel_griffin_lim`), by
the mel codec's `inversion: griffin_lim` decoder (`tokenizers.acoustic.vocos`), and after PGHI
(`signal.pghi`, `inversion: pghi`), started from its phase.
"""

from __future__ import annotations

import math

import torch


def griffin_lim(
    mag: torch.Tensor,
    n_fft: int,
    hop: int,
    length: int,
    iters: int = 32,
    momentum: float = 0.99,
    seed: int = 0,
    phase: torch.Tensor | None = None,
) -> torch.Tensor:
    """`mag` `[..., F, T]` (F = n_fft // 2 + 1, centred Hann frames) -> waveform `[..., length]`.

    The initial phase is `phase` (`[..., F, T]`, e.g. from `signal.pghi`) or else uniform noise
    from a generator seeded with `seed`, so the result is deterministic; `iters = 0` returns
    the signal of that initial phase.
    """
    if mag.shape[-2] != n_fft // 2 + 1:
        raise ValueError(f"magnitude has {mag.shape[-2]} bins, n_fft {n_fft} needs {n_fft // 2 + 1}")
    lead = mag.shape[:-2]
    mag = mag.reshape(-1, *mag.shape[-2:])  # [B, F, T]
    window = torch.hann_window(n_fft, dtype=mag.dtype, device=mag.device)
    g = torch.Generator().manual_seed(seed)
    if phase is None:  # exactly as before `phase` existed: decoded bundles do not change
        angles = torch.exp(2j * math.pi * torch.rand(mag.shape, generator=g, dtype=mag.dtype)).to(mag.device)
    else:
        angles = torch.polar(torch.ones_like(mag), phase.reshape(mag.shape).to(mag))  # [B, F, T]
    prev = torch.zeros_like(angles)
    for _ in range(iters):
        y = torch.istft(mag * angles, n_fft, hop, window=window, center=True, length=length)  # [B, length]
        rebuilt = torch.stft(y, n_fft, hop, window=window, center=True, return_complex=True)  # [B, F, T]
        angles = rebuilt - (momentum / (1.0 + momentum)) * prev
        prev = rebuilt
        angles = angles / angles.abs().clamp(min=1e-16)
    wav = torch.istft(mag * angles, n_fft, hop, window=window, center=True, length=length)  # [B, length]
    return wav.reshape(*lead, length)
