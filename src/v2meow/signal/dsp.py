"""Small signal-processing helpers shared by the evaluation backbones and the beat tracker.

Everything runs in numpy on mono float audio; no weights and no librosa. The mel scale
is the HTK one (`1127 ln(1 + f / 700)`), which is also what VGGish's front end uses.
"""

from __future__ import annotations

import numpy as np


def hz_to_mel(freq: np.ndarray | float) -> np.ndarray:
    """HTK mel value of `freq` Hz."""
    return 1127.0 * np.log1p(np.asarray(freq, dtype=np.float64) / 700.0)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """Triangular mel filters over the bins of an `n_fft`-point real FFT.

    Each filter rises from its lower to its centre edge and falls to its upper edge,
    the edges being evenly spaced on the mel scale between `fmin` and `fmax`; the peak
    weight is 1 (no area normalisation) and the DC bin gets no weight.

    Returns:
        `[n_bins, n_mels]` float64 with `n_bins = n_fft // 2 + 1`.
    """
    if not 0 <= fmin < fmax <= sample_rate / 2:
        raise ValueError(f"need 0 <= fmin < fmax <= {sample_rate / 2}, got fmin={fmin}, fmax={fmax}")
    bin_mel = hz_to_mel(np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1))  # [n_bins]
    edges = np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2)  # [n_mels + 2]
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]  # each [n_mels]
    rising = (bin_mel[:, None] - lower) / (centre - lower)  # [n_bins, n_mels]
    falling = (upper - bin_mel[:, None]) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights[0] = 0.0
    return weights


def periodic_hann(length: int) -> np.ndarray:
    """The periodic Hann window (the one FFT-based spectrograms use), `[length]`."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(length) / length)


def frame_signal(wav: np.ndarray, frame_length: int, hop: int, center: bool = False) -> np.ndarray:
    """Cut `wav [N]` into overlapping frames `[F, frame_length]` (a strided view when possible).

    With `center`, the signal is extended by `frame_length // 2` samples at both ends
    (mirrored, so that its edges do not look like a sound starting) and frame `k` is
    centred on sample `k * hop`. A signal shorter than one frame is zero-padded to one.
    """
    wav = np.asarray(wav, dtype=np.float64)
    if center:
        half = frame_length // 2
        wav = np.pad(wav, half, mode="reflect" if wav.shape[0] > half else "constant")
    if wav.shape[0] < frame_length:
        wav = np.pad(wav, (0, frame_length - wav.shape[0]))
    n_frames = 1 + (wav.shape[0] - frame_length) // hop
    return np.lib.stride_tricks.sliding_window_view(wav, frame_length)[::hop][:n_frames]


def magnitude_spectrogram(
    wav: np.ndarray, n_fft: int, hop: int, win_length: int | None = None, center: bool = False
) -> np.ndarray:
    """|STFT| of `wav [N]` with a periodic Hann window of `win_length` (default `n_fft`).

    Frames are `win_length` samples long, windowed, and zero-padded to `n_fft` before
    the FFT. Returns `[F, n_fft // 2 + 1]` float64.
    """
    win_length = n_fft if win_length is None else win_length
    if win_length > n_fft:
        raise ValueError(f"win_length ({win_length}) must be <= n_fft ({n_fft})")
    frames = frame_signal(wav, win_length, hop, center=center) * periodic_hann(win_length)  # [F, win]
    return np.abs(np.fft.rfft(frames, n=n_fft, axis=-1))


def log_mel_spectrogram(
    wav: np.ndarray,
    sample_rate: int,
    n_fft: int,
    hop: int,
    n_mels: int,
    fmin: float,
    fmax: float,
    win_length: int | None = None,
    power: float = 1.0,
    log_offset: float = 1e-6,
    center: bool = False,
) -> np.ndarray:
    """`log(mel(|STFT| ** power) + log_offset)` of `wav [N]`; returns `[F, n_mels]` float64."""
    spec = magnitude_spectrogram(wav, n_fft, hop, win_length, center=center) ** power  # [F, n_bins]
    return np.log(spec @ mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax) + log_offset)


def sliding_max(x: np.ndarray, before: int, after: int) -> np.ndarray:
    """`out[t] = max(x[t - before : t + after + 1])`, clipped at the ends; `x` is `[T]`."""
    padded = np.pad(np.asarray(x, dtype=np.float64), (before, after), mode="constant", constant_values=-np.inf)
    return np.lib.stride_tricks.sliding_window_view(padded, before + after + 1).max(-1)


def sliding_mean(x: np.ndarray, before: int, after: int) -> np.ndarray:
    """`out[t] = mean(x[t - before : t + after + 1])` over the part of the window inside `x`."""
    x = np.asarray(x, dtype=np.float64)
    csum = np.concatenate([[0.0], np.cumsum(x)])  # [T + 1]
    idx = np.arange(x.shape[0])
    lo = np.clip(idx - before, 0, x.shape[0])
    hi = np.clip(idx + after + 1, 0, x.shape[0])
    return (csum[hi] - csum[lo]) / np.maximum(hi - lo, 1)


def parabolic_peak(y: np.ndarray, k: int) -> float:
    """Sub-sample position of the peak of `y` near index `k` (vertex of the parabola through k-1, k, k+1)."""
    if k <= 0 or k >= len(y) - 1:
        return float(k)
    a, b, c = y[k - 1], y[k], y[k + 1]
    denom = a - 2.0 * b + c
    if denom >= 0:  # not a strict local maximum: no curvature to fit
        return float(k)
    return float(k + 0.5 * (a - c) / denom)
