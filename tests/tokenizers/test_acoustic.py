"""Acoustic codecs: the interface contract, SoundStream (incl. overfitting a clip), tiny EnCodec, codes files, CLI."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from v2meow.cli.codec import main as codec_main
from v2meow.errors import ConfigError, MissingWeightsError, UnknownComponentError
from v2meow.tokenizers.acoustic import (
    EncodecCodec,
    EncodecCodecConfig,
    EncodedAudio,
    InvalidAudioError,
    SoundStream,
    SoundStreamConfig,
    codebooks_for_bandwidth,
    list_presets,
    load_codec,
)
from v2meow.tokenizers.acoustic.discriminator import DiscriminatorConfig, MultiScaleSTFTDiscriminator
from v2meow.tokenizers.acoustic.losses import (
    MultiScaleMelLoss,
    default_windows,
    feature_matching_loss,
    hinge_discriminator_loss,
    hinge_generator_loss,
)


def music_clip(sr: int = 16000, seconds: float = 1.0, seed: int = 0) -> torch.Tensor:
    """A real-sounding 1-channel clip [1, N]: a 15-harmonic tone with vibrato, three noise bursts, a noise floor."""
    rng = np.random.default_rng(seed)
    n = round(sr * seconds)
    t = np.arange(n) / sr
    f0 = 220 * (1 + 0.01 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    tone = sum((0.5 / k) * np.sin(k * phase) for k in range(1, 16))
    bursts = np.zeros(n)
    for start in (0.2, 0.5, 0.8):
        i = int(start * n)
        bursts[i : i + 800] = np.exp(-np.arange(len(bursts[i : i + 800])) / 200)
    x = 0.4 * tone + 0.3 * bursts * rng.standard_normal(n) + 0.005 * rng.standard_normal(n)
    return torch.tensor(x, dtype=torch.float32)[None]


@pytest.fixture(scope="module")
def codec():
    """A debug SoundStream whose codebooks are all initialised (one eval pass runs k-means init)."""
    torch.manual_seed(0)
    model = SoundStream.from_preset("debug").eval()
    with torch.no_grad():
        model(torch.randn(2, 1, 16000) * 0.3)
    return model


def tiny_encodec(**kw) -> EncodecCodec:
    from transformers import EncodecConfig

    hf = EncodecConfig(hidden_size=16, num_filters=4, codebook_size=64, num_lstm_layers=1)
    torch.manual_seed(0)
    c = EncodecCodec(EncodecCodecConfig(encodec=hf.to_dict(), **kw)).eval()
    with torch.no_grad():  # random weights leave every codebook at zero: spread them so codes differ
        for layer in c.model.quantizer.layers:
            layer.codebook.embed.normal_()
    return c


# --- SoundStream: contract -------------------------------------------------------------------
def test_presets_frame_rates():
    assert list_presets() == ["debug", "small", "paper"]
    small, paper = SoundStreamConfig.from_preset("small"), SoundStreamConfig.from_preset("paper")
    assert (small.sample_rate, small.hop_length, small.frame_rate) == (24000, 320, 75.0)  # strides (2, 4, 5, 8)
    assert (paper.sample_rate, paper.hop_length, paper.frame_rate, paper.num_quantizers, paper.num_coarse) == (
        24000,
        480,
        50.0,
        12,
        4,
    )


@pytest.mark.parametrize("n", [320, 321, 16000, 16100])
def test_encode_decode_shapes(codec, n):
    assert (codec.sample_rate, codec.hop_length, codec.frame_rate) == (16000, 320, 50.0)
    codes = codec.encode(torch.randn(1, n) * 0.1)
    t = -(-n // 320)
    assert codes.shape == (4, t) and codes.dtype == torch.long
    assert codes.min() >= 0 and codes.max() < codec.codebook_size
    assert codec.decode(codes).shape == (1, t * 320)
    assert codec.decode(codes, length=n).shape == (1, n)
    batched = codec.encode(torch.randn(3, 1, n) * 0.1)
    assert batched.shape == (3, 4, t) and codec.decode(batched).shape == (3, 1, t * 320)
    assert codec.encode(torch.randn(n) * 0.1).shape == (4, t)  # [N] is unbatched mono


def test_batched_equals_unbatched_and_split(codec):
    x = music_clip()[None].repeat(2, 1, 1)  # [2, 1, N]
    x[1] *= 0.5
    codes = codec.encode(x)
    assert torch.equal(codes[1], codec.encode(x[1]))
    coarse, fine = codec.split(codes)
    assert coarse.shape == (2, 2, 50) and fine.shape == (2, 2, 50) and (codec.num_coarse, codec.num_fine) == (2, 2)
    assert torch.equal(codec.merge(coarse, fine), codes)
    assert codec.decode(coarse).shape == (2, 1, 16000)  # leading codebooks only: a coarser reconstruction
    with pytest.raises(ConfigError, match="split expects 4 codebooks"):
        codec.split(coarse)


def test_encode_matches_training_quantizer(codec):
    """`encode` reads the codebooks directly; it must pick the codes the RVQ module picks in eval mode."""
    x = music_clip(seed=1)[None]
    z = codec.encoder(x).transpose(1, 2)
    _, indices, _ = codec.quantizer(z)
    assert torch.equal(codec.encode(x), indices.transpose(1, 2))


def test_resampling_and_downmix(codec):
    x16 = music_clip()  # [1, 16000] at 16 kHz
    from v2meow.media import resample

    x44 = torch.from_numpy(resample(x16.numpy(), 16000, 44100))  # [1, 44100]
    stereo = torch.cat([x44, x44])  # [2, N], downmixes to x44
    a = codec.encode(stereo, sample_rate=44100)
    b = codec.encode(x44, sample_rate=44100)
    assert torch.equal(a, b) and a.shape == (4, 50)
    direct = codec.encode(x16)
    assert (a == direct).float().mean() > 0.9  # resampling round trip changes few codes


def test_bad_inputs(codec):
    x = torch.zeros(1, 16000)
    for bad, match in [
        (torch.full((1, 1000), float("nan")), "NaN or inf"),
        (torch.tensor([[0.0] * 500 + [float("inf")]]), "NaN or inf"),
        (torch.zeros(1, 319), "shorter than one codec frame"),
        (torch.zeros(1, 1, 1, 1000), "must be"),
        (torch.zeros(1, 1000, dtype=torch.int16), "float"),
        (torch.zeros(0, 1000), "no batch items or channels"),
    ]:
        with pytest.raises(InvalidAudioError, match=match):
            codec.encode(bad)
    with pytest.raises(InvalidAudioError, match="shorter than one codec frame"):
        codec.encode(torch.zeros(1, 800), sample_rate=44100)  # 800 samples at 44.1 kHz -> 290 at 16 kHz
    silence = codec.encode(x)  # silence is fine
    assert silence.shape == (4, 50) and torch.isfinite(codec.decode(silence)).all()
    for bad, match in [
        (torch.full((4, 5), 64), r"\[0, 64\)"),
        (torch.full((4, 5), -1), r"\[0, 64\)"),
        (torch.zeros(5, 5, dtype=torch.long), "5 codebooks"),
        (torch.zeros(4, 5), "integers"),
        (torch.zeros(4, 0, dtype=torch.long), "empty"),
    ]:
        with pytest.raises(ConfigError, match=match):
            codec.decode(bad)


def test_causal_encoder_ignores_the_future():
    torch.manual_seed(0)
    model = SoundStream.from_preset("debug", causal=True)
    x = torch.randn(1, 1, 3200)
    y = x.clone()
    y[..., 1600:] = torch.randn(1, 1, 1600)  # change frames 5.. only
    with torch.no_grad():
        zx, zy = model.encoder(x), model.encoder(y)  # [1, D, 10]
        assert torch.equal(zx[..., :5], zy[..., :5]) and not torch.equal(zx[..., 5:], zy[..., 5:])
        q = torch.randn(1, 10, 32)
        q2 = q.clone()
        q2[:, 5:] += 1
        wx, wy = model.decoder(q.transpose(1, 2)), model.decoder(q2.transpose(1, 2))
        assert torch.equal(wx[..., :1600], wy[..., :1600])


def test_save_load_round_trip(codec, tmp_path):
    codec.save_pretrained(tmp_path / "ss")
    cfg = json.loads((tmp_path / "ss" / "config.json").read_text())
    assert cfg["model_type"] == "soundstream" and cfg["strides"] == [2, 4, 5, 8] and cfg["num_coarse"] == 2
    back = load_codec(tmp_path / "ss")
    assert isinstance(back, SoundStream) and not back.training
    x = music_clip()
    codes = codec.encode(x)
    assert torch.equal(back.encode(x), codes)
    assert torch.equal(back.decode(codes), codec.decode(codes))


def test_config_errors(tmp_path):
    with pytest.raises(UnknownComponentError, match="unknown soundstream preset 'huge'"):
        SoundStreamConfig.from_preset("huge")
    with pytest.raises(ConfigError, match="num_coarse"):
        SoundStreamConfig.from_preset("debug", num_coarse=5)
    with pytest.raises(ConfigError, match="differ in length"):
        SoundStreamConfig(strides=(2, 4))
    with pytest.raises(ConfigError, match="unknown config field"):
        SoundStreamConfig.from_preset("debug", colour=1)
    SoundStream.from_preset("debug").save_pretrained(tmp_path / "c")
    cfg = json.loads((tmp_path / "c" / "config.json").read_text())
    cfg["latent_dim"] = 16
    (tmp_path / "c" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ConfigError, match="do not match the config"):
        load_codec(tmp_path / "c")
    cfg["model_type"] = "clap"
    (tmp_path / "c" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(UnknownComponentError, match="not a codec"):
        load_codec(tmp_path / "c")
    with pytest.raises(MissingWeightsError):
        load_codec(tmp_path / "nowhere")


# --- losses and discriminator ------------------------------------------------------------------
def test_losses_and_discriminator():
    x = music_clip()[None]  # [1, 1, N]
    loss = MultiScaleMelLoss(16000, windows=default_windows(16000))
    assert default_windows(16000) == (32, 64, 128, 256, 512, 1024) and default_windows(24000)[-1] == 2048
    assert loss(x, x).item() == 0.0
    assert loss(0.5 * x, x) > 0 and loss(torch.zeros_like(x), x) > loss(0.9 * x, x)
    assert MultiScaleMelLoss(16000, n_mels=None)(0.5 * x, x) > 0  # linear-STFT variant
    disc = MultiScaleSTFTDiscriminator(1, DiscriminatorConfig(filters=4, n_ffts=(256, 128)))
    logits, feats = disc(x.repeat(2, 1, 1))
    assert len(logits) == 2 and logits[0].shape[:2] == (2, 1) and len(feats[0]) == 5
    real = [torch.full((2, 3), 2.0)]
    assert hinge_discriminator_loss(real, [torch.full((2, 3), -2.0)]).item() == 0.0
    assert hinge_generator_loss([torch.zeros(2, 3)]).item() == 1.0
    assert feature_matching_loss(feats, feats).item() == 0.0


@pytest.mark.slow
def test_soundstream_overfits_one_clip():
    """Train the debug codec on one 1-s clip (mel + commitment losses): the token round trip must improve clearly."""
    torch.manual_seed(0)
    x = music_clip()[None]  # [1, 1, 16000]
    model = SoundStream.from_preset("debug")
    loss_fn = MultiScaleMelLoss(16000, windows=default_windows(16000))
    with torch.no_grad():
        initial = loss_fn(model.eval()(x).audio, x).item()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2, betas=(0.5, 0.9))
    model.train()
    for _ in range(150):
        out = model(x)
        loss = loss_fn(out.audio, x) + out.commit_loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    codes = model.encode(x[0])
    assert codes.shape == (4, 50) and codes.min() >= 0 and codes.max() < 64
    final = loss_fn(model.decode(codes, length=16000)[None], x).item()
    print(f"multi-scale mel loss through encode/decode: {initial:.3f} -> {final:.3f}")
    assert final < 0.5 * initial, (initial, final)
    silence_loss = loss_fn(torch.zeros_like(x), x).item()
    assert final < 0.5 * silence_loss


# --- EnCodec -------------------------------------------------------------------------------------
def test_bandwidth_to_codebooks():
    assert [codebooks_for_bandwidth(b, 75, 1024) for b in (1.5, 3, 6, 12, 24)] == [2, 4, 8, 16, 32]


def test_tiny_encodec_shapes_and_round_trip(tmp_path):
    c = tiny_encodec(bandwidth=6.0)
    assert (c.sample_rate, c.hop_length, c.frame_rate, c.codebook_size) == (24000, 320, 75.0, 64)
    assert (c.num_codebooks, c.num_coarse, c.num_fine) == (13, 5, 8)  # 6 kbps / (6 bits * 75 fps)
    x = music_clip(sr=24000, seconds=0.5)
    codes = c.encode(x)
    assert codes.shape == (13, 38) and codes.min() >= 0 and codes.max() < 64 and len(codes.unique()) > 1
    assert c.decode(codes, length=12000).shape == (1, 12000)
    assert c.encode(x.repeat(2, 1)[None].transpose(0, 1)).shape == (2, 13, 38)  # [2, 1, N]
    c.save_pretrained(tmp_path / "enc")
    back = load_codec(tmp_path / "enc")
    assert isinstance(back, EncodecCodec) and torch.equal(back.encode(x), codes)
    assert torch.equal(back.decode(codes), c.decode(codes))
    assert load_codec(tmp_path / "enc", bandwidth=1.5).num_codebooks == 3


def test_encodec_transformers_dir_and_missing_weights(tmp_path):
    c = tiny_encodec()
    c.model.save_pretrained(tmp_path / "hf")  # a transformers directory, as downloaded from the hub
    back = load_codec(tmp_path / "hf", bandwidth=3.0)
    assert isinstance(back, EncodecCodec) and back.num_codebooks == 6
    x = music_clip(sr=24000, seconds=0.2)
    assert torch.equal(back.encode(x), c.encode(x)[:6])  # fewer codebooks = a prefix of the codes
    with pytest.raises(MissingWeightsError, match="facebook/encodec_24khz"):
        EncodecCodec.from_hf("facebook/encodec_24khz", cache_dir=tmp_path / "empty-cache")
    with pytest.raises(ConfigError, match="bandwidth 5.0"):
        tiny_encodec(bandwidth=5.0)


# --- codes files and the v2meow-codec CLI ------------------------------------------------------
def test_codec_cli_round_trip(codec, tmp_path, capsys):
    codec.save_pretrained(tmp_path / "codec")
    wav = torch.cat([music_clip(sr=22050, seconds=0.7)] * 2).numpy()  # stereo 22.05 kHz, 0.7 s
    sf.write(tmp_path / "in.wav", wav.T, 22050)
    assert (
        codec_main(
            ["encode", str(tmp_path / "in.wav"), str(tmp_path / "c.safetensors"), "--codec", str(tmp_path / "codec")]
        )
        == 0
    )
    enc = EncodedAudio.load(tmp_path / "c.safetensors")
    assert enc.codes.shape == (4, 35) and enc.num_samples == 11200 and enc.sample_rate == 16000
    assert enc.codec_id == codec.codec_id and enc.model_type == "soundstream" and enc.frame_rate == 50.0
    assert (
        codec_main(
            ["decode", str(tmp_path / "c.safetensors"), str(tmp_path / "out.wav"), "--codec", str(tmp_path / "codec")]
        )
        == 0
    )
    out, sr = sf.read(tmp_path / "out.wav")
    assert sr == 16000 and out.shape == (11200,)

    tiny_encodec().save_pretrained(tmp_path / "enc")  # codes of another codec: refused, nothing written
    capsys.readouterr()
    assert (
        codec_main(
            ["decode", str(tmp_path / "c.safetensors"), str(tmp_path / "x.wav"), "--codec", str(tmp_path / "enc")]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "do not fit codec" in err and "sample_rate 16000 vs 24000" in err and not (tmp_path / "x.wav").exists()
    (tmp_path / "bad.wav").write_bytes(b"RIFF not audio")
    assert (
        codec_main(
            ["encode", str(tmp_path / "bad.wav"), str(tmp_path / "b.safetensors"), "--codec", str(tmp_path / "codec")]
        )
        == 2
    )
    assert not (tmp_path / "b.safetensors").exists()
    assert (
        codec_main(["decode", str(tmp_path / "in.wav"), str(tmp_path / "y.wav"), "--codec", str(tmp_path / "codec")])
        == 2
    )
    assert "codes file" in capsys.readouterr().err
    sf.write(tmp_path / "short.wav", np.zeros(100, np.float32), 16000)
    assert (
        codec_main(
            ["encode", str(tmp_path / "short.wav"), str(tmp_path / "s.safetensors"), "--codec", str(tmp_path / "codec")]
        )
        == 2
    )
    assert "shorter than one codec frame" in capsys.readouterr().err
