import numpy as np
import pytest
import torch
from evalsynth import music_like

from v2meow.errors import ConfigError, MissingWeightsError, UnknownComponentError
from v2meow.evaluation.embeddings import build_backbone
from v2meow.evaluation.vggish import VGGISH_URL, VGGish, vggish_examples


def test_mel_backbone_windows_and_determinism():
    bb = build_backbone("mel")
    assert bb.weight_free and "weight-free" in bb.label
    a = bb.embed(music_like(0, 3.0), 16_000)
    assert a.shape == (5, 96) and a.dtype == np.float64  # 1-s windows every 0.5 s
    np.testing.assert_array_equal(a, bb.embed(music_like(0, 3.0), 16_000))
    assert not np.allclose(a, bb.embed(music_like(1, 3.0), 16_000))
    assert bb.embed(music_like(0, 0.4), 16_000).shape == (1, 96)  # shorter than a window
    with pytest.raises(ConfigError, match="too short"):
        bb.embed(np.zeros(100, np.float32), 16_000)


def test_build_backbone_errors():
    with pytest.raises(UnknownComponentError):
        build_backbone("trill")
    with pytest.raises(ConfigError, match="weight-free"):
        build_backbone("mel", weights="x.pth")
    with pytest.raises(MissingWeightsError, match="torchvggish"):
        build_backbone("vggish")
    with pytest.raises(MissingWeightsError, match=VGGISH_URL):
        build_backbone("vggish", weights="/nonexistent/vggish.pth")


def test_vggish_front_end_examples():
    ex = vggish_examples(np.zeros(16_000 * 2, np.float32))
    assert ex.shape == (2, 96, 64) and ex.dtype == np.float32
    assert vggish_examples(np.zeros(4000, np.float32)).shape == (1, 96, 64)  # padded to one example


@pytest.mark.slow
def test_vggish_loads_torchvggish_state_dict(tmp_path):
    torch.manual_seed(0)
    ref = VGGish(final_relu=True)  # torchvggish keeps a last ReLU (embeddings.5), which holds no weights
    state = {f"module.{k}": v for k, v in ref.state_dict().items()}
    state["pproc._pca_matrix"] = torch.zeros(128, 128)  # PCA keys are ignored
    torch.save(state, tmp_path / "vggish.pth")
    bb = build_backbone("vggish", weights=str(tmp_path / "vggish.pth"))
    out = bb.embed(music_like(0, 3.0, sample_rate=22_050), 22_050)
    assert out.shape == (3, 128) and np.isfinite(out).all()
    ex = torch.from_numpy(vggish_examples(music_like(0, 1.0)))[:, None]
    with torch.inference_mode():
        expected = ref.embeddings[:-1](ref.features(ex).permute(0, 2, 3, 1).flatten(1))  # before the last ReLU
    np.testing.assert_allclose(bb.frames(music_like(0, 1.0)), expected.double().numpy(), rtol=1e-4, atol=1e-5)
    (tmp_path / "bad.pth").write_bytes(b"garbage")
    with pytest.raises(ConfigError):
        build_backbone("vggish", weights=str(tmp_path / "bad.pth"))
    torch.save({"features.0.weight": torch.zeros(1)}, tmp_path / "partial.pth")
    with pytest.raises(ConfigError, match="not a torchvggish"):
        build_backbone("vggish", weights=str(tmp_path / "partial.pth"))


def test_clap_backbone_from_debug_model(debug_clap_backbone):
    bb = debug_clap_backbone
    assert bb.supports_text and not bb.weight_free
    frames = bb.embed(music_like(0, 12.0), 16_000)  # two CLAP windows (10 s + 2 s)
    assert frames.shape == (2, 16)
    np.testing.assert_allclose(np.linalg.norm(frames, axis=1), 1.0, rtol=1e-5)
    assert bb.embed_text(["drum and bass", "calm piano"]).shape == (2, 16)


def test_clap_backbone_loads_a_saved_directory(tmp_path, debug_clap_backbone):
    debug_clap_backbone.embedder.save_pretrained(tmp_path / "clap")
    bb = build_backbone("clap", weights=str(tmp_path / "clap"))
    wav = music_like(3, 2.0)
    np.testing.assert_allclose(bb.embed(wav, 16_000), debug_clap_backbone.embed(wav, 16_000), atol=1e-5)
    with pytest.raises(MissingWeightsError):
        build_backbone("clap", weights=str(tmp_path / "nothing"))
