import math

import pytest
import torch
from safetensors.torch import save_file

from v2meow.errors import ConfigError, MissingWeightsError, UnknownComponentError
from v2meow.features._weights import read_state_dict
from v2meow.features.clip import DEBUG_CLIP_ARCH, ClipExtractor, find_clip_weights


def tiny(seed: int = 0, **kw) -> ClipExtractor:
    torch.manual_seed(seed)
    return ClipExtractor(model_name="debug", pretrained=None, arch=DEBUG_CLIP_ARCH, **kw)


def test_tiny_forward_shape_and_norm(synth):
    ext = tiny()
    assert (ext.dim, ext.rate, ext.frame_rate, ext.frame_size) == (32, 1.0, 1.0, (32, 32))
    frames, times = synth("noise", 3.0, ext.frame_rate, (48, 40))
    out = ext.extract(frames, times, duration=3.5)
    assert out.shape == (4, 32) and out.dtype == torch.float32
    assert torch.allclose(out.norm(dim=-1), torch.ones(4), atol=1e-5)
    assert torch.equal(out[3], out[2])  # the last step has no frame: held
    raw = tiny(normalize=False).extract(frames, times, duration=3.5)
    assert not torch.allclose(raw.norm(dim=-1), torch.ones(4))


def test_rate_and_batching(synth):
    ext = tiny(rate=2.0, batch_size=3)
    frames, times = synth("noise", 2.5, ext.frame_rate)
    out = ext.extract(frames, times)
    assert out.shape == (math.ceil(2.5 * 2), 32)
    one_batch = tiny(rate=2.0, batch_size=64).extract(frames, times)
    assert torch.allclose(out, one_batch, atol=1e-5)


@pytest.mark.slow
def test_default_architecture_is_vit_l14():
    ext = ClipExtractor()  # random weights, no I/O
    assert ext.dim == 768 and ext.frame_size == (224, 224) and ext.quick_gelu  # OpenAI weights use QuickGELU
    assert ext.id == "clip-ViT-L-14-openai-r1"
    assert not any(k.startswith(("transformer.", "token_embedding")) for k in ext.state_dict())  # no text tower


def test_weights_round_trip(tmp_path, synth):
    frames, times = synth("noise", 2.0, 1.0)
    src = tiny(seed=0)
    path = tmp_path / "clip.safetensors"
    save_file(src.state_dict(), str(path))
    dst = tiny(seed=1)
    assert not torch.allclose(dst.extract(frames, times), src.extract(frames, times))
    dst.load_weights(path)
    assert torch.equal(dst.extract(frames, times), src.extract(frames, times))
    loaded = ClipExtractor.from_pretrained(str(path), model_name="debug", arch=DEBUG_CLIP_ARCH)
    assert torch.equal(loaded.extract(frames, times), src.extract(frames, times))
    assert loaded.id == "clip-debug-clip.safetensors-r1"


def test_loads_a_full_open_clip_checkpoint(tmp_path, synth):
    import open_clip

    torch.manual_seed(3)
    arch = dict(DEBUG_CLIP_ARCH, text_cfg={"context_length": 8, "vocab_size": 50, "width": 32, "heads": 2, "layers": 1})
    model = open_clip.CLIP(**arch).eval()
    path = tmp_path / "open_clip_pytorch_model.bin"
    torch.save(model.state_dict(), path)
    ext = tiny(seed=4)
    ext.load_weights(path)
    frames, times = synth("noise", 2.0, 1.0, (32, 32))
    x = (frames.float() / 255 - ext.mean) / ext.std
    with torch.no_grad():
        expected = model.encode_image(x, normalize=True)
    assert torch.allclose(ext.extract(frames, times), expected, atol=1e-5)


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_reads_torchscript_archives_only_when_trusted(tmp_path, monkeypatch):
    class Holder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.visual = torch.nn.Linear(2, 3)

        def forward(self, x):
            return self.visual(x)

    path = tmp_path / "ViT-X.pt"
    torch.jit.script(Holder()).save(str(path))
    calls = []
    real = torch.jit.load
    monkeypatch.setattr(torch.jit, "load", lambda *a, **k: calls.append(a) or real(*a, **k))
    with pytest.raises(ConfigError, match="TorchScript.*--trust-pickle") as err:
        read_state_dict(path)
    assert "\n" not in str(err.value) and calls == []  # refused before torch.jit.load ran anything
    assert set(read_state_dict(path, trust_pickle=True)) == {"visual.weight", "visual.bias"}
    assert len(calls) == 1


def test_wrong_weights_give_a_clear_error(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"visual.foo": torch.zeros(2)}, str(path))
    with pytest.raises(ConfigError, match="do not fit"):
        tiny().load_weights(path)
    save_file({"text.foo": torch.zeros(2)}, str(path))
    with pytest.raises(ConfigError, match="no CLIP image tower"):
        tiny().load_weights(path)


def test_missing_weights_name_what_to_download(no_weight_caches):
    with pytest.raises(MissingWeightsError) as err:
        ClipExtractor.from_pretrained("openai", model_name="ViT-L-14")
    msg = str(err.value)
    assert "hf download timm/vit_large_patch14_clip_224.openai open_clip_model.safetensors" in msg
    assert "ViT-L-14.pt" in msg and "pretrained='/path/to/weights'" in msg
    with pytest.raises(MissingWeightsError):
        tiny().load_weights(no_weight_caches["hf"] / "nope.safetensors")


def test_finds_weights_in_the_hf_cache(tmp_path, no_weight_caches):
    repo = no_weight_caches["hf"] / "models--timm--vit_large_patch14_clip_224.openai"
    snap = repo / "snapshots" / ("a" * 40)
    snap.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    (snap / "open_clip_model.safetensors").write_bytes(b"x")
    assert find_clip_weights("ViT-L-14", "openai") == str(snap / "open_clip_model.safetensors")


def test_unknown_model_or_tag():
    with pytest.raises(UnknownComponentError, match="ViT-L-14"):
        ClipExtractor(model_name="ViT-Nope")
    with pytest.raises(UnknownComponentError, match="openai"):
        find_clip_weights("ViT-L-14", "nope")
