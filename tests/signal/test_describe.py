"""Caption words measured on the music: energy and brightness (tempo: tests/data/test_stretch.py)."""

from __future__ import annotations

import numpy as np
import pytest

from v2meow.signal.describe import describe, fill_caption, measure_references, spectral_centroid

SR = 16000


def tone_bursts(freq: float, per_second: float, amplitude: float, seconds: float = 8.0) -> np.ndarray:
    """Decaying sine bursts at `per_second` onsets per second, `[N]`."""
    t = np.arange(int(seconds * SR)) / SR
    phase = (t * per_second) % 1.0 / per_second  # seconds since the last onset
    return (amplitude * np.sin(2 * np.pi * freq * t) * np.exp(-phase * 12)).astype(np.float32)


def test_spectral_centroid_of_sines_and_silence():
    t = np.arange(SR) / SR
    assert spectral_centroid(np.sin(2 * np.pi * 1000 * t), SR) == pytest.approx(1000, rel=0.02)
    assert spectral_centroid(np.sin(2 * np.pi * 200 * t), 48000 // 3) == pytest.approx(200, rel=0.05)
    assert spectral_centroid(np.zeros(SR), SR) == 0.0


def test_energy_and_brightness_words_follow_what_they_name():
    calm = tone_bursts(220, 1.0, 0.05)
    intense = tone_bursts(220, 12.0, 0.6)
    assert fill_caption("{energy} music", calm, SR) == "calm music"
    assert fill_caption("{energy} music", intense, SR) == "intense music"
    assert fill_caption("{brightness}", tone_bursts(110, 4, 0.3), SR) == "dark"
    assert fill_caption("{brightness}", tone_bursts(3000, 4, 0.3), SR) == "bright"
    d = describe(intense, SR)
    assert d.onsets_per_second > describe(calm, SR).onsets_per_second
    assert d.loudness_db > describe(calm, SR).loudness_db
    words = fill_caption("{tempo} {energy} {brightness} game music", intense, SR).split()
    assert words[-2:] == ["game", "music"] and len(words) in (4, 5)  # the tempo word may be "" (no periodicity)


def test_reference_medians_split_clips():
    clips = [(tone_bursts(f, r, a), SR) for f, r, a in [(110, 1, 0.1), (440, 4, 0.3), (2000, 10, 0.6)]]
    refs = measure_references(clips)
    assert refs["centroid_hz"] == pytest.approx(describe(clips[1][0], SR).centroid_hz)
    assert set(refs) == {"onsets_per_second", "loudness_db", "centroid_hz"}
