import math

import pytest
import torch

from v2meow.errors import ConfigError
from v2meow.features import FeatureExtractor, FusedExtractor, MotionExtractor, build_extractor, extract_features


class TimeStamp(FeatureExtractor):
    """Feature = mean time of the frames it received in each step; records its inputs."""

    name = "stamp"

    def __init__(self, rate: float, frame_rate: float, size=(8, 8)):
        super().__init__()
        self._rate, self._frame_rate, self._size = rate, frame_rate, size
        self.seen = None

    dim = property(lambda self: 1)
    rate = property(lambda self: self._rate)
    frame_rate = property(lambda self: self._frame_rate)
    frame_size = property(lambda self: self._size)
    id = property(lambda self: f"stamp{self._rate:g}")

    def extract(self, frames, times, duration=None):
        self.seen = times.clone()
        n = math.ceil(duration * self._rate - 1e-6)
        out = torch.zeros(n, 1)
        out.index_add_(0, torch.floor(times * self._rate + 1e-6).long().clamp(max=n - 1), times[:, None].float())
        return (
            out / torch.bincount(torch.floor(times * self._rate + 1e-6).long().clamp(max=n - 1), minlength=n)[:, None]
        )


def test_parts_get_frames_at_their_own_rate():
    slow, fast = TimeStamp(rate=1.0, frame_rate=4.0), TimeStamp(rate=10.0, frame_rate=20.0, size=(16, 4))
    fused = FusedExtractor([slow, fast])
    assert (fused.rate, fused.frame_rate, fused.frame_size, fused.dim) == (10.0, 20.0, (16, 8), 2)
    times = torch.arange(60, dtype=torch.float64) / 20
    frames = torch.zeros(60, 3, 16, 8, dtype=torch.uint8)
    out = fused.extract(frames, times)  # 3 s
    assert torch.allclose(slow.seen, torch.arange(12, dtype=torch.float64) / 4)
    assert torch.equal(fast.seen, times)
    assert out.shape == (30, 2)
    # the 1-Hz stream is held over each second at 10 Hz
    assert torch.allclose(out[:, 0], torch.tensor([0.375, 1.375, 2.375]).repeat_interleave(10))


def test_downsampling_averages():
    fast = TimeStamp(rate=10.0, frame_rate=10.0)
    fused = FusedExtractor([fast], rate=2.0)
    times = torch.arange(20, dtype=torch.float64) / 10
    out = fused.extract(torch.zeros(20, 3, 8, 8, dtype=torch.uint8), times)
    assert torch.allclose(out[:, 0], torch.tensor([0.2, 0.7, 1.2, 1.7]))


def test_motion_plus_clip_dims_and_rates(synth):
    fused = build_extractor("motion+clip", debug=True)
    assert isinstance(fused, FusedExtractor)
    assert (fused.dim, fused.rate, fused.frame_rate, fused.frame_size) == (16 + 32, 10.0, 20.0, (64, 64))
    frames, times = synth("noise", 2.5, fused.frame_rate)
    out = fused.extract(frames, times)
    assert out.shape == (25, 48)
    motion, clip = fused.parts
    assert fused.extractors == [motion, clip]
    alone = clip.extract(frames[::20], times[::20], duration=2.5)  # [3, 32] at 1 Hz
    assert torch.allclose(out[:, 16:], alone.repeat_interleave(10, dim=0)[:25], atol=1e-5)
    assert torch.allclose(out[:, :16], motion.extract(frames, times), atol=1e-6)

    feats = extract_features(fused, frames, times)
    assert feats.dims == [16, 32] and sum(feats.dims) == feats.features.shape[1]
    assert feats.extractor_ids == [motion.id, clip.id] and feats.rate == 10.0
    assert feats.duration == pytest.approx(2.5)


def test_fused_rate_one_averages_motion(synth):
    fused = build_extractor("motion,i3d", debug=True, rate=1.0)
    assert fused.rate == 1.0 and fused.dim == 16 + 64
    frames, times = synth("moving", 2.0, fused.frame_rate, (32, 32))
    out = fused.extract(frames, times)
    motion = fused.parts[0].extract(frames, times)  # [20, 16] at 10 Hz
    assert out.shape == (2, 80)
    assert torch.allclose(out[:, :16], motion.view(2, 10, 16).mean(1), atol=1e-6)


def test_fusion_needs_parts():
    with pytest.raises(ConfigError):
        FusedExtractor([])
    assert FusedExtractor([MotionExtractor(rate=5.0)]).id == "motion-r5-f10-64x64@5Hz"
