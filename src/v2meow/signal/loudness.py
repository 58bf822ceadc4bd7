"""Output loudness: integrated loudness (ITU-R BS.1770), true peak, and normalisation to a target.

    out, info = normalize_loudness(wav, sample_rate)   # -14 LUFS, true peak <= -1 dBTP
    info.before, info.after, info.true_peak            # LUFS, LUFS, dBTP

- Integrated loudness: `pyloudnorm` (K-weighting, 400-ms blocks, -70 LUFS absolute and
  -10 LU relative gates of BS.1770-4). A clip shorter than one block is measured looped.
- True peak: BS.1770-4 annex 2, the largest magnitude of the signal oversampled 4x (a
  polyphase FIR interpolator, `scipy.signal.resample_poly`), in dB relative to full scale.
- Normalisation: one gain to the target, then, where the true peak would pass the ceiling,
  a look-ahead limiter: the gain each sample needs is spread (sliding minimum, then a moving
  average over the same window, which never exceeds the minimum it averages) so that it falls
  smoothly before a peak and recovers after it. The limiter costs loudness, so gain and
  limiter are repeated a few times; a last plain gain guarantees the ceiling. Near-silent
  audio (below the -70 LUFS gate) is returned unchanged.

The default target (-14 LUFS) is what the large streaming services play music at; -1 dBTP
leaves headroom for lossy encoders (AES TD1004, EBU R128 s1).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

TARGET_LUFS = -14.0
CEILING_DBTP = -1.0
GATE_LUFS = -70.0  # BS.1770's absolute gate: below it nothing is measured, so nothing is normalised
MIN_LUFS, MAX_LUFS = -70.0, 0.0  # accepted targets
_BLOCK = 0.4  # seconds, BS.1770 gating block


@dataclass
class LoudnessInfo:
    before: float  # LUFS (-inf: silence)
    after: float  # LUFS
    true_peak: float  # dBTP after
    gain_db: float  # overall gain applied (before limiting)
    limited: bool  # whether the limiter acted


def _channels_last(wav: np.ndarray) -> np.ndarray:
    x = np.asarray(wav, np.float64)
    return x[:, None] if x.ndim == 1 else x.T  # [N, C]


def integrated_loudness(wav: np.ndarray, sample_rate: int) -> float:
    """BS.1770-4 integrated loudness of `wav` (`[N]` or `[C, N]`) in LUFS; -inf for silence."""
    import pyloudnorm

    x = _channels_last(wav)  # [N, C]
    if x.shape[0] == 0 or not np.any(x):
        return -math.inf
    need = math.ceil(_BLOCK * sample_rate) + 1
    if x.shape[0] < need:  # shorter than one gating block: measure it looped
        x = np.tile(x, (math.ceil(need / x.shape[0]), 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # log10(0) of silent blocks
        value = float(pyloudnorm.Meter(sample_rate).integrated_loudness(x))
    return value if math.isfinite(value) else -math.inf


def true_peak(wav: np.ndarray, sample_rate: int | None = None, oversample: int = 4) -> float:
    """True peak of `wav` (`[N]` or `[C, N]`) in dBTP: the largest magnitude of the signal
    oversampled `oversample` times (BS.1770-4 annex 2), never below the sample peak; -inf for silence.
    `sample_rate` is accepted for symmetry (the 4x rule of BS.1770 applies below 176.4 kHz)."""
    peak = _true_peak_linear(np.asarray(wav, np.float64), oversample)
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf


def _true_peak_linear(x: np.ndarray, oversample: int = 4) -> float:
    if x.size == 0:
        return 0.0
    return float(max(np.max(np.abs(_oversampled(x, oversample))), np.max(np.abs(x))))


def _oversampled(x: np.ndarray, oversample: int) -> np.ndarray:
    from scipy.signal import resample_poly

    x2 = np.atleast_2d(x)  # [C, N]
    if x2.shape[-1] < 2:
        return x2
    return resample_poly(x2, oversample, 1, axis=-1)  # [C, N * oversample]


def _peak_envelope(x: np.ndarray, oversample: int) -> np.ndarray:
    """`[N]`: per sample, the largest oversampled magnitude over all channels within that sample's span."""
    x2 = np.atleast_2d(x)
    n = x2.shape[-1]
    up = np.abs(_oversampled(x2, oversample)).max(0)  # [N * oversample]
    up = np.pad(up, (0, max(0, n * oversample - up.size)))[: n * oversample].reshape(n, oversample).max(1)
    # the true peak between samples k and k + 1 belongs to both
    return np.maximum(np.maximum(up, np.abs(x2).max(0)), np.concatenate([up[1:], up[-1:]]))


def limit(x: np.ndarray, sample_rate: int, ceiling_db: float = CEILING_DBTP, lookahead: float = 0.005) -> np.ndarray:
    """`x` (`[N]` or `[C, N]`) with a smooth gain (<= 1) so that its true peak stays below `ceiling_db`.

    The gain each sample needs is spread over +-`lookahead` seconds: a sliding minimum, then a
    moving average of the same width, so the applied gain is at most the needed one everywhere.
    """
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    ceiling = 10.0 ** (ceiling_db / 20.0)
    env = _peak_envelope(x, 4)  # [N]
    need = np.minimum(1.0, ceiling / np.maximum(env, 1e-12))
    if need.min() >= 1.0:
        return x
    w = 2 * max(1, round(lookahead * sample_rate)) + 1
    gain = uniform_filter1d(minimum_filter1d(need, w, mode="nearest"), w, mode="nearest")
    return x * np.minimum(gain, need)


def normalize_loudness(
    wav: np.ndarray,
    sample_rate: int,
    target: float = TARGET_LUFS,
    ceiling_db: float = CEILING_DBTP,
    rounds: int = 4,
) -> tuple[np.ndarray, LoudnessInfo]:
    """`wav` (`[N]` or `[C, N]`, float) brought to `target` LUFS with its true peak <= `ceiling_db` dBTP.

    Returns:
        the new audio (float32, the input's shape) and a `LoudnessInfo`. Audio below the
        -70 LUFS gate (silence, near-silence) comes back unchanged, with `gain_db` 0.
    """
    x = np.nan_to_num(np.asarray(wav, np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    before = integrated_loudness(x, sample_rate)
    if not before > GATE_LUFS:
        tp = true_peak(x)
        return x.astype(np.float32), LoudnessInfo(before, before, tp, 0.0, False)
    gain_db, limited, y = target - before, False, x
    ceiling = 10.0 ** (ceiling_db / 20.0)
    for _ in range(rounds):
        y = x * 10.0 ** (gain_db / 20.0)
        if _true_peak_linear(y) > ceiling:
            y, limited = limit(y, sample_rate, ceiling_db - 0.05), True
        now = integrated_loudness(y, sample_rate)
        if not limited or not math.isfinite(now) or abs(target - now) < 0.05:
            break
        gain_db += min(target - now, 12.0)  # make up what the limiter took, within reason
    peak = _true_peak_linear(y)
    if peak > ceiling:  # the limiter's gain moves a little between samples: a last plain gain guarantees the ceiling
        y = y * (ceiling / peak) * (1.0 - 1e-6)
    after = integrated_loudness(y, sample_rate)
    return y.astype(np.float32), LoudnessInfo(before, after, true_peak(y), target - before, limited)
