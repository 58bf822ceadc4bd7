"""Music onsets, video beats and tempo: the weight-free rhythm analysis that the data
preparation (VMAs beat weights, rhythm envelopes) and the evaluation (beat alignment,
tempo following) share.

Music side: an onset strength envelope (positive log-mel spectral flux at 100 Hz),
onsets picked as its local maxima above a moving average, a tempo from the envelope's
autocorrelation, and beats by dynamic programming at that tempo (`track_beats`). This is
the package's one onset/tempo/beat detector: the demo visualizer uses it too. Video side: the motion energy of the `motion` extractor;
a video beat is a step whose energy is the largest within +-`window` seconds (VMAs
section 4.4), and the video's pulse rate comes from the same autocorrelation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from v2meow.media import resample
from v2meow.signal.dsp import (
    log_mel_spectrogram,
    parabolic_peak,
    sliding_max,
    sliding_mean,
)

ENVELOPE_RATE = 100.0  # onset envelope frames per second
ANALYSIS_RATE = 16_000  # audio is resampled to this before onset analysis
_HOP = int(ANALYSIS_RATE / ENVELOPE_RATE)


@dataclass
class Rhythm:
    """The pulses of one clip: music onsets or video beats."""

    times: np.ndarray  # [K] seconds, ascending
    tempo: float | None  # BPM (None: no periodicity found)
    duration: float  # seconds analysed


def onset_envelope(wav: np.ndarray, sample_rate: int) -> np.ndarray:
    """Onset strength at `ENVELOPE_RATE` Hz: mean over mel bands of the positive log-power rise.

    Args:
        wav: `[N]` mono float audio.
        sample_rate: its rate.

    Returns:
        `[F]` float64, frame `k` centred at `k / ENVELOPE_RATE` seconds.
    """
    x = resample(np.asarray(wav, np.float32)[None], sample_rate, ANALYSIS_RATE)[0]  # [M]
    logmel = log_mel_spectrogram(
        x,
        ANALYSIS_RATE,
        n_fft=1024,
        hop=_HOP,
        n_mels=40,
        fmin=30.0,
        fmax=8000.0,
        win_length=512,
        power=2.0,
        log_offset=1e-10,
        center=True,
    )  # [F, 40]
    db = 10.0 / math.log(10.0) * logmel
    db = np.maximum(db, db.max() - 80.0)  # an 80-dB floor keeps silence from producing flux
    flux = np.maximum(0.0, np.diff(db, axis=0)).mean(1)  # [F - 1]
    return np.concatenate([[0.0], flux])


def pick_peaks(
    env: np.ndarray,
    rate: float,
    pre_max: float = 0.03,
    post_max: float = 0.03,
    pre_avg: float = 0.1,
    post_avg: float = 0.1,
    delta: float = 0.07,
    wait: float = 0.05,
) -> np.ndarray:
    """Indices of onsets in `env [F]`: local maxima that rise `delta` above the local mean.

    The envelope is first scaled to [0, 1]. Windows are in seconds; `wait` is the
    shortest gap between two onsets. A flat envelope has no onsets.
    """
    env = np.asarray(env, np.float64)
    span = env.max() - env.min() if env.size else 0.0
    if env.size < 3 or span <= 1e-12:
        return np.zeros(0, dtype=np.int64)
    e = (env - env.min()) / span

    def s(sec: float) -> int:
        return max(0, round(sec * rate))

    is_max = e >= sliding_max(e, s(pre_max), s(post_max))
    loud = e >= sliding_mean(e, s(pre_avg), s(post_avg)) + delta
    out, last = [], -np.inf
    for k in np.flatnonzero(is_max & loud):
        if k - last > s(wait):
            out.append(k)
            last = k
    return np.asarray(out, dtype=np.int64)


def estimate_tempo(
    env: np.ndarray,
    rate: float,
    min_bpm: float = 40.0,
    max_bpm: float = 240.0,
    prior_bpm: float = 120.0,
    prior_octaves: float = 1.0,
) -> float | None:
    """Tempo in BPM from the autocorrelation of a pulse-strength envelope.

    Candidate periods are local maxima of the autocorrelation between `60 / max_bpm`
    and `60 / min_bpm` seconds, weighted by a log-normal prior around `prior_bpm`
    (`prior_octaves` wide) against octave errors. The winner is refined to sub-frame
    precision with the peaks at its first few multiples (least squares through the
    origin on parabola-fitted lags).

    Returns:
        BPM, or None when the envelope is flat, too short, or has no periodicity.
    """
    x = np.asarray(env, np.float64) - np.mean(env)
    n = x.shape[0]
    lo, hi = max(1, math.floor(rate * 60.0 / max_bpm)), math.ceil(rate * 60.0 / min_bpm)
    hi = min(hi, n - 2)
    if n < 4 or hi <= lo or float(x @ x) <= 1e-12:
        return None
    spec = np.fft.rfft(x, n=2 * n)
    ac = np.fft.irfft(spec * np.conj(spec))[:n]  # [n] lag 0..n-1, biased (falls off with lag)
    ac /= ac[0]
    lags = np.arange(lo, hi + 1)
    peak = (ac[lags] >= ac[lags - 1]) & (ac[lags] > ac[lags + 1]) & (ac[lags] > 0)
    if not peak.any():
        return None
    prior = np.exp(-0.5 * (np.log2(rate * 60.0 / lags / prior_bpm) / prior_octaves) ** 2)
    best = int(lags[np.argmax(np.where(peak, ac[lags] * prior, -np.inf))])
    period = _refine_period(ac, best)
    return 60.0 * rate / period


def _refine_period(ac: np.ndarray, lag: int, harmonics: int = 4) -> float:
    """Least-squares period from the autocorrelation peaks near `m * lag`, m = 1..harmonics."""
    num = den = 0.0
    base = parabolic_peak(ac, lag)
    for m in range(1, harmonics + 1):
        centre = m * base
        radius = max(1, round(0.1 * base))
        a, b = round(centre) - radius, round(centre) + radius
        if b >= ac.shape[0] - 1:
            break
        k = a + int(np.argmax(ac[a : b + 1]))
        if not (a < k < b) or ac[k] <= 0:  # no peak inside the search window
            continue
        num += m * parabolic_peak(ac, k)
        den += m * m
    return num / den if den else base


def music_rhythm(wav: np.ndarray, sample_rate: int, delta: float = 0.07) -> Rhythm:
    """Onsets and tempo of `wav [N]` (mono float audio at `sample_rate`)."""
    env = onset_envelope(wav, sample_rate)  # [F]
    times = pick_peaks(env, ENVELOPE_RATE, delta=delta) / ENVELOPE_RATE
    return Rhythm(times=times, tempo=estimate_tempo(env, ENVELOPE_RATE), duration=len(wav) / sample_rate)


def track_beats(env: np.ndarray, rate: float, bpm: float, tightness: float = 100.0) -> np.ndarray:
    """Beat frames of a pulse-strength envelope `env [F]` at tempo `bpm`, by dynamic programming
    (Ellis 2007, "Beat tracking by dynamic programming"): each beat maximises the (smoothed)
    strength plus `-tightness * log(gap / period) ** 2` over the gap to the previous beat.

    Returns:
        `[B]` ascending frame indices (empty for a too-short envelope).
    """
    period = rate * 60.0 / bpm
    env = np.asarray(env, np.float64)
    n = env.size
    if n < 2 or period < 1 or n < period:
        return np.zeros(0, np.int64)
    sigma = period / 32
    g = np.exp(-0.5 * (np.arange(-round(4 * sigma), round(4 * sigma) + 1) / max(sigma, 1e-3)) ** 2)
    score = np.convolve(env / (env.std() + 1e-9), g / g.sum(), mode="same")  # [F]
    back = np.full(n, -1)
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


def music_beats(wav: np.ndarray, sample_rate: int) -> np.ndarray:
    """Beat times (s) of music `wav [N]`: `track_beats` on its onset envelope at its estimated tempo
    (empty when no tempo is found)."""
    env = onset_envelope(wav, sample_rate)
    bpm = estimate_tempo(env, ENVELOPE_RATE)
    return track_beats(env, ENVELOPE_RATE, bpm) / ENVELOPE_RATE if bpm else np.zeros(0)


def video_beats(
    energy: np.ndarray, rate: float, window: float = 0.2, threshold: float = 0.1, lag: float = 0.0
) -> np.ndarray:
    """Video beats: steps of `energy [T]` that are the maximum within +-`window` seconds.

    A beat must also stand above the mean of its window (flat stretches have none) and
    above `threshold` of the clip's energy range; of a plateau only the first step
    counts. Step `k` covers `[k / rate, (k + 1) / rate)`; its beat time is the step
    centre minus `lag`, the delay of the energy after the motion (see `MotionEnergy`).

    Returns:
        `[K]` beat times in seconds.
    """
    e = np.asarray(energy, np.float64)
    if e.size == 0 or e.max() - e.min() <= 1e-12:
        return np.zeros(0)
    w = max(1, round(window * rate))
    floor = e.min() + threshold * (e.max() - e.min())
    cand = (e >= sliding_max(e, w, w)) & (e > sliding_mean(e, w, w)) & (e >= floor)
    out, last = [], -np.inf
    for k in np.flatnonzero(cand):
        if k - last > w:
            out.append(k)
            last = k
    return np.maximum(0.0, (np.asarray(out, np.float64) + 0.5) / rate - lag)


@dataclass
class MotionEnergy:
    """Motion energy of a video: `energy[k]` sums the frame differences of step k.

    A difference at frame time `g` measures a change in `(g - 1 / frame_rate, g]`, so
    the energy trails the motion by `lag = 1 / frame_rate` on average over a step.
    """

    energy: np.ndarray  # [T]
    rate: float  # steps per second
    frame_rate: float  # rate the frames were read and differenced at

    @property
    def lag(self) -> float:
        return 1.0 / self.frame_rate


def video_rhythm(motion: MotionEnergy, window: float = 0.2) -> Rhythm:
    """Beats and pulse rate of a video's motion energy."""
    e, rate = np.asarray(motion.energy, np.float64), motion.rate
    duration = e.shape[0] / rate
    t = np.arange(0.0, duration, 1.0 / ENVELOPE_RATE)  # the energy on the onset envelope's grid
    dense = np.interp(t, (np.arange(e.shape[0]) + 0.5) / rate - motion.lag, e)
    beats = video_beats(e, rate, window, lag=motion.lag)
    return Rhythm(times=beats, tempo=estimate_tempo(dense, ENVELOPE_RATE), duration=duration)


def tempo_word(bpm: float | None) -> str:
    """A caption word for a tempo: slow (< 90 BPM), fast (> 130 BPM), moderate; "" when unknown."""
    if bpm is None:
        return ""
    return "slow" if bpm < 90 else "fast" if bpm > 130 else "moderate"


def octave_deviation(estimate: float | None, truth: float | None) -> float:
    """Tempo error folded over octaves: |log2(est/true) - round(log2(est/true))| (0: the same tempo
    or an octave of it; about 0.25: chance); NaN when either is missing."""
    if not estimate or not truth or not math.isfinite(estimate) or not math.isfinite(truth):
        return float("nan")
    r = math.log2(estimate / truth)
    return abs(r - round(r))


# ---- the rhythm channel: one pulse train, from the music at training, from the video at inference ----

PULSE_WINDOW = 0.2  # seconds: an event is the strongest within +-this (VMAs' video-beat rule, for both sides)
PULSE_WIDTH = 0.04  # seconds: standard deviation of each rendered pulse


def pulse_train(times: np.ndarray, num_frames: int, rate: float, width: float = PULSE_WIDTH) -> np.ndarray:
    """Event `times` (s) rendered as Gaussian pulses of peak 1 on a grid of `num_frames` at `rate` -> `[num_frames]` float32."""
    t = np.arange(num_frames, dtype=np.float64) / rate  # frame i at i / rate
    out = np.zeros(num_frames, np.float64)
    for event in np.asarray(times, np.float64):
        lo, hi = np.searchsorted(t, [event - 4 * width, event + 4 * width])
        out[lo:hi] = np.maximum(out[lo:hi], np.exp(-0.5 * ((t[lo:hi] - event) / width) ** 2))
    return out.astype(np.float32)


def music_pulses(wav: np.ndarray, sample_rate: int, num_frames: int, rate: float) -> np.ndarray:
    """The rhythm channel of music `wav [N]`: its onset envelope's strongest peaks (one per
    +-`PULSE_WINDOW`) as a pulse train `[num_frames]` at `rate`."""
    env = onset_envelope(wav, sample_rate)  # [F] at ENVELOPE_RATE
    times = video_beats(env, ENVELOPE_RATE, window=PULSE_WINDOW)  # the same event rule as the video side
    return pulse_train(times, num_frames, rate)


def video_pulses(motion: MotionEnergy, num_frames: int, rate: float) -> np.ndarray:
    """The rhythm channel of a video: its motion-energy beats (one per +-`PULSE_WINDOW`) as a pulse
    train `[num_frames]` at `rate`, the same shape as `music_pulses` gives for music."""
    times = video_beats(np.asarray(motion.energy, np.float64), motion.rate, window=PULSE_WINDOW, lag=motion.lag)
    return pulse_train(times, num_frames, rate)


def continued_pulses(
    wav: np.ndarray, sample_rate: int, num_frames: int, rate: float, beats_per_bar: int = 4
) -> np.ndarray | None:
    """The rhythm channel of music `wav [N]` continued past its end: its own pulses (`music_pulses`' events)
    while it lasts, then its last bar's pulses repeated at its tempo (a bar = `beats_per_bar` beats,
    ending at its last pulse) to `num_frames` at `rate` -> `[num_frames]` float32; None when the music
    has no tempo or is shorter than a bar (a continuation then follows the video alone)."""
    env = onset_envelope(wav, sample_rate)  # [F] at ENVELOPE_RATE
    bpm = estimate_tempo(env, ENVELOPE_RATE)
    if not bpm or len(wav) / sample_rate < beats_per_bar * 60.0 / bpm:
        return None
    bar = beats_per_bar * 60.0 / bpm
    events = video_beats(env, ENVELOPE_RATE, window=PULSE_WINDOW)  # [E] s, the rule music_pulses uses
    if events.size == 0:
        return None
    last = events[-1]
    # the bar before the last pulse (a pulse about a bar earlier is the same beat: left out)
    offsets = events[events > last - bar + PULSE_WINDOW / 2] - last  # [L] in (-bar, 0]
    repeats = max(0, math.ceil((num_frames / rate - last) / bar))
    tiled = (last + bar * np.arange(1, repeats + 1)[:, None] + offsets[None]).ravel()  # [repeats * L] s
    return pulse_train(np.concatenate([events, tiled]), num_frames, rate)
