"""How well music onsets line up with video beats, and tempo agreement (VMAs' MV-Align idea).

The onsets, beats and tempi come from `v2meow.signal.rhythm` (re-exported here).

Alignment of one clip (`beat_scores`):
- `beat_alignment`: mean over video beats of exp(-d^2 / 2 sigma^2), d the distance to
  the nearest music onset (AIST++'s beat-align score, which MV-Align follows);
- `beat_hit_rate`: share of video beats with an onset within +-tolerance (VMAs eq. 3);
- `beat_f1`: `mir_eval.beat.f_measure` with the video beats as reference and the music
  onsets as estimates (one-to-one matches within +-tolerance), which also punishes onsets
  that no video beat explains (a dense onset train hits every video beat but scores a low
  F1). NaN when mir_eval is not installed (`pip install 'v2meow[eval]'`).

Music against its reference music (`music_scores`):
- `beat_coverage` / `beat_hit` (BCS / BHS): LORIS's beats coverage and beats hit scores
  (Yu et al., "Long-Term Rhythmic Video Soundtracker", ICML 2023, section 5; their
  `beats_scores.py`). Onsets are detected in both, each 1-s bin holding an onset counts as
  a beat, and a hit is a bin with an onset in both: BCS = hits / generated bins,
  BHS = hits / reference bins (0 when the denominator is 0, as there). LORIS detects onsets
  with librosa's `onset_detect(wait=1, delta=0.2, pre_avg=3, post_avg=3, pre_max=3,
  post_max=3)` at 22.05 kHz, hop 512; here the same peak-picking windows, in seconds, run on
  `signal.rhythm`'s onset envelope (`loris_onsets`), so figures are comparable in kind,
  not to the digit.
- `beat_iou`: intersection over union of the +-tolerance neighbourhoods of the beats tracked
  (`signal.rhythm.music_beats`) in generated and reference music: 1 when every beat
  coincides, 0 when none is within 2 x tolerance of another.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass

import numpy as np

from v2meow.signal.rhythm import (  # noqa: F401  (re-exported: the evaluation's public names)
    ANALYSIS_RATE,
    ENVELOPE_RATE,
    MotionEnergy,
    Rhythm,
    estimate_tempo,
    music_beats,
    music_rhythm,
    onset_envelope,
    pick_peaks,
    track_beats,
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
        return {"beat_alignment": 0.0, "beat_hit_rate": 0.0, "beat_f1": 0.0 if has_mir_eval() else math.nan}
    d = _nearest_distance(v, m)  # [K]
    return {
        "beat_alignment": float(np.mean(np.exp(-(d**2) / (2.0 * sigma**2)))),
        "beat_hit_rate": float(np.mean(d <= tolerance + 1e-9)),
        "beat_f1": beat_f_measure(v, m, tolerance),
    }


def has_mir_eval() -> bool:
    """Whether `mir_eval` (the `eval` extra) can be imported."""
    try:
        import mir_eval.beat  # noqa: F401
    except ImportError:
        return False
    return True


def beat_f_measure(reference: np.ndarray, estimated: np.ndarray, tolerance: float = 0.07) -> float:
    """`mir_eval.beat.f_measure` of `estimated` against `reference` beat times (s) within
    +-`tolerance`; NaN when mir_eval is not installed. Beats before 5 s are kept (no `trim_beats`)."""
    try:
        import mir_eval.beat
    except ImportError:
        return math.nan
    ref, est = np.sort(np.asarray(reference, np.float64)), np.sort(np.asarray(estimated, np.float64))
    if ref.size == 0 or est.size == 0:
        return 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(mir_eval.beat.f_measure(ref, est, f_measure_threshold=tolerance))


# librosa.onset.onset_detect's windows in LORIS (frames of 512 samples at 22.05 kHz), in seconds:
# peak_pick looks at x[n - pre : n + post], so `post` covers one frame less than `pre`.
_LORIS_FRAME = 512 / 22050
LORIS_PEAKS = {
    "pre_max": 3 * _LORIS_FRAME,
    "post_max": 2 * _LORIS_FRAME,
    "pre_avg": 3 * _LORIS_FRAME,
    "post_avg": 2 * _LORIS_FRAME,
    "delta": 0.2,
    "wait": 1 * _LORIS_FRAME,
}


@dataclass
class MusicEvents:
    """One analysis of a music clip for every rhythm metric."""

    rhythm: Rhythm  # onsets (at the evaluation's threshold) and tempo
    beats: np.ndarray  # [B] tracked beats, s
    loris_onsets: np.ndarray  # [K] onsets with LORIS's peak picking, s


def music_events(wav: np.ndarray, sample_rate: int, delta: float = 0.07) -> MusicEvents:
    """Onsets, tempo, tracked beats and LORIS-style onsets of `wav [N]`, from one onset envelope."""
    env = onset_envelope(wav, sample_rate)  # [F] at ENVELOPE_RATE
    tempo = estimate_tempo(env, ENVELOPE_RATE)
    rhythm = Rhythm(pick_peaks(env, ENVELOPE_RATE, delta=delta) / ENVELOPE_RATE, tempo, len(wav) / sample_rate)
    beats = track_beats(env, ENVELOPE_RATE, tempo) / ENVELOPE_RATE if tempo else np.zeros(0)
    return MusicEvents(rhythm, beats, pick_peaks(env, ENVELOPE_RATE, **LORIS_PEAKS) / ENVELOPE_RATE)


def beat_bins(onsets: np.ndarray, duration: float) -> np.ndarray:
    """LORIS's beat vector: `[ceil(duration)]` booleans, bin `k` true when an onset lies in `[k, k + 1)` s."""
    out = np.zeros(math.ceil(duration - 1e-9), dtype=bool)
    idx = np.trunc(np.asarray(onsets, np.float64)).astype(np.int64)
    out[idx[(idx >= 0) & (idx < out.size)]] = True
    return out


def loris_scores(generated: np.ndarray, reference: np.ndarray, duration: float) -> dict[str, float]:
    """LORIS's BCS and BHS of generated against reference onset times over `duration` seconds.

    Returns:
        `beat_coverage`: hits / generated bins with an onset; `beat_hit`: hits / reference
        bins with an onset (each 0 when its denominator is 0, as in LORIS's `beats_scores.py`).
    """
    g, r = beat_bins(generated, duration), beat_bins(reference, duration)
    hits = int(np.sum(g & r))
    return {
        "beat_coverage": hits / int(g.sum()) if g.any() else 0.0,
        "beat_hit": hits / int(r.sum()) if r.any() else 0.0,
    }


def beat_iou(a: np.ndarray, b: np.ndarray, duration: float, tolerance: float = 0.07, step: float = 0.001) -> float:
    """IoU of the +-`tolerance` neighbourhoods of beat times `a` and `b` on `[0, duration)` (a `step` grid).

    NaN when neither has a beat, 0 when only one has."""
    t = np.arange(0.0, duration, step)  # [G]

    def mask(x: np.ndarray) -> np.ndarray:
        x = np.sort(np.asarray(x, np.float64))
        return _nearest_distance(t, x) <= tolerance + 1e-9 if x.size else np.zeros(t.size, bool)

    ma, mb = mask(a), mask(b)
    union = int(np.sum(ma | mb))
    return math.nan if union == 0 else int(np.sum(ma & mb)) / union


def music_scores(generated: MusicEvents, reference: MusicEvents, tolerance: float = 0.07) -> dict[str, float]:
    """Generated music against its reference music: LORIS's BCS/BHS and the beat IoU."""
    end = min(generated.rhythm.duration, reference.rhythm.duration)
    return {
        **loris_scores(generated.loris_onsets, reference.loris_onsets, end),
        "beat_iou": beat_iou(generated.beats, reference.beats, end, tolerance),
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
