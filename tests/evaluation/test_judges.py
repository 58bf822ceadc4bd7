"""The pretrained judges: the measures on known activations, and (when `make judges` installed
them) basic-pitch and madmom on signals whose notes and beats are known."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from v2meow.errors import V2MeowError
from v2meow.evaluation import judges

SR = 16000
ready = judges.available()
needs_notes = pytest.mark.skipif(ready["notes"] is not None, reason=str(ready["notes"]))
needs_beats = pytest.mark.skipif(ready["beats"] is not None, reason=str(ready["beats"]))


def chord(seconds: float = 6.0, notes=(57, 61, 64), sr: int = SR) -> np.ndarray:
    """A sustained A-major chord of harmonic tones (MIDI note numbers), `[N]`."""
    t = np.arange(int(seconds * sr)) / sr
    x = np.zeros_like(t)
    for n in notes:
        f0 = 440.0 * 2 ** ((n - 69) / 12)
        x += sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 6))
    return (0.2 * x / np.abs(x).max()).astype(np.float32)


def clicks(seconds: float = 8.0, bpm: float = 120.0, sr: int = SR) -> np.ndarray:
    """Decaying noise bursts on every beat, `[N]`."""
    rng = np.random.default_rng(0)
    x = np.zeros(int(seconds * sr), np.float32)
    burst = rng.standard_normal(int(0.05 * sr)) * np.exp(-np.linspace(0, 8, int(0.05 * sr)))
    for start in np.arange(0, seconds, 60.0 / bpm):
        i = int(start * sr)
        x[i : i + len(burst)] += burst[: len(x) - i]
    return 0.5 * x / np.abs(x).max()


def test_beat_pulse_is_one_for_a_periodic_activation_and_low_for_noise():
    t = np.arange(1000)  # 10 s at 100 frames/s
    periodic = (t % 50 == 0).astype(float)  # a beat every 0.5 s
    assert judges.beat_pulse(periodic) > 0.95
    noise = np.random.default_rng(0).random(1000)
    assert judges.beat_pulse(noise) < 0.3
    assert judges.beat_pulse(np.zeros(1000)) == 0.0
    with pytest.raises(V2MeowError, match="at least"):
        judges.beat_pulse(periodic[:200])


def test_note_measures_on_known_posteriors():
    fps = judges.NOTE_FPS
    post = np.zeros((int(4 * fps), 88), np.float32)  # 4 s
    post[: int(fps), 40] = 0.9  # one 1-s note
    post[int(2 * fps) : int(2 * fps) + 3, 50] = 0.9  # 35 ms: too short to count
    post[int(3 * fps) : int(3.5 * fps), 60] = 0.5  # a 0.5-s note
    assert judges.note_events_per_second(post) == pytest.approx(2 / (len(post) / fps))
    assert judges.note_salience(post) == pytest.approx(post.max(axis=1).mean())
    assert judges.note_events_per_second(np.zeros((0, 88))) == 0.0


def test_pink_noise_is_seeded_and_at_minus_20_dbfs():
    a, b = judges.pink_noise(SR, SR, seed=1), judges.pink_noise(SR, SR, seed=1)
    assert np.array_equal(a, b) and not np.array_equal(a, judges.pink_noise(SR, SR, seed=2))
    assert 20 * np.log10(np.sqrt((a**2).mean())) == pytest.approx(-20.0, abs=0.01)


def test_medians_leave_out_missing_scores_and_the_way_from_noise_to_music():
    rows = [
        {"note_salience": 0.2, "note_events_per_second": 1.0, "beat_pulse": None},
        {"note_salience": 0.4, "note_events_per_second": None, "beat_pulse": None},
        {"note_salience": 0.9, "note_events_per_second": 3.0, "beat_pulse": None},
    ]
    assert judges.median_scores(rows) == {"note_salience": 0.4, "note_events_per_second": 2.0, "beat_pulse": None}
    assert judges.noise_to_music(0.3, music=0.5, noise=0.25) == pytest.approx(0.2)
    assert judges.noise_to_music(0.1, music=0.5, noise=0.25) == pytest.approx(-0.6)  # below the floor
    assert judges.noise_to_music(0.3, music=0.25, noise=0.25) is None  # no span to measure on
    assert judges.noise_to_music(None, music=0.5, noise=0.25) is None


def test_missing_extra_is_named_and_reported_as_none(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    missing = judges.available()
    assert "onnxruntime" in missing["notes"] and "make judges" in missing["notes"]
    with pytest.raises(judges.JudgeUnavailable, match="make judges"):
        judges.note_posteriors(chord(), SR)
    assert judges.judge_or_none(chord(), SR) == {
        "note_salience": None,
        "note_events_per_second": None,
        "beat_pulse": None,
    }


@needs_notes
def test_basic_pitch_hears_the_notes_of_a_chord_and_not_of_noise():
    post = judges.note_posteriors(chord(), SR)
    assert post.shape == (int(6.0 * judges.NOTE_FPS), 88)
    keys = set(np.argsort(post.mean(axis=0))[-3:] + 21)  # MIDI numbers of the 3 strongest keys
    assert keys == {57, 61, 64}
    noise = judges.note_posteriors(judges.pink_noise(6 * SR, SR), SR)
    assert judges.note_salience(post) > judges.note_salience(noise) + 0.2
    assert np.array_equal(post, judges.note_posteriors(chord(), SR))  # deterministic


@needs_beats
def test_madmom_finds_the_pulse_of_clicks_and_not_of_noise():
    assert judges.beat_pulse(judges.beat_activation(clicks(), SR)) > 0.8
    assert judges.beat_pulse(judges.beat_activation(judges.pink_noise(8 * SR, SR), SR)) < 0.5
