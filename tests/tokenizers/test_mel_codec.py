"""The mel codec's weight-free decoder and fitted codebooks: Griffin-Lim, `inversion: griffin_lim`,
residual k-means codebooks (`v2meow-codec fit-mel`), frozen codebooks in training."""

import numpy as np
import pytest
import soundfile as sf
import torch

from v2meow.cli.codec import main as codec_main
from v2meow.errors import ConfigError
from v2meow.evaluation.codec_quality import chroma_similarity, log_spectral_distance
from v2meow.signal.griffin_lim import griffin_lim
from v2meow.tokenizers.acoustic import VocosCodec, VocosCodecConfig, load_codec, rvq
from v2meow.training.codebooks import fit_residual_codebooks

SR = 16000


def chord(seconds: float = 1.0, f0: float = 220.0) -> torch.Tensor:
    """`[N]`: a major triad of 5-harmonic tones."""
    t = torch.arange(round(SR * seconds), dtype=torch.float64) / SR
    tones = [sum(torch.sin(2 * torch.pi * k * f * t) / k for k in range(1, 6)) for f in (f0, f0 * 1.26, f0 * 1.5)]
    return (0.15 * sum(tones)).float()


def test_griffin_lim_recovers_a_signal_from_its_magnitude():
    x = chord()
    window = torch.hann_window(512)
    mag = torch.stft(x, 512, 128, window=window, center=True, return_complex=True).abs()  # [F, T]
    y0 = griffin_lim(mag, 512, 128, x.numel(), iters=0)
    y = griffin_lim(mag, 512, 128, x.numel(), iters=32)
    assert y.shape == x.shape
    assert torch.equal(y, griffin_lim(mag, 512, 128, x.numel(), iters=32))  # seeded: deterministic
    assert not torch.equal(y, griffin_lim(mag, 512, 128, x.numel(), iters=32, seed=1))
    assert log_spectral_distance(x, y) < 0.5 * log_spectral_distance(x, y0)  # iterations make the phase consistent
    assert chroma_similarity(x, y, SR) > 0.95
    batched = griffin_lim(torch.stack([mag, mag]), 512, 128, x.numel(), iters=4)  # [2, N]
    assert batched.shape == (2, x.numel())
    with pytest.raises(ValueError, match="bins"):
        griffin_lim(mag[:-1], 512, 128, x.numel())


def test_griffin_lim_inversion_decodes_harmony_without_weights():
    torch.manual_seed(0)
    codec = VocosCodec.from_preset(
        "debug", encoder="mel", n_mels=80, inversion="griffin_lim", griffin_lim_iters=16
    ).eval()
    x = chord(1.0)
    frames = codec.encoder(x[None, None])[0].T.numpy()  # [T, M]
    rvq.set_codebooks(
        codec.quantizer, fit_residual_codebooks(np.repeat(frames, 4, 0), codec.num_codebooks, codec.codebook_size)
    )
    codes = codec.encode(x[None], sample_rate=SR)  # [K, T]
    y = codec.decode(codes)  # [C, T * hop]
    assert codes.shape == (4, 50) and y.shape == (1, 16000)
    assert torch.equal(y, codec.decode(codes))
    assert chroma_similarity(x, y[0], SR) > 0.85
    vocoded = VocosCodec(
        VocosCodecConfig.from_preset("debug", encoder="mel", n_mels=80)
    )  # untrained vocoder: no harmony
    vocoded.load_state_dict(codec.state_dict())
    assert chroma_similarity(x, vocoded.eval().decode(codes)[0], SR) < chroma_similarity(x, y[0], SR)


def test_inversion_config_errors():
    with pytest.raises(ConfigError, match="needs encoder mel"):
        VocosCodecConfig.from_preset("debug", encoder="melnet", inversion="griffin_lim")
    with pytest.raises(ConfigError, match="inversion must be one of"):
        VocosCodecConfig.from_preset("debug", encoder="mel", inversion="magic")
    with pytest.raises(ConfigError, match="griffin_lim_iters"):
        VocosCodecConfig.from_preset("debug", encoder="mel", griffin_lim_iters=-1)


def test_residual_codebooks_shrink_the_residual_level_by_level():
    rng = np.random.default_rng(0)
    frames = rng.normal(size=(3000, 8)).astype(np.float32)
    books = fit_residual_codebooks(frames, levels=3, size=16, seed=0)  # [3, 16, 8]
    assert books.shape == (3, 16, 8)
    x, errors = torch.from_numpy(frames), []
    for book in books:
        x = x - book[torch.cdist(x, book).argmin(-1)]
        errors.append(float(x.pow(2).mean()))
    assert errors[0] < 1.0 and errors[2] < errors[1] < errors[0]
    assert torch.equal(books, fit_residual_codebooks(frames, levels=3, size=16, seed=0))
    with pytest.raises(ConfigError, match="too few"):
        fit_residual_codebooks(frames[:10], levels=1, size=16)


def test_set_codebooks_and_freeze_in_training():
    codec = VocosCodec.from_preset("debug", encoder="mel")
    books = torch.randn(4, 64, 32)
    rvq.set_codebooks(codec.quantizer, books)
    assert torch.equal(codec.quantizer.codebooks, books)
    codec.train()
    codec(torch.randn(2, 1, 3200) * 0.3, freeze_codebooks=True)
    assert torch.equal(codec.quantizer.codebooks, books)  # frozen: codes keep their meaning
    codec(torch.randn(2, 1, 3200) * 0.3)
    assert not torch.equal(codec.quantizer.codebooks, books)  # EMA updates otherwise
    with pytest.raises(ConfigError, match="do not fit"):
        rvq.set_codebooks(codec.quantizer, torch.randn(4, 32, 32))


def test_fit_mel_cli(tmp_path, capsys):
    music = tmp_path / "music" / "pkg"
    music.mkdir(parents=True)
    for i, f0 in enumerate((196.0, 262.0)):
        sf.write(music / f"{i}.wav", chord(3.0, f0).numpy(), SR)  # 300 frames in all: enough for 256 codes
    out = tmp_path / "codec"
    assert codec_main(["fit-mel", "--audio", str(tmp_path / "music"), "--out", str(out), "--max-frames", "1000"]) == 0
    codec = load_codec(out)  # the demo preset: 80 bands, 6 x 256 codes
    assert codec.config.inversion == "griffin_lim" and codec.config.encoder == "mel"
    x = chord(1.0, 262.0)
    y = codec.decode(codec.encode(x[None], sample_rate=SR))[0]
    assert chroma_similarity(x, y, SR) > 0.75  # noise or a broken inversion: about 0.3-0.5
    assert (
        codec_main(["fit-mel", "--audio", str(tmp_path / "music"), "--out", str(out), "--preset", "debug"]) == 2
    )  # exists
    assert "--overwrite" in capsys.readouterr().err
    assert codec_main(["fit-mel", "--audio", str(tmp_path / "none"), "--out", str(tmp_path / "c2")]) == 2
    assert not (tmp_path / "c2").exists()
