import math

import numpy as np
import pytest
from evalsynth import click_track, pulse_times, pulse_video

from v2meow.evaluation.beats import (
    MotionEnergy,
    Rhythm,
    beat_scores,
    estimate_tempo,
    music_rhythm,
    onset_envelope,
    video_beats,
    video_motion,
    video_rhythm,
)

SR = 16_000


@pytest.mark.parametrize("bpm", [90, 120, 150])
def test_tempo_of_click_track(bpm):
    r = music_rhythm(click_track(pulse_times(bpm, 8.0), 8.0), SR)
    assert r.tempo == pytest.approx(bpm, abs=3)


def test_tempo_from_a_44k_file_rate_and_none_for_silence():
    wav = click_track(pulse_times(120, 6.0), 6.0, sample_rate=44_100)
    assert music_rhythm(wav, 44_100).tempo == pytest.approx(120, abs=3)
    assert estimate_tempo(np.zeros(500), 100.0) is None
    assert music_rhythm(np.zeros(SR * 2, np.float32), SR).times.size == 0


def test_onsets_land_on_clicks():
    times = np.array([0.3, 0.9, 1.25, 2.0, 2.6])
    r = music_rhythm(click_track(times, 3.0), SR)
    assert r.times.size == times.size
    assert np.max(np.abs(r.times - times)) <= 0.03
    assert onset_envelope(click_track(times, 3.0), SR).shape[0] == pytest.approx(300, abs=2)


def _energy(peaks_s, duration=6.0, rate=10.0, noise=0.02, seed=0):
    """Motion energy [T] with spikes at the steps holding `peaks_s` (energy trails motion by one frame)."""
    rng = np.random.default_rng(seed)
    e = noise * rng.random(round(duration * rate))
    for t in peaks_s:
        e[int((t + 0.05) * rate)] += 1.0
    return MotionEnergy(e, rate, frame_rate=2 * rate)


def test_video_beats_are_local_maxima_in_window():
    e = np.zeros(40)
    e[[5, 6, 20, 21, 22]] = [1.0, 0.5, 0.3, 0.3, 0.2]  # a peak and a plateau
    beats = video_beats(e, 10.0, window=0.2)
    np.testing.assert_allclose(beats, [0.55, 2.05])
    assert video_beats(np.full(30, 0.4), 10.0).size == 0  # flat: no beats


def test_aligned_clicks_score_high_and_shifted_clicks_low():
    times = pulse_times(100, 6.0, start=0.4)
    video = video_rhythm(_energy(times))
    assert video.times.size == times.size
    assert video.tempo == pytest.approx(100, abs=4)
    aligned = beat_scores(video, music_rhythm(click_track(times, 6.0), SR))
    half_period = 0.5 * 60 / 100
    shifted = beat_scores(video, music_rhythm(click_track(times + half_period, 6.0), SR))
    assert aligned["beat_alignment"] > 0.8 and aligned["beat_hit_rate"] == 1.0 and aligned["beat_f1"] > 0.9
    assert shifted["beat_alignment"] < 0.2 and shifted["beat_hit_rate"] < 0.2


def test_dense_onsets_hit_every_beat_but_score_low_f1():
    video = Rhythm(times=np.array([1.0, 2.0, 3.0]), tempo=60.0, duration=4.0)
    dense = Rhythm(times=np.arange(0.0, 4.0, 0.1), tempo=600.0, duration=4.0)
    s = beat_scores(video, dense)
    assert s["beat_hit_rate"] == 1.0 and s["beat_f1"] < 0.2
    assert all(math.isnan(v) for v in beat_scores(Rhythm(np.zeros(0), None, 4.0), dense).values())
    assert beat_scores(video, Rhythm(np.zeros(0), None, 4.0))["beat_alignment"] == 0.0
    late = Rhythm(times=np.array([5.0]), tempo=None, duration=6.0)  # beyond the video: not counted
    assert beat_scores(video, late)["beat_hit_rate"] == 0.0


def test_tempo_agreement_forgives_octaves_only():
    from v2meow.evaluation.beats import tempo_scores

    assert tempo_scores(120, 121)["tempo_agreement"] == 1.0
    assert tempo_scores(120, 240)["tempo_agreement"] == 1.0 and tempo_scores(120, 60)["tempo_error"] == pytest.approx(0)
    assert tempo_scores(120, 180)["tempo_agreement"] == 0.0
    assert math.isnan(tempo_scores(None, 120)["tempo_error"])


def test_end_to_end_video_pulses_against_clicks(tmp_path):
    times = pulse_times(120, 4.0, start=0.3) + np.random.default_rng(1).uniform(-0.06, 0.06, 8)
    path = pulse_video(tmp_path / "pulse.mp4", times, 4.0)
    motion = video_motion(path, rate=10.0)
    assert motion.energy.shape == (40,) and motion.frame_rate == 20.0
    video = video_rhythm(motion)
    assert video.times.size == times.size
    assert np.max(np.abs(video.times - times)) <= 0.1
    aligned = beat_scores(video, music_rhythm(click_track(times, 4.0), SR))
    shifted = beat_scores(video, music_rhythm(click_track(times + 0.25, 4.0), SR))
    assert aligned["beat_alignment"] > 0.75 and aligned["beat_hit_rate"] >= 0.85
    assert shifted["beat_alignment"] < 0.3 and aligned["beat_alignment"] - shifted["beat_alignment"] > 0.5
