"""A rhythm channel continued past the music's end at its own tempo (`signal.rhythm.continued_pulses`)."""

import numpy as np

from v2meow.signal.rhythm import continued_pulses, music_pulses

RATE, CHANNEL_RATE = 16000, 25.0


def clicks(bpm: float, seconds: float, offset: float = 0.1) -> np.ndarray:
    """Decaying noise bursts every beat, from `offset` s, over a faint noise floor -> `[N]`."""
    rng = np.random.default_rng(0)
    wav = 1e-4 * rng.standard_normal(round(seconds * RATE))
    burst = rng.standard_normal(400) * np.exp(-np.arange(400) / 80)
    for t in np.arange(offset, seconds - 0.05, 60.0 / bpm):
        i = round(t * RATE)
        wav[i : i + 400] += burst[: len(wav) - i]
    return wav


def peaks(channel: np.ndarray) -> np.ndarray:
    """Times (s) of the channel's pulse maxima."""
    c = channel
    i = np.flatnonzero((c[1:-1] > 0.5) & (c[1:-1] >= c[:-2]) & (c[1:-1] > c[2:])) + 1
    return i / CHANNEL_RATE


def test_the_music_s_pulses_then_its_beat_continued_to_the_end():
    for bpm in (96.0, 120.0, 140.0):
        wav = clicks(bpm, 5.0)
        n = round(16.0 * CHANNEL_RATE)
        channel = continued_pulses(wav, RATE, n, CHANNEL_RATE)
        assert channel is not None and channel.shape == (n,) and channel.dtype == np.float32
        inside = round(5.0 * CHANNEL_RATE) - 2
        np.testing.assert_allclose(channel[:inside], music_pulses(wav, RATE, n, CHANNEL_RATE)[:inside], atol=1e-6)
        times = peaks(channel)
        after = times[times > 5.0]
        assert after[-1] > 16.0 - 60.0 / bpm - 0.1  # to the end
        gaps = np.diff(times)
        np.testing.assert_allclose(gaps, 60.0 / bpm, atol=1.5 / CHANNEL_RATE)  # one pulse a beat, no gap, no double
        assert abs(np.mean(gaps) / (60.0 / bpm) - 1) < 0.01  # at the music's tempo


def test_no_continuation_without_a_tempo_or_a_bar():
    assert continued_pulses(np.zeros(5 * RATE), RATE, 400, CHANNEL_RATE) is None  # silence: no tempo
    assert continued_pulses(clicks(60.0, 2.0), RATE, 400, CHANNEL_RATE) is None  # shorter than a 4-beat bar
