"""Pitch-preserving time-stretch: a phase vocoder with identity phase locking, on torch.stft/istft.

    y = time_stretch(wav, sample_rate, 1.25)   # [C, N] -> [C, round(N / 1.25)]: 1.25x as fast, same pitch

A factor `rate` r means the music plays r times as fast: `d` seconds become `d / r`.
Tempo augmentation in `v2meow-prepare --stretch` uses it, so that a model cannot read
tempo from a track's identity.

How. The short-time spectrum is read at fractional analysis frames `j * r` (output frame
`j`): magnitudes are interpolated linearly between the two neighbouring analysis frames,
and phases are rebuilt so that every partial keeps its own frequency. A spectral peak's
phase advances by its instantaneous frequency (the analysis phase difference of its bin
between two frames, unwrapped around the bin's centre frequency) times the hop; every
other bin keeps the phase offset it had from its nearest peak in the analysis frame
(identity phase locking, Laroche and Dolson 1999), which keeps the bins of one partial
coherent and avoids most of the plain phase vocoder's "phasiness".

The window is about 46 ms (a power of two in samples) with a hop of a quarter of it; the
output is synthesised by `torch.istft` (weighted overlap-add), so a factor of 1 gives
the input back up to rounding.
"""

from __future__ import annotations

import math

import torch

from v2meow.errors import ConfigError

WINDOW_SECONDS = 0.046  # analysis window, rounded to a power of two in samples
OVERLAP = 4  # window / hop
MIN_RATE, MAX_RATE = 0.25, 4.0  # factors the function accepts (prepare allows a narrower range)


def frame_size(sample_rate: int) -> int:
    """FFT size for `sample_rate`: the power of two nearest to `WINDOW_SECONDS` (at least 64)."""
    return max(64, 2 ** round(math.log2(WINDOW_SECONDS * sample_rate)))


def time_stretch(wav: torch.Tensor, sample_rate: int, rate: float, n_fft: int | None = None) -> torch.Tensor:
    """Play `wav` `rate` times as fast without changing its pitch.

    Args:
        wav: `[C, N]` or `[N]` float audio.
        sample_rate: its rate (sets the window size when `n_fft` is None).
        rate: speed factor, in [0.25, 4]; 1 returns the input unchanged.
        n_fft: FFT size (default: `frame_size(sample_rate)`); the hop is a quarter of it.

    Returns:
        The same shape with `round(N / rate)` samples along the last dimension (float32).
    """
    if not (math.isfinite(rate) and MIN_RATE <= rate <= MAX_RATE):
        raise ConfigError(f"time-stretch factor must be in [{MIN_RATE:g}, {MAX_RATE:g}], got {rate}")
    squeeze = wav.dim() == 1
    x = wav.float()[None] if squeeze else wav.float()  # [C, N]
    n_out = round(x.shape[-1] / rate)
    if rate == 1.0 or x.shape[-1] == 0:
        y = x.clone()
    else:
        n_fft = n_fft or frame_size(sample_rate)
        hop = n_fft // OVERLAP
        window = torch.hann_window(n_fft, dtype=torch.float32, device=x.device)
        spec = torch.stft(x, n_fft, hop, window=window, center=True, return_complex=True)  # [C, F, T]
        out = _stretch_spectrum(spec, rate, hop, n_fft)  # [C, F, T']
        y = torch.istft(out, n_fft, hop, window=window, center=True, length=n_out)  # [C, n_out]
    return y[0] if squeeze else y


def _stretch_spectrum(spec: torch.Tensor, rate: float, hop: int, n_fft: int) -> torch.Tensor:
    """Phase-vocoded spectrogram `[C, F, ceil(T / rate)]` of `spec` `[C, F, T]` read at frames `j * rate`."""
    c, f, t = spec.shape
    spec = torch.cat([spec, torch.zeros_like(spec[..., :1])], dim=-1)  # [C, F, T + 1]: a silent frame past the end
    mag = spec.abs()  # [C, F, T + 1]
    phase = spec.angle().double()  # [C, F, T + 1]
    # expected phase advance per hop of each bin's centre frequency, and each bin's deviation from it
    omega = 2 * math.pi * hop * torch.arange(f, dtype=torch.float64) / n_fft  # [F]
    dev = phase[..., 1:] - phase[..., :-1] - omega[:, None]  # [C, F, T]
    advance = omega[:, None] + torch.remainder(dev + math.pi, 2 * math.pi) - math.pi  # [C, F, T] true advance per hop

    steps = torch.arange(0, t, rate, dtype=torch.float64)  # [T'] analysis position of each output frame
    lo = steps.floor().long()  # [T']
    frac = (steps - lo).float()  # [T']
    mags = mag[..., lo] * (1 - frac) + mag[..., lo + 1] * frac  # [C, F, T']
    bins = torch.arange(f)
    out_phase = torch.empty(c, f, steps.shape[0], dtype=torch.float64)
    acc = phase[..., 0]  # [C, F] synthesis phase of the previous output frame
    for j in range(steps.shape[0]):
        i = int(lo[j])
        cur = acc if j == 0 else acc + advance[..., i]  # [C, F] every bin advanced by its own frequency
        near = _nearest_peak(mags[..., j], bins)  # [C, F] index of each bin's peak
        locked = cur.gather(1, near) + phase[..., i] - phase[..., i].gather(1, near)  # [C, F]
        acc = torch.remainder(locked, 2 * math.pi)
        out_phase[..., j] = acc
    return torch.polar(mags, out_phase.float())


def _nearest_peak(mag: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    """For each bin of `mag` `[C, F]`, the index of the nearest local maximum (the bin itself if none)."""
    left = torch.cat([mag[:, :1], mag[:, :-1]], 1)
    right = torch.cat([mag[:, 1:], mag[:, -1:]], 1)
    peak = (mag >= left) & (mag > right) & (mag > 0)  # [C, F]
    f = mag.shape[1]
    idx = bins.expand_as(mag)
    prev = torch.where(peak, idx, torch.full_like(idx, -1)).cummax(1).values  # [C, F] last peak at or before
    nxt = torch.where(peak, idx, torch.full_like(idx, f)).flip(1).cummin(1).values.flip(1)  # first peak at or after
    use_next = (prev < 0) | ((nxt < f) & (nxt - idx < idx - prev))
    near = torch.where(use_next, nxt, prev)
    return torch.where((near < 0) | (near >= f), idx, near)


def stretch_frames(x: torch.Tensor, rate: float, num_frames: int) -> torch.Tensor:
    """A frame sequence `x` `[T, D]` of a clip, resampled for the clip played `rate` times as fast.

    Frame i of the result sits at time `i / fps` of the stretched clip, which is time
    `i * rate / fps` of the original: it is interpolated linearly between the original
    frames `floor(i * rate)` and the next (the last frame holds past the end).

    Returns:
        `[num_frames, D]` in `x`'s dtype.
    """
    t = x.shape[0]
    if t == 0:
        return x.new_zeros(num_frames, *x.shape[1:])
    pos = (torch.arange(num_frames, dtype=torch.float64) * rate).clamp(max=t - 1)  # [num_frames] original frame index
    lo = pos.floor().long()
    hi = (lo + 1).clamp(max=t - 1)
    w = (pos - lo).to(torch.float32)[:, None]  # [num_frames, 1]
    y = x[lo].float() * (1 - w) + x[hi].float() * w  # [num_frames, D]
    return y.to(x.dtype)
