"""Small signal-processing helpers shared by the evaluation backbones and the beat tracker.

Everything runs in numpy on mono float audio; no weights and no librosa. The mel scale
is the HTK one (`2595 log10(1 + f / 700)`), which is also what VGGish's front end uses, and
`mel_filterbank` is the package's only mel filterbank (codecs, losses, the `mel` semantic
backbone, VGGish and the onset envelope all build theirs with it).
"""

from __future__ import annotations

import numpy as np


def hz_to_mel(freq: np.ndarray | float) -> np.ndarray:
    """HTK mel value of `freq` Hz (`2595 log10(1 + f / 700)`, i.e. `1127 ln(1 + f / 700)`)."""
    return 2595.0 * np.log10(1.0 + np.asarray(freq, dtype=np.float64) / 700.0)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    """Inverse of `hz_to_mel`."""
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(
    sample_rate: int,
    n_fft: int,
    n_mels: int,
    fmin: float = 0.0,
    fmax: float | None = None,
    *,
    triangles: str = "hz",
    norm: str | None = None,
) -> np.ndarray:
    """Triangular filters on the HTK mel scale over the bins of an `n_fft`-point real FFT: the one
    mel filterbank of the package.

    The `n_mels + 2` band edges are evenly spaced in mel between `fmin` and `fmax` (default
    Nyquist). Each filter rises from its lower to its centre edge and falls to its upper edge:
    - `triangles="hz"`: linearly in Hz (HTK, torchaudio `melscale_fbanks(mel_scale="htk")`,
      librosa `htk=True`); used by the codecs, their losses and the `mel` semantic backbone;
    - `triangles="mel"`: linearly in mel (VGGish's `mel_features.py`, whose front end FAD's
      VGGish and the onset envelope use); the DC bin gets no weight.
    `norm=None` gives every filter a peak of 1; `norm="slaney"` scales each to unit area
    (`2 / (upper - lower)` in Hz), as the `mel` semantic backbone does.

    Everything is computed in float64; cast the result as needed.

    Returns:
        `[n_fft // 2 + 1, n_mels]` float64.
    """
    fmax = sample_rate / 2 if fmax is None else fmax
    if not 0 <= fmin < fmax <= sample_rate / 2:
        raise ValueError(f"need 0 <= fmin < fmax <= {sample_rate / 2}, got fmin={fmin}, fmax={fmax}")
    if triangles not in ("hz", "mel") or norm not in (None, "slaney"):
        raise ValueError(f"triangles must be 'hz' or 'mel' and norm None or 'slaney', got {triangles!r}, {norm!r}")
    freqs = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)  # [n_bins]
    mel_edges = np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2)  # [n_mels + 2]
    hz_edges = mel_to_hz(mel_edges)
    if triangles == "hz":
        x, e = freqs, hz_edges
    else:  # VGGish's own arithmetic (1127 ln), so that its front end stays bit for bit

        def vggish_mel(f):
            return 1127.0 * np.log1p(np.asarray(f, dtype=np.float64) / 700.0)

        x, e = vggish_mel(freqs), np.linspace(vggish_mel(fmin), vggish_mel(fmax), n_mels + 2)
    lower, centre, upper = e[:-2, None], e[1:-1, None], e[2:, None]  # [n_mels, 1] each
    rising = (x[None] - lower) / (centre - lower)  # [n_mels, n_bins]
    falling = (upper - x[None]) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    if triangles == "mel":
        weights[:, 0] = 0.0
    if norm == "slaney":
        weights *= 2.0 / (hz_edges[2:, None] - hz_edges[:-2, None])
    return weights.T


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
    return np.log(spec @ mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax, triangles="mel") + log_offset)


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
