"""How well music onsets line up with video beats, and tempo agreement (VMAs' MV-Align idea).

The onsets, beats and tempi come from `v2meow.signal.rhythm` (re-exported here).

Alignment of one clip (`beat_scores`):
- `beat_alignment`: mean over video beats of exp(-d^2 / 2 sigma^2), d the distance to
  the nearest music onset (AIST++'s beat-align score, which MV-Align follows);
- `beat_hit_rate`: share of video beats with an onset within +-tolerance (VMAs eq. 3);
- `beat_f1`: one-to-one matches within +-tolerance, which also punishes onsets that no
  video beat explains (a dense onset train hits every video beat but scores a low F1).
"""

from __future__ import annotations

import math
import os

import numpy as np

from v2meow.signal.rhythm import (  # noqa: F401  (re-exported: the evaluation's public names)
    ANALYSIS_RATE,
    ENVELOPE_RATE,
    MotionEnergy,
    Rhythm,
    estimate_tempo,
    music_rhythm,
    onset_envelope,
    pick_peaks,
    video_beats,
    video_rhythm,
)


def video_motion(path: str | os.PathLike, rate: float = 10.0, max_seconds: float | None = None) -> MotionEnergy:
    """Motion energy of a video at `rate` Hz: the `motion` extractor's `motion_mean` column."""
    from v2meow.features.motion import MOTION_FEATURES
    from v2meow.features.registry import build_extractor
    from v2meow.features.video import extract_video

    extractor = build_extractor("motion", rate=rate)
    feats = extract_video(extractor, path, duration=max_seconds)
    energy = feats.features[:, MOTION_FEATURES.index("motion_mean")].double().numpy()  # [T]
    return MotionEnergy(energy=energy, rate=float(rate), frame_rate=float(extractor.frame_rate))


def beat_scores(video: Rhythm, music: Rhythm, tolerance: float = 0.1, sigma: float = 0.1) -> dict[str, float]:
    """Alignment of music onsets with video beats over the time both cover.

    Returns:
        `beat_alignment`, `beat_hit_rate`, `beat_f1` (NaN when the video has no beat).
    """
    end = min(video.duration, music.duration)
    v, m = video.times[video.times < end], music.times[music.times < end]
    if v.size == 0:
        return {"beat_alignment": math.nan, "beat_hit_rate": math.nan, "beat_f1": math.nan}
    if m.size == 0:
        return {"beat_alignment": 0.0, "beat_hit_rate": 0.0, "beat_f1": 0.0}
    d = _nearest_distance(v, m)  # [K]
    matches = _count_matches(v, m, tolerance)
    return {
        "beat_alignment": float(np.mean(np.exp(-(d**2) / (2.0 * sigma**2)))),
        "beat_hit_rate": float(np.mean(d <= tolerance + 1e-9)),
        "beat_f1": 2.0 * matches / (v.size + m.size),
    }


def tempo_scores(video_tempo: float | None, music_tempo: float | None, tolerance: float = 0.08) -> dict[str, float]:
    """Agreement of the music tempo with the video pulse rate, forgiving a factor of 2.

    Returns:
        `tempo_error`: min over f in (1/2, 1, 2) of |log2(music / (f * video))|, in octaves;
        `tempo_agreement`: 1.0 if music is within `tolerance` (relative) of f * video, else 0.0.
        Both NaN when either tempo is unknown.
    """
    if not video_tempo or not music_tempo:
        return {"tempo_error": math.nan, "tempo_agreement": math.nan}
    ratios = music_tempo / (video_tempo * np.array([0.5, 1.0, 2.0]))
    return {
        "tempo_error": float(np.min(np.abs(np.log2(ratios)))),
        "tempo_agreement": float(np.min(np.abs(ratios - 1.0)) <= tolerance),
    }


def _nearest_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For each time in `a`, the distance to the nearest time in sorted `b` (non-empty)."""
    idx = np.clip(np.searchsorted(b, a), 1, b.size - 1) if b.size > 1 else np.zeros(a.size, np.int64)
    d = np.abs(a - b[idx])
    if b.size > 1:
        d = np.minimum(d, np.abs(a - b[idx - 1]))
    return d


def _count_matches(a: np.ndarray, b: np.ndarray, tolerance: float) -> int:
    """Most one-to-one pairs of sorted `a` and `b` closer than `tolerance` (greedy is optimal in 1-D)."""
    i = j = count = 0
    while i < a.size and j < b.size:
        if abs(a[i] - b[j]) <= tolerance + 1e-9:
            count, i, j = count + 1, i + 1, j + 1
        elif a[i] < b[j]:
            i += 1
        else:
            j += 1
    return count
