"""What the visualizer follows in a clip: onsets, tempo, beats, timbre and loudness (numpy only).

- onset strength: positive spectral flux of a 40-band log-frequency power spectrogram
  (dB, 80-dB floor) at 100 frames per second, scaled so that its 99th percentile is 1;
- onsets: local maxima of that envelope standing `delta` above its local mean;
- tempo: the envelope's autocorrelation peak between 60 and 200 BPM under a log-normal
  prior around 120 BPM (against octave errors);
- beats: dynamic programming over the envelope (Ellis 2007): each beat maximises the
  onset strength plus a penalty on the log-ratio of its gap to the tempo's period;
- timbre: spectral centroid and low/mid/high band shares; loudness in a 60-dB range.

Onset and beat times are moved half an analysis window later: a centred window sees
a sound that much before it starts, so the raw flux peaks early.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

ENV_RATE = 100.0  # analysis frames per second
_BAND_EDGES = (250.0, 2000.0)  # Hz: low | mid | high


@dataclass
class MusicAnalysis:
    """Per-frame descriptors of a clip at `rate` frames per second, plus its events."""

    rate: float
    duration: float  # seconds
    envelope: np.ndarray  # [F] onset strength, ~0..1 (99th percentile = 1)
    onsets: np.ndarray  # [K] seconds
    strengths: np.ndarray  # [K] 0..1 onset salience
    tempo: float | None  # BPM
    beats: np.ndarray  # [B] seconds
    centroid: np.ndarray  # [F] spectral centroid, Hz
    bands: np.ndarray  # [F, 3] share of power in low/mid/high bands (rows sum to 1)
    loudness: np.ndarray  # [F] 0..1 (0 = 60 dB below the clip's loudest frame)


def power_spectrogram(x: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Centred Hann STFT power of `x [N]`: `(power [F, bins], freqs [bins], frame rate)`."""
    hop = max(1, round(sample_rate / ENV_RATE))
    n_fft = 1 << math.ceil(math.log2(0.046 * sample_rate))  # ~46 ms window
    x = np.asarray(x, np.float64)
    pad = np.pad(x, (n_fft // 2, n_fft // 2 + hop), mode="reflect" if x.size > n_fft else "constant")
    frames = sliding_window_view(pad, n_fft)[::hop][: len(x) // hop + 1]  # [F, n_fft]
    window = np.hanning(n_fft + 1)[:-1]
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2  # [F, n_fft/2+1]
    return power, np.fft.rfftfreq(n_fft, 1.0 / sample_rate), sample_rate / hop


def _latency(sample_rate: int) -> float:
    """Seconds by which centred-window flux peaks precede the sound (half a window, roughly)."""
    return 0.5 * (1 << math.ceil(math.log2(0.046 * sample_rate))) / sample_rate


def log_bands(freqs: np.ndarray, n_bands: int = 40, fmin: float = 30.0, fmax: float = 11000.0) -> np.ndarray:
    """Triangular filters evenly spaced in log-frequency, `[bins, n_bands]`."""
    fmax = min(fmax, float(freqs[-1]))
    centres = np.geomspace(fmin, fmax, n_bands + 2)
    lo, mid, hi = centres[:-2, None], centres[1:-1, None], centres[2:, None]  # [n_bands, 1]
    f = freqs[None, :]
    tri = np.maximum(0.0, np.minimum((f - lo) / (mid - lo), (hi - f) / (hi - mid)))  # [n_bands, bins]
    return tri.T


def onset_envelope(power: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    """Positive log-band spectral flux `[F]` (first frame 0), scaled so its 99th percentile is 1."""
    bands = power @ log_bands(freqs)  # [F, 40]
    db = 10.0 * np.log10(bands + 1e-12)
    db = np.maximum(db, db.max() - 80.0)
    flux = np.concatenate([[0.0], np.maximum(0.0, np.diff(db, axis=0)).mean(1)])  # [F]
    scale = np.percentile(flux, 99) if flux.size else 0.0
    return flux / scale if scale > 1e-9 else np.zeros_like(flux)


def _moving(x: np.ndarray, radius: int, fn) -> np.ndarray:
    """`fn` (np.max or np.mean) over a centred window of `2 * radius + 1` frames, edge-padded."""
    return fn(sliding_window_view(np.pad(x, radius, mode="edge"), 2 * radius + 1), axis=1)


def pick_onsets(env: np.ndarray, rate: float, delta: float = 0.15, wait: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Onset frames of `env` and their strengths in 0..1.

    A frame is an onset when it is the maximum within +-50 ms, exceeds the mean
    within +-250 ms by `delta`, and comes `wait` seconds after the previous one.
    """
    if env.size < 3:
        return np.zeros(0, np.int64), np.zeros(0)
    rise = env - _moving(env, round(0.25 * rate), np.mean)
    cand = np.flatnonzero((env >= _moving(env, round(0.05 * rate), np.max)) & (rise > delta))
    keep, last = [], -np.inf
    for k in cand:
        if k - last >= wait * rate:
            keep.append(k)
            last = k
    keep = np.asarray(keep, np.int64)
    return keep, np.clip(rise[keep], 0.0, 1.0)


def estimate_tempo(env: np.ndarray, rate: float, lo_bpm: float = 60.0, hi_bpm: float = 200.0) -> float | None:
    """Tempo (BPM) from the autocorrelation of `env`, or None if it has no periodicity."""
    x = env - env.mean()
    n = x.size
    lo, hi = math.floor(rate * 60 / hi_bpm), min(math.ceil(rate * 60 / lo_bpm), n - 2)
    if hi <= lo + 1 or float(x @ x) <= 1e-12:
        return None
    spec = np.fft.rfft(x, 2 * n)
    ac = np.fft.irfft(spec * np.conj(spec))[:n] / float(x @ x)  # [n], ac[0] = 1
    lags = np.arange(lo, hi + 1)
    peak = (ac[lags] > ac[lags - 1]) & (ac[lags] >= ac[lags + 1]) & (ac[lags] > 0.05)
    if not peak.any():
        return None
    prior = np.exp(-0.5 * np.log2(rate * 60 / lags / 120.0) ** 2)
    k = int(lags[np.argmax(np.where(peak, ac[lags] * prior, -np.inf))])
    a, b, c = ac[k - 1], ac[k], ac[k + 1]  # parabolic refinement of the lag
    shift = 0.5 * (a - c) / (a - 2 * b + c) if abs(a - 2 * b + c) > 1e-12 else 0.0
    return 60.0 * rate / (k + float(np.clip(shift, -0.5, 0.5)))


def track_beats(env: np.ndarray, rate: float, bpm: float, tightness: float = 100.0) -> np.ndarray:
    """Beat frames by dynamic programming (Ellis 2007) on `env` at tempo `bpm`."""
    period = rate * 60.0 / bpm
    n = env.size
    if n < 2 or period < 1 or n < period:
        return np.zeros(0, np.int64)
    sigma = period / 32
    g = np.exp(-0.5 * (np.arange(-round(4 * sigma), round(4 * sigma) + 1) / max(sigma, 1e-3)) ** 2)
    local = np.convolve(env / (env.std() + 1e-9), g / g.sum(), mode="same")  # [F]
    score, back = local.copy(), np.full(n, -1)
    offsets = np.arange(round(period / 2), round(2 * period) + 1)  # gap to the previous beat, frames
    penalty = -tightness * np.log(offsets / period) ** 2
    for t in range(offsets[0], n):
        prev = t - offsets
        ok = prev >= 0
        v = score[prev[ok]] + penalty[ok]
        j = int(np.argmax(v))
        if v[j] > 0:
            score[t] += v[j]
            back[t] = prev[ok][j]
    tail = np.arange(max(0, n - round(period)), n)
    t = int(tail[np.argmax(score[tail])])
    beats = []
    while t >= 0:
        beats.append(t)
        t = int(back[t])
    return np.asarray(beats[::-1], np.int64)


def analyze(wav: np.ndarray, sample_rate: int) -> MusicAnalysis:
    """Analyse mono audio `wav [N]` (float) at `sample_rate`."""
    x = np.asarray(wav, np.float64).reshape(-1)
    power, freqs, rate = power_spectrogram(x, sample_rate)  # [F, bins]
    env = onset_envelope(power, freqs)  # [F]
    onset_frames, strengths = pick_onsets(env, rate)
    tempo = estimate_tempo(env, rate)
    beat_frames = track_beats(env, rate, tempo) if tempo else np.zeros(0, np.int64)
    total = power.sum(1) + 1e-12  # [F]
    centroid = (power @ freqs) / total
    edges = np.searchsorted(freqs, _BAND_EDGES)
    bands = np.stack([power[:, : edges[0]].sum(1), power[:, edges[0] : edges[1]].sum(1), power[:, edges[1] :].sum(1)], 1)
    bands = bands / bands.sum(1, keepdims=True).clip(1e-12)  # [F, 3]
    db = 10.0 * np.log10(total)
    lag = _latency(sample_rate)
    loudness = np.clip((db - (db.max() - 60.0)) / 60.0, 0.0, 1.0)
    return MusicAnalysis(
        rate=rate, duration=x.size / sample_rate, envelope=env, onsets=onset_frames / rate + lag,
        strengths=strengths, tempo=tempo, beats=beat_frames / rate + lag, centroid=centroid, bands=bands, loudness=loudness,
    )  # fmt: skip
