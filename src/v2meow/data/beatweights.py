"""VMAs video-beat alignment weights (VMAs section 4.4, Eq. 3), computed once by `v2meow-prepare`.

Per semantic token step i (at `i / rate` seconds):

    P_a[i] = 1 if a music onset falls on step i             (onsets of the clip's own audio)
    P_v[i] = 1 if a video beat falls on step i              (local maxima of motion within +-delta)
    w[i]   = 1 if P_v[i] and any P_a[i - d .. i + d], else alpha      (d = delta in steps)

The weights multiply the token cross-entropy (Eq. 4): the moments where the music hits
a visual beat count fully, every other step counts `alpha`. Onsets and video beats come
from `v2meow.signal.rhythm`, the same detectors the beat-alignment metric uses, so
training emphasises what evaluation measures.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from v2meow.signal.dsp import sliding_max
from v2meow.signal.rhythm import (
    ENVELOPE_RATE,
    MotionEnergy,
    onset_envelope,
    pick_peaks,
    video_beats,
)

DEFAULT_ALPHA = 0.05  # VMAs' alpha
DEFAULT_DELTA = 0.2  # seconds; the video-beat window of the beat-alignment metric
MOTION_RATE = 10.0  # Hz of the motion energy used for video beats (the metric's rate)


def _steps(times: np.ndarray, num_steps: int, rate: float) -> np.ndarray:
    """Bool `[num_steps]`: True at the step nearest each time (times outside are dropped)."""
    out = np.zeros(num_steps, dtype=bool)
    idx = np.floor(np.asarray(times, np.float64) * rate + 0.5).astype(np.int64)
    out[idx[(idx >= 0) & (idx < num_steps)]] = True
    return out


def beat_weight_mask(
    onset_times: np.ndarray,
    video_beat_times: np.ndarray,
    num_steps: int,
    rate: float,
    alpha: float = DEFAULT_ALPHA,
    delta: float = DEFAULT_DELTA,
) -> np.ndarray:
    """Eq. 3 from event times: `[num_steps]` float32, 1 where a video beat has an onset within +-delta, else alpha.

    Args:
        onset_times, video_beat_times: seconds (any order).
        num_steps: token steps of the clip; step i sits at `i / rate` seconds.
        rate: token rate (Hz).
        alpha: weight of every other step.
        delta: coincidence window, seconds (rounded to whole steps).
    """
    p_a = _steps(onset_times, num_steps, rate).astype(np.float64)
    p_v = _steps(video_beat_times, num_steps, rate)
    d = max(0, math.floor(delta * rate + 0.5))
    near_onset = sliding_max(p_a, d, d) > 0 if num_steps else np.zeros(0, dtype=bool)
    return np.where(p_v & near_onset, 1.0, alpha).astype(np.float32)


def beat_weights(
    onset_times: np.ndarray,
    motion: np.ndarray,
    motion_rate: float,
    num_steps: int,
    rate: float,
    alpha: float = DEFAULT_ALPHA,
    delta: float = DEFAULT_DELTA,
    motion_lag: float = 0.0,
) -> np.ndarray:
    """Eq. 3 from onsets and a motion-magnitude sequence -> `[num_steps]` float32.

    Video beats are the steps of `motion` `[T_m]` (at `motion_rate` Hz, step k covering
    `[k, k + 1) / motion_rate`, lagging the picture by `motion_lag` s) that are the
    largest within +-`delta` seconds (`signal.rhythm.video_beats`, which also needs a
    beat to stand above its window's mean and 10 % of the clip's range, so flat or still
    stretches have none).
    """
    beats = video_beats(np.asarray(motion, np.float64), motion_rate, window=delta, lag=motion_lag)
    return beat_weight_mask(onset_times, beats, num_steps, rate, alpha, delta)


def clip_beat_weights(
    wav: torch.Tensor,  # [C, N] the clip's audio
    sample_rate: int,
    motion: MotionEnergy | None,
    num_steps: int,
    rate: float,
    alpha: float = DEFAULT_ALPHA,
    delta: float = DEFAULT_DELTA,
) -> torch.Tensor:
    """Beat weights `[num_steps]` of one clip; all `alpha` without video (no video beats)."""
    if motion is None:
        return torch.full((num_steps,), float(alpha))
    mono = wav.float().mean(0).cpu().numpy()  # [N]
    onsets = pick_peaks(onset_envelope(mono, sample_rate), ENVELOPE_RATE) / ENVELOPE_RATE
    w = beat_weights(onsets, motion.energy, motion.rate, num_steps, rate, alpha, delta, motion.lag)
    return torch.from_numpy(w)


def weights_at_rate(weights: torch.Tensor, src_rate: float, dst_rate: float, num_frames: int) -> torch.Tensor:
    """Resample per-step weights `[T_s]` to `num_frames` frames at `dst_rate` by nearest time -> `[num_frames]`.

    Frame j (at `j / dst_rate` s) takes the weight of the step nearest in time, so a
    coarse frame inherits the beat weight of the semantic token it sounds with.
    """
    if weights.shape[0] == 0:
        return weights.new_zeros(num_frames)
    idx = torch.floor(torch.arange(num_frames, dtype=torch.float64) * src_rate / dst_rate + 0.5).long()
    return weights[idx.clamp(0, weights.shape[0] - 1)]
