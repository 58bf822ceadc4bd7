import math

import pytest
import torch

from v2meow.errors import MissingWeightsError
from v2meow.features.i3d import DEBUG_I3D_ARCH, I3D_URL, I3DExtractor


def tiny(seed: int = 0, **kw) -> I3DExtractor:
    torch.manual_seed(seed)
    return I3DExtractor(arch=DEBUG_I3D_ARCH, size=(32, 32), **kw)


def perturb_bn(module: torch.nn.Module, seed: int) -> None:
    """Give BatchNorm running stats non-default values so a round trip really checks them."""
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)


def test_tiny_forward_shape(synth):
    ext = tiny()
    assert (ext.dim, ext.rate, ext.frame_rate, ext.frame_size, ext.num_frames) == (64, 1.0, 4.0, (32, 32), 8)
    frames, times = synth("noise", 3.2, ext.frame_rate, (40, 48))
    out = ext.extract(frames, times)
    assert out.shape == (math.ceil(3.2), 64) and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    assert not torch.allclose(out[0], out[1])
    assert ext.extract(frames[:1], times[:1], duration=2.0).shape == (2, 64)  # one frame repeated


def test_clips_are_centred_on_each_step(synth):
    ext = tiny(rate=2.0)
    _, times = synth("static", 5.0, ext.frame_rate)
    idx = ext.clip_indices(times, 10)  # [10, 8]
    assert idx.shape == (10, 8)
    assert (idx[:, 1:] >= idx[:, :-1]).all()
    mid = times[idx[3:7]].mean(dim=1)  # steps far from the edges
    centres = (torch.arange(3, 7, dtype=torch.float64) + 0.5) / 2.0
    assert torch.allclose(mid, centres, atol=0.13)
    assert int(idx[0, 0]) == 0 and int(idx[-1, -1]) == times.numel() - 1  # clamped at the ends


def test_default_architecture_is_i3d_r50():
    ext = I3DExtractor()  # random weights, no I/O
    assert ext.dim == 2048 and ext.frame_size == (224, 224)
    assert ext.id == "i3d-r50-random-r1-8x4Hz"


def test_loads_a_pytorchvideo_checkpoint(tmp_path, synth):
    from pytorchvideo.models.hub.resnet import i3d_r50

    torch.manual_seed(5)
    net = i3d_r50(pretrained=False, **DEBUG_I3D_ARCH).eval()
    perturb_bn(net, 0)
    path = tmp_path / "I3D_8x8_R50.pyth"
    torch.save({"model_state": net.state_dict(), "epoch": 196, "cfg": "TRAIN: {}"}, path)

    ext = I3DExtractor.from_pretrained(path, arch=DEBUG_I3D_ARCH, size=(32, 32))
    assert ext.id.startswith("i3d-custom-I3D_8x8_R50-")
    frames, times = synth("noise", 2.0, 4.0, (32, 32))
    clip = frames[ext.clip_indices(times, 1)[0]]  # [8, 3, 32, 32]
    x = (clip.float() / 255 - 0.45) / 0.225
    x = x.transpose(0, 1)[None]  # [1, 3, 8, 32, 32]
    with torch.no_grad():
        for block in net.blocks[:-1]:
            x = block(x)
    assert torch.allclose(ext.extract(frames, times)[0], x.mean(dim=(2, 3, 4))[0], atol=1e-5)


def test_weights_round_trip(tmp_path, synth):
    src = tiny(seed=0)
    perturb_bn(src, 1)
    path = tmp_path / "i3d.pt"
    torch.save(src.state_dict(), path)
    dst = tiny(seed=1)
    frames, times = synth("noise", 2.0, 4.0, (32, 32))
    assert not torch.allclose(dst.extract(frames, times), src.extract(frames, times))
    dst.load_weights(path)
    assert torch.equal(dst.extract(frames, times), src.extract(frames, times))


def test_missing_weights_name_url_and_target(no_weight_caches):
    with pytest.raises(MissingWeightsError) as err:
        I3DExtractor.from_pretrained()
    msg = str(err.value)
    assert I3D_URL in msg
    assert str(no_weight_caches["torch_hub"] / "checkpoints" / "I3D_8x8_R50.pyth") in msg
