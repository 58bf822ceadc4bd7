import math

import pytest
import torch

from v2meow.errors import ConfigError
from v2meow.features.motion import MOTION_FEATURES, MotionExtractor

COL = {name: i for i, name in enumerate(MOTION_FEATURES)}


def test_columns_documented():
    ext = MotionExtractor()
    assert ext.dim == len(MOTION_FEATURES) == 16
    assert ext.rate == 10.0 and ext.frame_rate == 20.0 and ext.frame_size == (64, 64)
    assert MotionExtractor(rate=2.0).frame_rate == 10.0  # internal rate at least 10 Hz


def test_static_has_no_motion_and_moving_has_much(synth):
    ext = MotionExtractor(rate=10.0)
    static = ext.extract(*synth("static", 2.0, ext.frame_rate))
    moving = ext.extract(*synth("moving", 2.0, ext.frame_rate))
    motion_cols = [COL["motion_mean"], COL["motion_max"], COL["motion_top_left"], COL["motion_bottom_right"]]
    assert static[:, motion_cols].abs().max() < 1e-6
    assert static[:, COL["scene_cut"]].abs().max() < 1e-6
    assert moving[1:, COL["motion_mean"]].mean() > 0.01
    assert moving[1:, COL["motion_mean"]].min() > 100 * static[:, COL["motion_mean"]].max()
    assert static.dtype == torch.float32


def test_scene_cut_bin_has_the_peak(synth):
    ext = MotionExtractor(rate=10.0)
    out = ext.extract(*synth("cut", 3.0, ext.frame_rate))  # cut at t = 1.0 -> bin 10
    assert out.shape == (30, 16)
    assert int(out[:, COL["scene_cut"]].argmax()) == 10
    assert out[10, COL["scene_cut"]] == pytest.approx(1.0)
    assert int(out[:, COL["motion_max"]].argmax()) == 10
    assert out[10, COL["brightness_change"]] == pytest.approx(1.0, abs=1e-3)
    others = torch.cat([out[:10], out[11:]])
    assert others[:, COL["scene_cut"]].max() < 1e-6
    assert others[:, COL["brightness_change"]].abs().max() < 1e-6


@pytest.mark.parametrize("rate", [1.0, 2.5, 10.0, 25.0])
@pytest.mark.parametrize("duration", [1.0, 2.05, 3.3])
def test_row_count_is_ceil_duration_times_rate(synth, rate, duration):
    ext = MotionExtractor(rate=rate)
    frames, times = synth("moving", duration, ext.frame_rate, (32, 32))
    out = ext.extract(frames, times, duration)
    assert out.shape == (math.ceil(duration * rate - 1e-9), ext.dim)
    assert torch.isfinite(out).all()


def test_single_frame_and_empty_bins_repeat(synth):
    ext = MotionExtractor(rate=10.0)
    frames, times = synth("static", 0.01, ext.frame_rate)
    out = ext.extract(frames, times, duration=1.0)  # one frame for ten steps
    assert out.shape == (10, 16)
    assert out[:, COL["motion_mean"]].abs().max() == 0
    assert torch.equal(out, out[:1].expand_as(out))

    frames, times = synth("moving", 2.0, 2.0)  # frames every 0.5 s: 4 of 5 bins empty
    out = ext.extract(frames, times, duration=2.0)
    assert out.shape == (20, 16)
    assert torch.equal(out[6:10, COL["motion_mean"]], out[5, COL["motion_mean"]].expand(4))
    assert out[6:10, COL["brightness_change"]].abs().max() == 0  # a held step has no change


def test_motion_is_local_to_its_quadrant():
    frames = torch.zeros(10, 3, 64, 64, dtype=torch.uint8)
    frames[::2, :, 4:20, 4:20] = 255  # a blinking square in the top-left corner
    times = torch.arange(10, dtype=torch.float64) / 10
    out = MotionExtractor(rate=1.0, internal_rate=10.0).extract(frames, times)
    quads = out[0, COL["motion_top_left"] : COL["motion_bottom_right"] + 1]
    assert quads[0] > 0.1 and quads[1:].abs().max() == 0


def test_colour_columns():
    ext = MotionExtractor(rate=1.0, internal_rate=10.0)
    times = torch.arange(10, dtype=torch.float64) / 10
    red = torch.zeros(10, 3, 16, 16, dtype=torch.uint8)
    red[:, 0] = 255
    out = ext.extract(red, times)[0]
    assert out[COL["red_mean"]] == pytest.approx(1.0) and out[COL["green_mean"]] == pytest.approx(0.0)
    assert out[COL["saturation_mean"]] == pytest.approx(1.0)
    assert (out[COL["hue_cos"]], out[COL["hue_sin"]]) == (pytest.approx(1.0), pytest.approx(0.0, abs=1e-6))
    grey = torch.full((10, 3, 16, 16), 128, dtype=torch.uint8)
    out = ext.extract(grey, times)[0]
    assert out[COL["brightness_mean"]] == pytest.approx(128 / 255, abs=1e-4)
    assert out[COL["hue_cos"]] == 0 and out[COL["hue_sin"]] == 0 and out[COL["saturation_mean"]] == 0


def test_source_size_frames_are_resized(synth):
    ext = MotionExtractor(rate=5.0, size=(32, 32))
    small = ext.extract(*synth("moving", 1.0, ext.frame_rate, (32, 32)))
    big = ext.extract(*synth("moving", 1.0, ext.frame_rate, (96, 128)))
    assert big.shape == small.shape
    assert (big[:, COL["motion_mean"]] - small[:, COL["motion_mean"]]).abs().max() < 0.05


def test_bad_inputs():
    with pytest.raises(ConfigError):
        MotionExtractor(rate=10.0, internal_rate=5.0)
    ext = MotionExtractor()
    with pytest.raises(ConfigError):
        ext.extract(torch.zeros(0, 3, 8, 8, dtype=torch.uint8), torch.zeros(0, dtype=torch.float64))
    with pytest.raises(ConfigError):
        ext.extract(torch.zeros(2, 8, 8, dtype=torch.uint8), torch.zeros(2, dtype=torch.float64))
