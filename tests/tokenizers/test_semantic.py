"""Semantic tokenizer: backbones (tiny transformers configs, mel), streaming k-means, save/load, CLI, bad input."""

import copy
import json
import math

import numpy as np
import pytest
import soundfile as sf
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from v2meow.cli import tokenizer as cli
from v2meow.errors import ConfigError, MissingWeightsError, UnknownComponentError, V2MeowError
from v2meow.tokenizers.semantic import (
    AudioTooShortError,
    BadAudioError,
    FitReport,
    HubertBackbone,
    MelBackbone,
    SemanticTokenizer,
    W2VBertBackbone,
    build_backbone,
    fit_centroids,
    fit_kmeans,
    load_backbone,
    tiny_hubert_config,
    tiny_w2v_bert_config,
)
from v2meow.tokenizers.semantic.tokenizer import Centroids

SR = 16000


def tone(freq, seconds=1.0, sr=SR, amp=0.5):
    t = torch.arange(int(seconds * sr)) / sr
    return amp * torch.sin(2 * math.pi * freq * t)


def tones():
    torch.manual_seed(0)
    return [tone(f) + 0.01 * torch.randn(SR) for f in (220.0, 660.0, 1760.0, 4000.0)]


@pytest.fixture(scope="module")
def mel_tokenizer():
    return fit_kmeans(tones(), MelBackbone(), k=8, batch_frames=64, seed=0)


# -- backbones ---------------------------------------------------------------------------------


@pytest.mark.parametrize("sample_rate,hop,deltas,dim", [(16000, 320, True, 128), (24000, 480, False, 64)])
def test_mel_backbone_rate_and_shape(sample_rate, hop, deltas, dim):
    b = MelBackbone(sample_rate=sample_rate, hop_length=hop, deltas=deltas)
    assert b.frame_rate == 50.0 and b.dim == dim
    assert b(torch.randn(2, sample_rate)).shape == (2, 50, dim)
    assert b(torch.randn(1, hop * 3 + hop - 1)).shape == (1, 3, dim)
    assert b.state_dict() == {}  # weight-free: nothing to store


@pytest.mark.parametrize("cls", [HubertBackbone, W2VBertBackbone])
def test_tiny_transformers_backbones_run_offline(cls):
    torch.manual_seed(0)
    b = cls.debug(layer=1)
    assert (b.sample_rate, b.frame_rate, b.dim) == (16000, 50.0, 32)
    for n in (320, 16000, 16000 + 319):
        assert b(torch.randn(2, n)).shape == (2, n // 320, 32)
    rebuilt = build_backbone(cls.name, json.loads(json.dumps(b.spec())))  # spec is JSON and rebuilds the architecture
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {k: v.shape for k, v in b.state_dict().items()}


def _full_hidden_states(name, full, x, b):
    if name == "hubert":
        return full(F.pad(x, (b.pad // 2, b.pad - b.pad // 2)), output_hidden_states=True).hidden_states
    length = 400 + 160 * (2 * (x.shape[-1] // 320) - 1)
    feats = b.extractor(F.pad(x, (120, 120))[0, :length].numpy(), sampling_rate=SR, return_tensors="pt")[
        "input_features"
    ]
    return full(feats, output_hidden_states=True).hidden_states


@pytest.mark.parametrize("name", ["hubert", "w2v-bert"])
@pytest.mark.parametrize("layer", [1, 2])
def test_backbone_returns_the_configured_layer(name, layer):
    from transformers import HubertModel, Wav2Vec2BertModel

    torch.manual_seed(0)
    if name == "hubert":
        model, cls = HubertModel(tiny_hubert_config(num_hidden_layers=3)), HubertBackbone
    else:
        model, cls = Wav2Vec2BertModel(tiny_w2v_bert_config(num_hidden_layers=3)), W2VBertBackbone
    full = copy.deepcopy(model).eval()
    b = cls(model, layer=layer)
    assert len(b.model.encoder.layers) == layer  # later blocks are dropped
    x = torch.randn(1, SR)
    torch.testing.assert_close(b(x), _full_hidden_states(name, full, x, b)[layer][:, :50])


def test_bad_layer_and_unknown_backbone():
    with pytest.raises(ConfigError, match="layer must be in 1..2"):
        HubertBackbone.debug(layer=5)
    with pytest.raises(UnknownComponentError, match="known: hubert, mel, mel-pitch, mert, w2v-bert"):
        build_backbone("wavlm")
    with pytest.raises(ConfigError, match="no weights"):
        load_backbone("mel", "some/dir")


def test_missing_weights_name_the_download(tmp_path):
    with pytest.raises(MissingWeightsError, match="hf download v2meow-test/no-such-model") as e:
        load_backbone("hubert", "v2meow-test/no-such-model")
    assert "\n" not in str(e.value)
    with pytest.raises(MissingWeightsError, match="facebook/w2v-bert-2.0"):
        load_backbone("w2v-bert", str(tmp_path))  # a directory without config.json


# -- k-means -----------------------------------------------------------------------------------


def blobs(n_per=300, k=8, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 10, (k, dim))
    labels = np.repeat(np.arange(k), n_per)
    x = centres[labels] + rng.normal(0, 0.5, (len(labels), dim))
    return x.astype(np.float32), labels  # grouped by cluster


@pytest.mark.parametrize("normalize", [False, True])
def test_streaming_kmeans_recovers_planted_clusters(normalize):
    from sklearn.metrics import adjusted_rand_score

    x, labels = blobs()
    order = np.random.default_rng(1).permutation(len(x))  # a stream whose early frames cover every cluster
    x, labels = x[order], labels[order]
    chunks = (x[i : i + 100] for i in range(0, len(x), 100))  # pool < data: really streamed
    res = fit_centroids(chunks, 8, batch_frames=200, pool_frames=600, normalize=normalize, seed=0)
    assert res.centroids.shape == (8, 16) and res.frames == len(x)
    q = Centroids(8, 16)
    q.set(res.centroids, res.mean, res.std)
    pred = q.assign(torch.from_numpy(x)).numpy()
    assert adjusted_rand_score(labels, pred) > 0.99


def test_kmeans_grouped_input_within_one_pool():
    from sklearn.metrics import adjusted_rand_score

    x, labels = blobs()  # sorted by cluster: fine as long as the first pool sees every cluster
    res = fit_centroids((x[i : i + 100] for i in range(0, len(x), 100)), 8, batch_frames=800, seed=0)
    q = Centroids(8, 16)
    q.set(res.centroids)
    assert adjusted_rand_score(labels, q.assign(torch.from_numpy(x)).numpy()) > 0.99


def test_kmeans_is_deterministic_and_respects_limits():
    x, _ = blobs()
    a = fit_centroids([x], 8, batch_frames=200, seed=3)
    b = fit_centroids([x], 8, batch_frames=200, seed=3)
    np.testing.assert_array_equal(a.centroids, b.centroids)
    assert fit_centroids([x], 8, batch_frames=200, max_frames=500).frames == 500
    sub = fit_centroids([x], 8, batch_frames=200, frame_fraction=0.5, seed=0)
    assert 0.4 * len(x) < sub.frames < 0.6 * len(x)
    with pytest.raises(ConfigError, match="at least k=8 frames"):
        fit_centroids([x[:5]], 8, batch_frames=200)
    with pytest.raises(ConfigError):
        fit_centroids([x], 8, batch_frames=4)


# -- tokenizer ---------------------------------------------------------------------------------


def test_mel_tokenizer_contract_and_distinct_tones(mel_tokenizer):
    tok = mel_tokenizer
    assert (tok.sample_rate, tok.frame_rate, tok.vocab_size) == (SR, 50.0, 8)
    codes = [tok.encode(w, SR) for w in tones()]
    assert all(c.dtype == torch.long and c.shape == (50,) and 0 <= c.min() and c.max() < 8 for c in codes)
    majority = [int(c[5:-5].mode().values) for c in codes]  # interior frames of each tone
    assert len(set(majority)) == 4


def test_save_load_identical_tokens(mel_tokenizer, tmp_path):
    mel_tokenizer.save_pretrained(tmp_path / "tok")
    loaded = SemanticTokenizer.from_pretrained(tmp_path / "tok")
    x = torch.cat(tones())
    assert torch.equal(loaded.encode(x, SR), mel_tokenizer.encode(x, SR))
    cfg = json.loads((tmp_path / "tok" / "config.json").read_text())
    assert cfg["model_type"] == "semantic_tokenizer" and cfg["backbone_weights"] is None and cfg["normalize"] is True


@pytest.mark.parametrize("cls", [HubertBackbone, W2VBertBackbone])
def test_tiny_backbone_weights_saved_inline(cls, tmp_path):
    torch.manual_seed(0)
    tok = fit_kmeans([torch.randn(SR) for _ in range(2)], cls.debug(layer=2), k=4, batch_frames=40, seed=0)
    tok.save_pretrained(tmp_path / "tok")
    keys = load_file(str(tmp_path / "tok" / "model.safetensors")).keys()
    assert any(k.startswith("backbone.model.") for k in keys) and "quantizer.centroids" in keys
    x = torch.randn(SR // 2)
    assert torch.equal(SemanticTokenizer.from_pretrained(tmp_path / "tok").encode(x, SR), tok.encode(x, SR))


def test_pretrained_backbone_is_referenced_not_copied(tmp_path):
    from transformers import HubertModel

    torch.manual_seed(0)
    HubertModel(tiny_hubert_config()).save_pretrained(tmp_path / "hubert")
    backbone = load_backbone("hubert", str(tmp_path / "hubert"), layer=1)
    tok = fit_kmeans([torch.randn(SR)], backbone, k=4, batch_frames=40)
    assert tok.config.backbone_weights == str((tmp_path / "hubert").resolve())
    tok.save_pretrained(tmp_path / "tok")
    assert set(load_file(str(tmp_path / "tok" / "model.safetensors"))) == {
        "quantizer.centroids",
        "quantizer.mean",
        "quantizer.std",
    }
    x = torch.randn(SR)
    assert torch.equal(SemanticTokenizer.from_pretrained(tmp_path / "tok").encode(x, SR), tok.encode(x, SR))
    (tmp_path / "hubert").rename(tmp_path / "moved")
    with pytest.raises(MissingWeightsError):
        SemanticTokenizer.from_pretrained(tmp_path / "tok")
    moved = SemanticTokenizer.from_pretrained(tmp_path / "tok", backbone_weights=str(tmp_path / "moved"))
    assert torch.equal(moved.encode(x, SR), tok.encode(x, SR))


def test_mert_style_checkpoint_loads_as_hubert(tmp_path):
    from transformers import HubertModel, Wav2Vec2FeatureExtractor

    torch.manual_seed(0)
    HubertModel(tiny_hubert_config()).save_pretrained(tmp_path / "mert")
    cfg_path = tmp_path / "mert" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg.update(
        model_type="mert_model",
        architectures=["MERTModel"],
        feature_extractor_cqt=False,
        deepnorm=False,
        attention_relax=-1.0,
    )
    cfg_path.write_text(json.dumps(cfg))
    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=24000, do_normalize=True).save_pretrained(tmp_path / "mert")
    b = load_backbone("hubert", str(tmp_path / "mert"), layer=2)
    assert (b.sample_rate, b.frame_rate, b.normalize_waveform) == (24000, 75.0, True)
    assert b(torch.randn(1, 24000)).shape == (1, 75, 32)
    cfg_path.write_text(json.dumps({**cfg, "feature_extractor_cqt": True}))
    with pytest.raises(ConfigError, match="feature_extractor_cqt"):
        load_backbone("hubert", str(tmp_path / "mert"), layer=2)


def test_chunked_encoding_matches_one_pass_and_frame_averaging(mel_tokenizer):
    x = torch.cat(tones())  # 4 s
    tok = copy.deepcopy(mel_tokenizer)
    whole = tok.features(x, SR)
    tok.config.chunk_seconds = 0.3
    torch.testing.assert_close(tok.features(x, SR), whole)
    tok2 = fit_kmeans(tones(), MelBackbone(), k=8, average_frames=2, batch_frames=40)
    assert tok2.frame_rate == 25.0 and tok2.encode(x, SR).shape == (100,)
    torch.testing.assert_close(tok2.features(x, SR), whole.reshape(100, 2, -1).mean(1))


# -- bad input ---------------------------------------------------------------------------------


def test_bad_audio(mel_tokenizer):
    tok = mel_tokenizer
    nan = torch.zeros(SR)
    nan[10] = float("nan")
    with pytest.raises(BadAudioError, match="NaN or inf") as e:
        tok.encode(nan, SR)
    assert isinstance(e.value, V2MeowError) and isinstance(e.value, ValueError)
    with pytest.raises(BadAudioError, match="NaN or inf"):
        tok.encode(torch.full((SR,), float("inf")), SR)
    for n in (0, 100, 319):
        with pytest.raises(AudioTooShortError, match="one token needs at least 320"):
            tok.encode(torch.zeros(n), SR)
    with pytest.raises(BadAudioError, match=r"looks like \[N, C\]"):
        tok.encode(torch.zeros(SR, 2), SR)
    with pytest.raises(BadAudioError):
        tok.encode(torch.zeros(1, 2, SR), SR)
    with pytest.raises(BadAudioError, match="dtype"):
        tok.encode(torch.zeros(SR, dtype=torch.bool), SR)
    pcm = (tone(440.0) * 32767).to(torch.int16)  # int16 PCM is scaled, not read as huge floats
    assert torch.equal(tok.encode(pcm, SR), tok.encode(pcm.float() / 32768, SR))


def test_silence_stereo_and_other_rates(mel_tokenizer):
    tok = mel_tokenizer
    silent = tok.encode(torch.zeros(SR), SR)
    assert silent.shape == (50,) and len(silent.unique()) == 1  # documented: one repeated token
    left, right = tone(440.0), tone(1000.0)
    torch.testing.assert_close(tok.features(torch.stack([left, right]), SR), tok.features((left + right) / 2, SR))
    x44 = tone(440.0, sr=44100)
    codes = tok.encode(x44, 44100)  # resampled to 16 kHz
    assert codes.shape == (50,)
    assert (codes == tok.encode(tone(440.0), SR)).float().mean() > 0.9


def test_config_weight_mismatch_is_typed(mel_tokenizer, tmp_path):
    mel_tokenizer.save_pretrained(tmp_path / "tok")
    cfg_path = tmp_path / "tok" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg_path.write_text(json.dumps({**cfg, "num_clusters": 16}))
    with pytest.raises(ConfigError, match="quantizer.centroids"):
        SemanticTokenizer.from_pretrained(tmp_path / "tok")
    cfg_path.write_text(json.dumps({**cfg, "dim": 64}))
    with pytest.raises(ConfigError, match="dim 128 vs 64"):
        SemanticTokenizer.from_pretrained(tmp_path / "tok")
    with pytest.raises(MissingWeightsError):
        SemanticTokenizer.from_pretrained(tmp_path / "nothing")


# -- CLI ---------------------------------------------------------------------------------------


def test_cli_fit_kmeans_then_encode(tmp_path, capsys):
    audio = tmp_path / "audio"
    (audio / "sub").mkdir(parents=True)
    for i, f in enumerate((220.0, 660.0, 1760.0)):
        sf.write(audio / f"t{i}.wav", tone(f, sr=22050).numpy(), 22050)
    sf.write(audio / "sub" / "stereo.flac", torch.stack([tone(4000.0), tone(300.0)]).T.numpy(), SR)
    (audio / "broken.wav").write_bytes(b"not a wav")
    rc = cli.main(
        [
            "fit-kmeans",
            "--audio",
            str(audio),
            "--backbone",
            "mel",
            "--k",
            "8",
            "--out",
            str(tmp_path / "tok"),
            "--batch-frames",
            "64",
            "--seed",
            "1",
            "--quiet",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "skipped" in err and "broken.wav" in err and "4 file(s), 1 skipped" in err
    rc = cli.main(
        [
            "encode",
            str(audio / "t1.wav"),
            "--tokenizer",
            str(tmp_path / "tok"),
            "--out",
            str(tmp_path / "t.safetensors"),
        ]
    )
    assert rc == 0 and "50 tokens at 50 Hz" in capsys.readouterr().err
    tokens = load_file(str(tmp_path / "t.safetensors"))["tokens"]
    assert tokens.shape == (50,) and tokens.dtype == torch.long and tokens.max() < 8
    # existing output directory is refused, one line, exit 2
    rc = cli.main(
        [
            "fit-kmeans",
            "--audio",
            str(audio),
            "--backbone",
            "mel",
            "--k",
            "8",
            "--out",
            str(tmp_path / "tok"),
            "--quiet",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "not empty" in err and len(err.strip().splitlines()) == 1


def test_cli_errors_are_one_line(tmp_path, capsys):
    out = str(tmp_path / "o.safetensors")
    rc = cli.main(["encode", str(tmp_path / "missing.wav"), "--tokenizer", str(tmp_path / "none"), "--out", out])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "v2meow-tokenizer: error:" in err
    with pytest.raises(SystemExit) as e:
        cli.main(["--help"])
    assert e.value.code == 0 and "fit-kmeans" in capsys.readouterr().out


def test_fit_report_counts(tmp_path):
    report = FitReport()
    fit_kmeans([*tones(), torch.zeros(10)], MelBackbone(), k=4, batch_frames=40, on_error="skip", report=report)
    assert report.files_used == 4 and len(report.skipped) == 1 and "one token needs" in report.skipped[0]
