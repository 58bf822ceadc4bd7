"""Style embedders: tiny CLAP (real transformers classes, random weights, offline) and hashed-text."""

import json
import math
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from v2meow.errors import ConfigError, MissingWeightsError, UnknownComponentError, V2MeowError
from v2meow.tokenizers.style import (
    ClapStyleEmbedder,
    HashedTextConfig,
    HashedTextEmbedder,
    StyleEmbedder,
    UnsupportedInputError,
    build_style_embedder,
    load_style_embedder,
)
from v2meow.tokenizers.style.base import segment_starts

SR = 8000  # the debug CLAP's rate


def music(seconds, sr=SR, seed=0, channels=1):
    """A few seconds of tones + noise whose content changes every 2.5 s. [C, N]"""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(round(seconds * sr)) / sr
    freq = 110.0 * 2 ** torch.floor(t / 2.5).remainder(5)  # [N]
    wav = 0.3 * torch.sin(2 * math.pi * freq * t) + 0.05 * torch.randn(channels, t.numel(), generator=g)
    return wav.float()


@pytest.fixture(scope="module")
def clap():
    return build_style_embedder("clap", debug=True)


@pytest.fixture(scope="module")
def clap_dir(clap, tmp_path_factory):
    """The debug model written as a plain transformers CLAP checkpoint directory."""
    d = tmp_path_factory.mktemp("hf_clap")
    clap.model.save_pretrained(d)
    clap.feature_extractor.save_pretrained(d)
    clap.tokenizer.save_pretrained(d)
    return d


@pytest.fixture(scope="module")
def hashed():
    return build_style_embedder("hashed-text")


def assert_unit(x):
    assert torch.isfinite(x).all()
    torch.testing.assert_close(x.norm(dim=-1), torch.ones(x.shape[:-1]), atol=1e-5, rtol=0)


# ---- CLAP -------------------------------------------------------------------------------


def test_tiny_clap_loads_from_a_checkpoint_directory_offline(clap, clap_dir):
    emb = ClapStyleEmbedder.from_source(clap_dir)
    assert isinstance(emb, StyleEmbedder) and emb.config.source == str(clap_dir.resolve())
    assert (emb.dim, emb.sample_rate, emb.window_seconds) == (16, SR, 10.0)
    wav = music(3)
    torch.testing.assert_close(emb.embed_audio(wav, SR), clap.embed_audio(wav, SR))
    torch.testing.assert_close(emb.embed_text("drum and bass"), clap.embed_text("drum and bass"))


def test_clap_shapes_unit_norm_and_one_space(clap):
    a = clap.embed_audio(music(4), SR)
    t = clap.embed_text("fast drums")
    tb = clap.embed_text(["fast drums", "slow ambient pads", "ünïcödé 音楽"])
    assert a.shape == t.shape == (16,) and tb.shape == (3, 16)
    assert a.dtype == t.dtype == torch.float32
    for x in (a, t, tb):
        assert_unit(x)
    torch.testing.assert_close(tb[0], t, atol=1e-5, rtol=0)  # batching does not change a text's embedding
    assert not torch.allclose(tb[0], tb[1])
    assert float(a @ t) == pytest.approx(float(F.cosine_similarity(a, t, dim=0)), abs=1e-5)


def test_clip_audio_averages_10s_segments(clap):
    wav = music(25, seed=1)  # segments 0-10, 10-20, 20-25 s
    got = clap.embed_clip_audio(wav, SR)
    parts = [clap.embed_audio(wav[:, s * SR : (s + 10) * SR], SR) for s in (0, 10, 20)]
    torch.testing.assert_close(got, F.normalize(torch.stack(parts).mean(0), dim=0), atol=1e-5, rtol=0)
    assert_unit(got)
    assert not torch.allclose(got, parts[0], atol=1e-3)


def test_clip_audio_drops_a_last_segment_under_one_second(clap):
    wav = music(20.5, seed=2)
    parts = [clap.embed_audio(wav[:, s * SR : (s + 10) * SR], SR) for s in (0, 10)]
    expected = F.normalize(torch.stack(parts).mean(0), dim=0)
    torch.testing.assert_close(clap.embed_clip_audio(wav, SR), expected, atol=1e-5, rtol=0)
    short = music(0.5)  # the only segment is kept, padded
    torch.testing.assert_close(clap.embed_clip_audio(short, SR), clap.embed_audio(short, SR), atol=1e-5, rtol=0)
    assert segment_starts(25, 10, 1) == [0, 10, 20] and segment_starts(21, 10, 2) == [0, 10]
    assert segment_starts(5, 10, 8) == [0]


def test_long_audio_is_embedded_per_window_not_cropped(clap):
    wav = music(12)
    torch.testing.assert_close(clap.embed_audio(wav, SR), clap.embed_clip_audio(wav, SR), atol=1e-6, rtol=0)
    with pytest.raises(ConfigError, match="segment_seconds"):
        clap.embed_clip_audio(wav, SR, segment_seconds=30.0)


def test_clap_audio_edge_cases(clap):
    wav = music(2)
    stereo = torch.cat([wav, 0.5 * wav])  # [2, N]
    torch.testing.assert_close(clap.embed_audio(stereo, SR), clap.embed_audio(0.75 * wav[0], SR), atol=1e-5, rtol=0)
    up = clap.embed_audio(music(2, sr=22050)[0].numpy(), 22050)  # resampled to 8 kHz
    assert float(up @ clap.embed_audio(wav, SR)) > 0.95
    for x in (torch.zeros(1, SR), music(0.05), torch.tensor([0.1])):  # silence, 50 ms, one sample
        assert_unit(clap.embed_audio(x, SR))


def test_clap_is_deterministic_frozen_and_leaves_global_rng_alone(clap):
    np_state, torch_state = np.random.get_state()[1].copy(), torch.get_rng_state()
    a, b = clap.embed_audio(music(3), SR), clap.embed_audio(music(3), SR)
    assert torch.equal(a, b)
    assert np.array_equal(np.random.get_state()[1], np_state) and torch.equal(torch.get_rng_state(), torch_state)
    clap.train()
    assert not clap.training and not clap.model.training
    assert not any(p.requires_grad for p in clap.parameters())


def test_clap_save_load_embedded_and_by_reference(clap, clap_dir, tmp_path):
    wav = music(6, seed=3)
    # built in memory: saved in full
    clap.save_pretrained(tmp_path / "full")
    assert sorted(p.name for p in (tmp_path / "full").iterdir()) == ["config.json", "model.safetensors", "tokenizer"]
    loaded = load_style_embedder(tmp_path / "full")
    assert isinstance(loaded, ClapStyleEmbedder) and loaded.config.embedded
    assert torch.equal(loaded.embed_audio(wav, SR), clap.embed_audio(wav, SR))
    assert torch.equal(loaded.embed_text(["a b", "c"]), clap.embed_text(["a b", "c"]))
    # loaded from a checkpoint: config.json names it, weights stay where they are
    sourced = ClapStyleEmbedder.from_source(clap_dir)
    sourced.save_pretrained(tmp_path / "ref")
    assert [p.name for p in (tmp_path / "ref").iterdir()] == ["config.json"]
    cfg = json.loads((tmp_path / "ref" / "config.json").read_text())
    assert cfg["model_type"] == "clap-style" and cfg["source"] == str(clap_dir.resolve()) and cfg["dim"] == 16
    again = load_style_embedder(tmp_path / "ref")
    assert torch.equal(again.embed_clip_audio(wav, SR), clap.embed_clip_audio(wav, SR))
    # a plain transformers directory loads directly too
    torch.testing.assert_close(load_style_embedder(clap_dir).embed_text("x"), clap.embed_text("x"), atol=1e-5, rtol=0)
    # the referenced checkpoint is gone
    moved = tmp_path / "moved"
    shutil.copytree(clap_dir, moved)
    ClapStyleEmbedder.from_source(moved).save_pretrained(tmp_path / "ref2")
    shutil.rmtree(moved)
    with pytest.raises(MissingWeightsError, match="no such CLAP checkpoint"):
        load_style_embedder(tmp_path / "ref2")


def test_clap_config_that_does_not_match_its_weights(clap, tmp_path):
    clap.save_pretrained(tmp_path / "c")
    path = tmp_path / "c" / "config.json"
    cfg = json.loads(path.read_text())
    cfg["clap_config"]["projection_dim"] = 8
    path.write_text(json.dumps(cfg))
    with pytest.raises(ConfigError, match="do not match the config"):
        load_style_embedder(tmp_path / "c")


def test_missing_clap_weights_name_what_to_download(tmp_path):
    with pytest.raises(MissingWeightsError, match=r"v2meow-test/no-such-clap.*hf download v2meow-test/no-such-clap"):
        ClapStyleEmbedder.from_source("v2meow-test/no-such-clap")
    with pytest.raises(MissingWeightsError, match="no such CLAP checkpoint directory"):
        ClapStyleEmbedder.from_source(tmp_path / "nothing")
    (tmp_path / "bert").mkdir()
    (tmp_path / "bert" / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(ConfigError, match="not a CLAP one"):
        ClapStyleEmbedder.from_source(tmp_path / "bert")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingWeightsError, match="not a complete CLAP checkpoint"):
        ClapStyleEmbedder.from_source(tmp_path / "empty")


# ---- hashed-text --------------------------------------------------------------------------


def test_hashed_text_is_deterministic_and_similar_texts_are_closer(hashed):
    texts = ["fast upbeat drums", "fast upbeat drum", "slow ambient pads"]
    e = hashed.embed_text(texts)
    assert e.shape == (3, 128)
    assert_unit(e)
    assert torch.equal(e, HashedTextEmbedder().embed_text(texts))  # a fresh instance agrees
    assert torch.equal(hashed.embed_text("  Fast UPBEAT drums\n"), e[0])  # case and outer spaces ignored
    sim = e @ e.T
    assert sim[0, 1] > 0.7 and abs(sim[0, 2]) < 0.3 and sim[0, 1] > sim[0, 2] + 0.4
    slow = hashed.embed_text(["slow", "slow ambient", "fast"])
    assert slow[0] @ slow[1] > slow[0] @ slow[2]
    other = HashedTextEmbedder(HashedTextConfig(seed=1)).embed_text(texts[0])
    assert not torch.allclose(other, e[0])


def test_hashed_text_is_text_only(hashed):
    assert hashed.sample_rate is None and not hashed.supports_audio
    with pytest.raises(UnsupportedInputError, match="text-only"):
        hashed.embed_audio(torch.zeros(16000), 16000)
    with pytest.raises(UnsupportedInputError, match="text-only"):
        hashed.embed_clip_audio(torch.zeros(16000), 16000)
    assert issubclass(UnsupportedInputError, V2MeowError)


def test_hashed_text_save_load_round_trip(hashed, tmp_path):
    emb = HashedTextEmbedder(HashedTextConfig(dim=32, num_buckets=512, seed=7))
    emb.save_pretrained(tmp_path / "h")
    cfg = json.loads((tmp_path / "h" / "config.json").read_text())
    assert cfg["model_type"] == "hashed-text" and cfg["dim"] == 32
    loaded = load_style_embedder(tmp_path / "h")
    assert isinstance(loaded, HashedTextEmbedder) and loaded.id == emb.id
    texts = ["drum and bass", "ambient"]
    assert torch.equal(loaded.embed_text(texts), emb.embed_text(texts))


# ---- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["clap", "hashed"])
@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty or whitespace"),
        (" \t\n ", "empty or whitespace"),
        (b"caf\xe9", "not valid UTF-8"),
        ("caf\udce9", "not valid UTF-8"),
        ([], "no text given"),
        (["ok", ""], r"text #1 is empty"),
        ([None], "must be a str"),
        (42, "must be a str"),
    ],
)
def test_bad_text_is_a_clear_error(kind, text, message, request):
    emb = request.getfixturevalue(kind)
    with pytest.raises(ConfigError, match=message):
        emb.embed_text(text)


def test_utf8_bytes_are_accepted(clap, hashed):
    for emb in (clap, hashed):
        torch.testing.assert_close(emb.embed_text("café".encode()), emb.embed_text("café"))


@pytest.mark.parametrize(
    "wav, sr, message",
    [
        (torch.tensor([0.0, float("nan"), 0.0]), SR, "NaN/inf"),
        (torch.full((2, 100), float("inf")), SR, "NaN/inf"),
        (torch.zeros(0), SR, "empty"),
        (torch.zeros(1, 2, 100), SR, "shape"),
        (torch.zeros(8000, 2), SR, r"\[N, C\]"),
        (torch.zeros(100, dtype=torch.int16), SR, "dtype"),
        (torch.zeros(100), 0, "sample_rate"),
        (torch.zeros(100), 8000.5, "sample_rate"),
        (torch.zeros(1), 48000, "too short"),  # one sample at 48 kHz is none at 8 kHz
    ],
)
def test_bad_audio_is_a_clear_error(clap, wav, sr, message):
    with pytest.raises(ConfigError, match=message):
        clap.embed_audio(wav, sr)


def test_registry_errors(tmp_path):
    with pytest.raises(UnknownComponentError, match="hashed-text"):
        build_style_embedder("mulan")
    with pytest.raises(ConfigError):
        build_style_embedder("hashed-text", dim=0)
    (tmp_path / "x").mkdir()
    with pytest.raises(MissingWeightsError):
        load_style_embedder(tmp_path / "x")
    (tmp_path / "x" / "config.json").write_text('{"model_type": "encodec"}')
    with pytest.raises(UnknownComponentError, match="not a style embedder"):
        load_style_embedder(tmp_path / "x")
