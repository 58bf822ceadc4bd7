"""The iSTFT (Vocos-style) codec: shapes, the codec contract through the registry, save/load,
the MPD + MRD discriminators, overfitting one clip, config errors; and the quality measures."""

import pytest
import torch

from v2meow.errors import ConfigError, UnknownComponentError
from v2meow.evaluation.codec_quality import (
    chroma_similarity,
    log_spectral_distance,
    mel_griffin_lim,
    spectral_flatness,
    tempo_deviation,
)
from v2meow.tokenizers.acoustic import VocosCodec, VocosCodecConfig, load_codec
from v2meow.tokenizers.acoustic.discriminator import DiscriminatorConfig, build_discriminator
from v2meow.tokenizers.acoustic.losses import MultiScaleMelLoss, feature_matching_loss, hinge_discriminator_loss


def music_clip(sr: int = 16000, seconds: float = 1.0, seed: int = 0) -> torch.Tensor:
    """`[1, N]`: a 10-harmonic tone with vibrato plus a little noise."""
    g = torch.Generator().manual_seed(seed)
    n = round(sr * seconds)
    t = torch.arange(n, dtype=torch.float64) / sr
    phase = 2 * torch.pi * torch.cumsum(220 * (1 + 0.01 * torch.sin(2 * torch.pi * 5 * t)), 0) / sr
    tone = sum((0.5 / k) * torch.sin(k * phase) for k in range(1, 11))
    return (0.4 * tone + 0.005 * torch.randn(n, generator=g, dtype=torch.float64)).float()[None]


def _initialised(encoder: str) -> VocosCodec:
    torch.manual_seed(0)
    model = VocosCodec.from_preset("debug", encoder=encoder).eval()
    with torch.no_grad():  # one pass runs the k-means codebook initialisation
        model(torch.randn(2, 1, 16000) * 0.3)
    return model


@pytest.mark.parametrize("encoder", ["melnet", "mel", "conv"])
def test_shapes_and_contract(encoder, tmp_path):
    model = _initialised(encoder)
    assert (model.sample_rate, model.hop_length, model.frame_rate) == (16000, 320, 50.0)
    assert (model.num_codebooks, model.codebook_size, model.num_coarse, model.num_fine) == (4, 64, 2, 2)
    x = music_clip(seconds=0.5)  # [1, 8000]
    codes = model.encode(x)
    assert codes.shape == (4, 25) and codes.dtype == torch.long and 0 <= codes.min() and codes.max() < 64
    assert model.decode(codes).shape == (1, 25 * 320)
    assert model.decode(codes, length=8000).shape == (1, 8000)
    assert model.decode(codes[:2]).shape == (1, 8000)  # coarse codebooks only
    coarse, fine = model.split(codes)
    assert torch.equal(model.merge(coarse, fine), codes)
    batch = torch.stack([x, music_clip(seconds=0.5, seed=1)])  # [2, 1, N]
    assert torch.equal(model.encode(batch)[0], codes)  # batched == unbatched
    out = model.train()(batch)
    assert out.audio.shape == batch.shape and out.codes.shape == (2, 4, 25)
    assert model.codec_id == "vocos/16000Hz/50fps/4x64"

    model.eval()
    codes = model.encode(x)  # the training pass moved the EMA codebooks
    model.save_pretrained(tmp_path / "c")  # the component contract, through the registry
    loaded = load_codec(tmp_path / "c")
    assert isinstance(loaded, VocosCodec) and loaded.config == model.config
    assert torch.equal(loaded.encode(x), codes)
    assert torch.equal(loaded.decode(codes), model.decode(codes))


def test_demo_preset_size_and_rate():
    model = VocosCodec.from_preset("demo")
    assert (model.sample_rate, model.frame_rate, model.num_codebooks, model.codebook_size, model.num_coarse) == (
        16000,
        50.0,
        6,
        256,
        2,
    )
    assert sum(p.numel() for p in model.parameters()) * 4 < 10e6  # float32 weights under 10 MB


def test_config_errors():
    with pytest.raises(ConfigError, match="encoder"):
        VocosCodecConfig(encoder="wavelet")
    with pytest.raises(ConfigError, match="prod\\(strides\\)"):
        VocosCodecConfig(encoder="conv", hop_length=256)
    with pytest.raises(ConfigError, match="num_coarse"):
        VocosCodecConfig(num_coarse=7)
    with pytest.raises(ConfigError, match="unknown config field"):
        VocosCodecConfig.from_preset("demo", hop=2)
    with pytest.raises(UnknownComponentError):
        VocosCodecConfig.from_preset("huge")
    with pytest.raises(ConfigError, match="kind"):
        DiscriminatorConfig(kind="wavenet")


def test_mpd_mrd_discriminator_shapes_and_losses():
    disc = build_discriminator(
        1, DiscriminatorConfig(kind="mpd_mrd", periods=(2, 3), period_channels=(4, 8), n_ffts=(256, 128), filters=4)
    )
    x = music_clip(seconds=0.3)[None].repeat(2, 1, 1)  # [2, 1, 4800]
    logits, feats = disc(x)
    assert len(logits) == 4 and len(feats) == 4
    assert logits[0].shape == (2, 1, 267, 2) and logits[1].shape == (
        2,
        1,
        178,
        3,
    )  # periods: [B, 1, ceil(N / p / 3^2), p]
    assert logits[2].shape == (2, 1, 76, 17) and logits[3].shape == (
        2,
        1,
        151,
        9,
    )  # resolutions: [B, 1, frames, bins / 8]
    assert [len(f) for f in feats] == [3, 3, 4, 4]
    assert feature_matching_loss(feats, feats).item() == 0.0
    assert hinge_discriminator_loss(logits, logits).item() > 0


@pytest.mark.slow
def test_tiny_codec_overfits_one_clip():
    """The debug iSTFT codec on one 1-s clip: the token round trip's mel loss drops clearly."""
    torch.manual_seed(0)
    x = music_clip()[None]  # [1, 1, 16000]
    model = VocosCodec.from_preset("debug")
    loss_fn = MultiScaleMelLoss(16000, windows=(128, 256, 512, 1024), lin_weight=0.0)
    with torch.no_grad():
        model.eval()(x)  # k-means init
        initial = loss_fn(model.decode(model.encode(x[0]), length=16000)[None], x).item()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(150):
        out = model(x)
        loss = loss_fn(out.audio, x) + out.commit_loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    final = loss_fn(model.decode(model.encode(x[0]), length=16000)[None], x).item()
    print(f"log-mel loss through encode/decode: {initial:.3f} -> {final:.3f}")
    assert final < 0.5 * initial, (initial, final)


def test_quality_measures():
    x = music_clip()[0]  # [N]
    noise = torch.randn(x.shape[0], generator=torch.Generator().manual_seed(0)) * 0.1
    assert log_spectral_distance(x, x) == 0.0 and log_spectral_distance(x, noise) > 1.0
    assert spectral_flatness(noise) > 3 * spectral_flatness(x)  # noise is flat, a harmonic tone is not
    assert chroma_similarity(x, x, 16000) == pytest.approx(1.0) and chroma_similarity(x, noise, 16000) < 0.95
    assert tempo_deviation(120.0, 240.0) == 0.0 and tempo_deviation(120.0, 126.0) == pytest.approx(0.0704, abs=1e-3)
    ref = mel_griffin_lim(x, 16000, iters=8)
    assert ref.shape == x.shape and log_spectral_distance(x, ref) < log_spectral_distance(x, noise)
