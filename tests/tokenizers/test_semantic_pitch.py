"""The `mel-pitch` semantic backbone (chroma, pitch salience, onset strength beside the log-mel) and the
per-token average codec frames that the semantic sketch decodes."""

import numpy as np
import pytest
import torch

from v2meow.errors import ConfigError, MissingWeightsError
from v2meow.tokenizers.acoustic import VocosCodec
from v2meow.tokenizers.semantic import (
    PitchMelBackbone,
    SemanticTokenizer,
    build_backbone,
    fit_kmeans,
    fit_token_frames,
    load_token_frames,
    save_token_frames,
    sketch,
)
from v2meow.tokenizers.semantic.frames import token_frame_pairs

SR = 16000
ALL_BLOCKS = {"mel": 1.0, "delta": 0.5, "chroma": 1.0, "salience": 1.0, "onset": 0.7}


def every_block() -> PitchMelBackbone:
    return PitchMelBackbone(n_mels=64, mel_front="slaney", block_weights=ALL_BLOCKS)


def tone(freq: float, seconds: float = 1.0, amp: float = 0.3) -> torch.Tensor:
    t = torch.arange(round(SR * seconds), dtype=torch.float64) / SR
    return (amp * torch.sin(2 * torch.pi * freq * t)).float()


def clicks(times: list[float], seconds: float = 2.0) -> torch.Tensor:
    x = torch.zeros(round(SR * seconds))
    for t in times:
        x[round(t * SR) : round(t * SR) + 32] = 0.8
    return x


def melody(seconds: float = 6.0, seed: int = 0) -> torch.Tensor:
    """Harmonic notes changing every 0.25 s over a quiet noise bed: `[N]`."""
    g = torch.Generator().manual_seed(seed)
    n = round(SR * seconds)
    t = torch.arange(n) / SR
    f0 = 110.0 * 2 ** (torch.randint(0, 24, (int(seconds * 4) + 1,), generator=g) / 12)
    f = f0[(t * 4).long()]
    x = sum(torch.sin(2 * torch.pi * k * torch.cumsum(f, 0) / SR) / k for k in range(1, 4))
    env = torch.exp(-6 * ((t * 4) % 1.0))  # a decaying note every 0.25 s: onsets
    return 0.2 * x * env + 0.01 * torch.randn(n, generator=g)


def test_features_have_the_declared_shape_rate_and_blocks():
    default = PitchMelBackbone()
    assert list(default.block_slices()) == ["mel", "chroma", "onset"] and default.dim == 128 + 12 + 2
    b = every_block()
    assert b.frame_rate == 50 and b.dim == 64 + 64 + 12 + 13 + 2
    x = torch.randn(2, SR + 123) * 0.1
    f = b(x)
    assert f.shape == (2, (SR + 123) // 320, b.dim) and torch.isfinite(f).all()
    slices = b.block_slices()
    assert [s.stop - s.start for s in slices.values()] == [64, 64, 12, 13, 2] and slices["onset"].stop == b.dim
    w = b.feature_weights()
    assert w.shape == (b.dim,) and np.allclose(w[slices["mel"]], 1.0)
    assert np.isclose(w[slices["chroma"]][0], np.sqrt(64 / 12))  # equal weight = equal block variance
    assert build_backbone("mel-pitch", b.spec()).spec() == b.spec()  # rebuilt from the recorded spec
    with pytest.raises(ConfigError, match="block_weights"):
        PitchMelBackbone(block_weights={"chroma": -1.0})
    with pytest.raises(ConfigError, match="no weights"):
        PitchMelBackbone.load("some/dir")


@pytest.mark.parametrize(("freq", "pitch_class"), [(440.0, 9), (261.63, 0), (196.0, 7)])
def test_a_pure_tone_lights_its_chroma_bin(freq, pitch_class):
    b = every_block()
    f = b(tone(freq)[None])[0, 5:-5]  # [T, D], away from the edges
    s = b.block_slices()
    chroma = f[:, s["chroma"]].mean(0)
    assert int(chroma.argmax()) == pitch_class and chroma[pitch_class] > 0.9
    assert int(f[:, s["salience"]][:, :12].mean(0).argmax()) == pitch_class
    silent = b(torch.zeros(1, SR))[0]
    assert silent[:, s["chroma"]].abs().max() < 1e-3  # no pitch class in silence


def test_onset_strength_peaks_at_the_clicks():
    times = [0.25, 0.75, 1.25, 1.75]
    b = every_block()
    onset = b(clicks(times)[None])[0, :, b.block_slices()["onset"].start]  # [T] max flux per frame
    peaks = {int(t * b.frame_rate) for t in times}  # the frame whose span holds the click
    near = {p + d for p in peaks for d in (-1, 0)}
    assert onset.max() > 1.0
    assert {int(i) for i in torch.topk(onset, len(peaks)).indices} <= near
    far = [i for i in range(onset.numel()) if i not in near]
    assert onset[far].max() < 0.05 * onset.max()


def fitted(seed: int = 0, k: int = 8) -> SemanticTokenizer:
    audio = [melody(6.0, seed=s) for s in range(3)]
    return fit_kmeans(audio, PitchMelBackbone(), k, average_frames=2, seed=seed, batch_frames=64)


def test_tokenizer_fits_on_tiny_audio_with_deterministic_tokens(tmp_path):
    tok = fitted()
    assert tok.config.backbone == "mel-pitch" and tok.frame_rate == 25 and tok.vocab_size == 8
    x = melody(4.0, seed=7)
    tokens = tok.encode(x, SR)
    assert tokens.shape == (4 * 25,) and tokens.unique().numel() > 2
    again = fitted()
    assert torch.equal(again.quantizer.centroids, tok.quantizer.centroids)
    assert torch.equal(again.encode(x, SR), tokens)
    # the block weights are folded into the stored std: the same fit with other weights stores std x w alike
    ones = PitchMelBackbone(block_weights={"mel": 1.0, "chroma": 1.0, "onset": 1.0})
    plain = fit_kmeans([melody(6.0, seed=s) for s in range(3)], ones, 8, average_frames=2, seed=0, batch_frames=64)
    w, w1 = (torch.from_numpy(t.backbone.feature_weights()) for t in (tok, plain))
    assert not torch.allclose(w, w1)
    assert torch.allclose(tok.quantizer.std * w, plain.quantizer.std * w1, rtol=1e-5)
    assert torch.equal(tok.quantizer.mean, plain.quantizer.mean)
    tok.save_pretrained(tmp_path / "tok")
    loaded = SemanticTokenizer.from_pretrained(tmp_path / "tok")
    assert loaded.config.backbone_spec == tok.config.backbone_spec
    assert torch.equal(loaded.encode(x, SR), tokens)


def mel_codec() -> VocosCodec:
    torch.manual_seed(0)
    return VocosCodec.from_preset(
        "debug", encoder="mel", n_mels=48, inversion="griffin_lim", griffin_lim_iters=4
    ).eval()


def test_token_frames_average_the_codec_frames_and_round_trip(tmp_path):
    tok, codec = fitted(), mel_codec()
    audio = [(melody(6.0, seed=s), SR) for s in range(2)]
    table = fit_token_frames(tok, codec, audio)
    assert table.frames.shape == (8, 2, 48) and int(table.counts.sum()) == 2 * 6 * 25
    tokens, mel = zip(*(token_frame_pairs(tok, codec, w, sr) for w, sr in audio))
    tokens, mel = torch.cat(tokens), torch.cat(mel)  # [T], [T, 2, M]
    k = int(tokens[0])
    assert torch.allclose(table.frames[k], mel[tokens == k].mean(0), atol=1e-5)
    save_token_frames(tmp_path, table)
    back = load_token_frames(tmp_path, vocab_size=8)
    assert torch.equal(back.frames, table.frames) and torch.equal(back.counts, table.counts)
    assert back.spec == table.spec and back.spec["frames_per_token"] == 2
    back.check_codec(codec)
    other = VocosCodec.from_preset("debug", encoder="mel", n_mels=40, inversion="griffin_lim")
    with pytest.raises(ConfigError, match="n_mels 48 vs 40"):
        back.check_codec(other)
    with pytest.raises(ConfigError, match="vocabulary of 16"):
        load_token_frames(tmp_path, vocab_size=16)
    with pytest.raises(MissingWeightsError, match="no token frame table"):
        load_token_frames(tmp_path / "nothing")


def test_sketch_is_as_long_as_the_input():
    tok, codec = fitted(), mel_codec()
    table = fit_token_frames(tok, codec, [(melody(6.0, seed=1), SR)])
    x = melody(1.37, seed=3)
    y = sketch(tok, table, codec, x, SR)
    assert y.shape == x.shape and torch.isfinite(y).all() and y.abs().max() > 0
    y22 = sketch(tok, table, codec, torch.from_numpy(np.interp(np.arange(0, x.numel(), SR / 22050),
                                                               np.arange(x.numel()), x.numpy())).float(), 22050)  # fmt: skip
    assert abs(y22.numel() - x.numel()) <= 1
    assert torch.equal(y, sketch(tok, table, codec, x, SR))  # seeded Griffin-Lim: deterministic


def test_codec_front_end_and_dropped_blocks():
    codec = VocosCodec.from_preset("debug", encoder="mel", n_mels=48, inversion="griffin_lim")
    b = PitchMelBackbone(n_mels=48, mel_front="codec", block_weights={"delta": 0.0, "salience": 0.0})
    assert list(b.block_slices()) == ["mel", "chroma", "onset"] and b.dim == 48 + 12 + 2
    x = melody(1.0)
    f = b(x[None])[0]  # [50, D]
    assert f.shape == (50, b.dim)
    assert torch.allclose(f[:, :48], codec.encoder(x[None, None])[0].T, atol=1e-5)  # the codec's own frames
    assert b.feature_weights().shape == (b.dim,)
    assert build_backbone("mel-pitch", b.spec()).dim == b.dim
    with pytest.raises(ConfigError, match="mel_front"):
        PitchMelBackbone(mel_front="htk")


def test_the_committed_semantic_v4_loads_and_matches_the_demo_codec():
    from pathlib import Path

    from v2meow.tokenizers.acoustic import load_codec

    root = Path(__file__).resolve().parents[2] / "checkpoints"
    if not (root / "semantic_v4").is_dir():
        pytest.skip("checkpoints/semantic_v4 not in this checkout")
    tok = SemanticTokenizer.from_pretrained(root / "semantic_v4")
    assert (tok.config.backbone, tok.vocab_size, tok.frame_rate) == ("mel-pitch", 256, 25.0)
    table = load_token_frames(root / "semantic_v4", tok.vocab_size)
    table.check_codec(load_codec(root / "demo" / "codec"))
    assert int((table.counts > 0).sum()) > 200
    x = melody(2.0)
    assert torch.equal(tok.encode(x, SR), tok.encode(x, SR)) and tok.encode(x, SR).shape == (50,)
