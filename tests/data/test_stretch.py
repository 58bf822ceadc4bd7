"""The phase vocoder behind `v2meow-prepare --stretch`, and the time-stretch of frame sequences."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from v2meow.errors import ConfigError
from v2meow.signal.rhythm import music_rhythm
from v2meow.signal.stretch import split_bands, stretch_frames, time_stretch

SR = 16_000


def tone(freq: float, seconds: float, channels: int = 1) -> torch.Tensor:
    t = torch.arange(round(seconds * SR)) / SR
    return torch.stack([0.5 * torch.sin(2 * math.pi * freq * (1 + 0.5 * c) * t) for c in range(channels)])  # [C, N]


def clicks(period: float, seconds: float) -> torch.Tensor:
    """Decaying 1.5-kHz clicks every `period` s from 0.25 s, over faint noise -> `[N]`."""
    n = round(seconds * SR)
    wav = 1e-3 * torch.randn(n, generator=torch.Generator().manual_seed(0))
    tt = torch.arange(round(0.03 * SR)) / SR
    click = 0.8 * torch.sin(2 * math.pi * 1500 * tt) * torch.exp(-tt / 0.006)
    for start in np.arange(0.25, seconds - 0.05, period):
        i = round(start * SR)
        wav[i : i + click.numel()] += click[: n - i]
    return wav


def peak_hz(x: torch.Tensor) -> float:
    x = x[2000:-2000].double()  # [M] away from the edges
    spec = torch.fft.rfft(x * torch.hann_window(x.numel(), dtype=torch.float64)).abs()
    return float(spec.argmax()) * SR / x.numel()


@pytest.mark.parametrize("rate", [0.5, 0.8, 1.25, 2.0])
def test_duration_scales_and_a_tone_keeps_its_pitch(rate):
    x = tone(440.0, 2.0, channels=2)  # 440 and 660 Hz
    y = time_stretch(x, SR, rate)
    assert y.shape == (2, round(x.shape[1] / rate)) and y.dtype == torch.float32
    assert abs(peak_hz(y[0]) - 440.0) < 3.0 and abs(peak_hz(y[1]) - 660.0) < 3.0
    assert abs(float(y[0, 4000:-4000].abs().max()) - 0.5) < 0.05  # level kept
    assert time_stretch(x[0], SR, rate).shape == (round(x.shape[1] / rate),)  # [N] in, [N'] out


@pytest.mark.parametrize("freq", [110.0, 1000.0, 3000.0])  # below, at and above the two-band crossover
def test_tones_in_each_band_keep_their_pitch(freq):
    y = time_stretch(tone(freq, 1.5), SR, 1.25)[0]
    assert abs(peak_hz(y) - freq) < 3.0
    assert abs(float(y[3000:-3000].abs().max()) - 0.5) < 0.06


def test_bands_add_up_to_the_input():
    x = torch.randn(2, 4000, generator=torch.Generator().manual_seed(1))
    low, high = split_bands(x, SR, 1000.0)
    assert torch.allclose(low + high, x, atol=1e-5)
    spec = torch.fft.rfft(low[0]).abs()
    f = torch.fft.rfftfreq(4000, 1 / SR)
    assert float(spec[f > 1500].max()) < 1e-3 < float(spec[f < 600].mean())


def test_factor_one_is_the_input():
    x = tone(300.0, 0.5)
    assert torch.equal(time_stretch(x, SR, 1.0), x)


@pytest.mark.parametrize("rate", [0.8, 1.25])
def test_a_click_train_period_scales(rate):
    period = 0.5  # 120 BPM
    y = time_stretch(clicks(period, 8.0), SR, rate).numpy()
    r = music_rhythm(y, SR)
    assert r.tempo is not None and abs(r.tempo / (120.0 * rate) - 1) < 0.03
    gaps = np.diff(r.times)
    assert abs(float(np.median(gaps)) - period / rate) < 0.015


@pytest.mark.parametrize("rate", [0.0, -1.0, 5.0, math.nan, math.inf])
def test_bad_factor(rate):
    with pytest.raises(ConfigError, match="time-stretch factor"):
        time_stretch(tone(440.0, 0.2), SR, rate)


def test_stretch_frames_reads_original_time_i_times_rate():
    x = torch.stack([torch.arange(10.0), -torch.arange(10.0)], 1)  # [10, 2]: value = frame index
    y = stretch_frames(x, 1.25, 8)  # [8, 2]
    assert torch.allclose(y[:, 0], torch.tensor([0.0, 1.25, 2.5, 3.75, 5.0, 6.25, 7.5, 8.75]))
    assert torch.allclose(y[:, 1], -y[:, 0])
    slow = stretch_frames(x, 0.8, 13)[:, 0]  # [13] frames past the end hold the last one
    assert torch.allclose(slow[:12], torch.arange(12) * 0.8) and float(slow[-1]) == 9.0
    assert stretch_frames(x.half(), 0.8, 13).dtype == torch.float16


def test_caption_tempo_words_follow_the_music_and_its_stretch():
    from v2meow.signal.describe import fill_caption
    from v2meow.signal.stretch import time_stretch

    rate = 16000

    def clicks(bpm, seconds=8.0):
        wav = np.zeros(int(seconds * rate), np.float32)
        for t in np.arange(0, seconds, 60 / bpm):
            wav[int(t * rate) : int(t * rate) + 160] = 0.8
        return wav

    assert fill_caption("{tempo} orchestral music", clicks(75), rate) == "slow orchestral music"
    assert fill_caption("{tempo} orchestral music", clicks(150), rate) == "fast orchestral music"
    faster = time_stretch(torch.from_numpy(clicks(75))[None], rate, 2.0)[0].numpy()  # 150 BPM
    assert fill_caption("{tempo} music at {bpm} BPM", faster, rate).startswith("fast music at 1")
    assert fill_caption("calm piano", clicks(75), rate) == "calm piano"  # no placeholder: unchanged
