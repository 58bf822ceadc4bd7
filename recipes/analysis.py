"""What the visualizer follows in a clip: onsets, tempo, beats, timbre and loudness (numpy only).

Onsets, tempo and beats come from `v2meow.signal.rhythm`, the detector the data preparation
and the evaluation use (log-mel spectral flux at 100 frames per second; peaks above the local
mean; autocorrelation tempo; dynamic-programming beats). Here the envelope is scaled so that
its 99th percentile is 1, and each onset gets a salience in 0..1. Timbre (spectral centroid,
low/mid/high band shares) and loudness (a 60-dB range) come from a Hann STFT at the same rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from v2meow.signal.dsp import sliding_mean
from v2meow.signal.rhythm import ENVELOPE_RATE, estimate_tempo, onset_envelope, pick_peaks, track_beats

ENV_RATE = ENVELOPE_RATE  # analysis frames per second
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


def analyze(wav: np.ndarray, sample_rate: int, delta: float = 0.1) -> MusicAnalysis:
    """Analyse mono audio `wav [N]` (float) at `sample_rate`; `delta`: onset threshold above the local mean."""
    x = np.asarray(wav, np.float64).reshape(-1)
    flux = onset_envelope(x.astype(np.float32), sample_rate)  # [F] at ENV_RATE
    scale = np.percentile(flux, 99) if flux.size else 0.0
    env = flux / scale if scale > 1e-9 else np.zeros_like(flux)
    onset_frames = pick_peaks(
        env, ENV_RATE, pre_max=0.05, post_max=0.05, pre_avg=0.25, post_avg=0.25, delta=delta, wait=0.1
    )
    r = round(0.25 * ENV_RATE)
    strengths = np.clip((env - sliding_mean(env, r, r))[onset_frames], 0.0, 1.0)
    tempo = estimate_tempo(env, ENV_RATE, min_bpm=60.0, max_bpm=200.0)
    beat_frames = track_beats(env, ENV_RATE, tempo) if tempo else np.zeros(0, np.int64)
    power, freqs, _ = power_spectrogram(x, sample_rate)  # [F', bins]
    n = min(len(env), len(power))
    power, env = power[:n], env[:n]
    total = power.sum(1) + 1e-12  # [F]
    centroid = (power @ freqs) / total
    edges = np.searchsorted(freqs, _BAND_EDGES)
    bands = np.stack(
        [power[:, : edges[0]].sum(1), power[:, edges[0] : edges[1]].sum(1), power[:, edges[1] :].sum(1)], 1
    )
    bands = bands / bands.sum(1, keepdims=True).clip(1e-12)  # [F, 3]
    db = 10.0 * np.log10(total)
    loudness = np.clip((db - (db.max() - 60.0)) / 60.0, 0.0, 1.0)
    return MusicAnalysis(
        rate=ENV_RATE,
        duration=x.size / sample_rate,
        envelope=env,
        onsets=onset_frames / ENV_RATE,
        strengths=strengths,
        tempo=tempo,
        beats=beat_frames / ENV_RATE,
        centroid=centroid,
        bands=bands,
        loudness=loudness,
    )
