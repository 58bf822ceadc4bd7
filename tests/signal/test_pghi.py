"""Phase-gradient heap integration (`v2meow.signal.pghi`) and the mel codec's `inversion: pghi`:
pitch and onsets survive, the phase is consistent, decoding is deterministic, configs round-trip."""

import json
import math
from pathlib import Path

import pytest
import torch

from v2meow.errors import ConfigError
from v2meow.signal.griffin_lim import griffin_lim
from v2meow.signal.pghi import pghi, pghi_phase
from v2meow.tokenizers.acoustic import VocosCodec, VocosCodecConfig, load_codec
from v2meow.tokenizers.acoustic.vocos import LogMelFrames

SR, N_FFT, HOP = 16000, 1024, 320
SHIPPED = Path(__file__).resolve().parents[2] / "checkpoints" / "demo" / "codec"


def stft_mag(x: torch.Tensor, hop: int = HOP) -> torch.Tensor:
    window = torch.hann_window(N_FFT, dtype=x.dtype)
    return torch.stft(x, N_FFT, hop, window=window, center=True, return_complex=True).abs()  # [F, T]


def convergence_db(target: torch.Tensor, y: torch.Tensor, hop: int = HOP) -> float:
    """Spectral convergence of `y`'s STFT magnitude against `target` `[F, T]` (lower is better)."""
    got = stft_mag(y.to(target.dtype), hop)[:, : target.shape[-1]]
    return float(20 * torch.log10(torch.linalg.norm(got - target) / torch.linalg.norm(target)))


def mel_roundtrip(x: torch.Tensor, method: str, iters: int = 0) -> torch.Tensor:
    front = LogMelFrames(SR, N_FFT, HOP, 128)
    return front.invert(front(x[None, None]), iters, method)[0]  # [T * hop]


def test_pure_tone_through_the_mel_keeps_its_pitch_and_beats_random_phase():
    t = torch.arange(SR * 2) / SR
    x = 0.5 * torch.sin(2 * math.pi * 440.0 * t)
    y = mel_roundtrip(x, "pghi")
    assert y.shape == x.shape
    spectrum = torch.fft.rfft(y * torch.hann_window(y.numel())).abs()
    peak = float(spectrum.argmax()) * SR / y.numel()
    assert abs(peak - 440.0) < 10.0, peak
    front = LogMelFrames(SR, N_FFT, HOP, 128)
    mel = torch.exp(front(x[None, None]) * 4.0 - 5.0)[0]  # [M, T]
    target = (torch.linalg.pinv(front.fb) @ mel).clamp(min=0.0)  # [F, T]: the magnitude both invert
    rand = griffin_lim(torch.nn.functional.pad(target, (0, 1), mode="replicate"), N_FFT, HOP, x.numel(), iters=0)
    assert convergence_db(target, y) < convergence_db(target, rand) - 6.0


def test_true_magnitude_of_a_chirp_is_phased_consistently():
    t = torch.arange(SR * 2, dtype=torch.float64) / SR
    x = 0.5 * torch.sin(2 * math.pi * (200 * t + 300 * t**2))
    mag = stft_mag(x, 80)
    y = pghi(mag, N_FFT, 80, x.numel())
    assert convergence_db(mag, y, 80) < -20.0  # random phase: about -2 dB
    assert convergence_db(mag, griffin_lim(mag, N_FFT, 80, x.numel(), iters=0), 80) > -6.0


def test_click_track_keeps_its_onsets_within_one_frame():
    x = torch.zeros(SR * 3)
    clicks = [4000, 12000, 20000, 28000, 36000, 44000]
    x[clicks] = 1.0
    y = mel_roundtrip(x, "pghi")
    energy = torch.nn.functional.avg_pool1d(y[None, None].pow(2), 160, 160)[0, 0]  # [N / 160]: 10-ms blocks
    for c in clicks:
        lo, hi = (c - 4000) // 160 + 1, (c + 4000) // 160
        block = lo + int(energy[lo:hi].argmax())
        assert abs(block * 160 + 80 - c) <= HOP, (c, block * 160)


def test_deterministic_and_shaped_like_griffin_lim():
    torch.manual_seed(0)
    mag = torch.rand(2, N_FFT // 2 + 1, 41) ** 4  # [B, F, T]
    a, b = pghi(mag, N_FFT, HOP, 40 * HOP), pghi(mag, N_FFT, HOP, 40 * HOP)
    assert torch.equal(a, b)
    assert a.shape == griffin_lim(mag, N_FFT, HOP, 40 * HOP, iters=1).shape == (2, 40 * HOP)
    refined = pghi(mag, N_FFT, HOP, 40 * HOP, iters=2)
    assert torch.equal(refined, pghi(mag, N_FFT, HOP, 40 * HOP, iters=2)) and refined.shape == a.shape
    assert pghi(mag, N_FFT, HOP, 40 * HOP, upsample=4).shape == a.shape
    assert pghi_phase(mag[0].numpy(), N_FFT, HOP).shape == mag[0].shape
    assert not pghi(torch.zeros(N_FFT // 2 + 1, 11), N_FFT, HOP, 10 * HOP).any()  # silence stays silent
    x = torch.randn(1, 1, 8000) * 0.1
    front = LogMelFrames(SR, N_FFT, HOP, 64)
    assert front.invert(front(x), 0, "pghi").shape == front.invert(front(x), 2, "griffin_lim").shape == (1, 8000)
    with pytest.raises(ValueError, match="bins"):
        pghi(mag[:, :-1], N_FFT, HOP, 40 * HOP)
    with pytest.raises(ValueError, match="upsample"):
        pghi(mag, N_FFT, HOP, 40 * HOP, upsample=3)


def test_pghi_codec_config_round_trips(tmp_path):
    codec = VocosCodec.from_preset("debug", encoder="mel", n_mels=64, inversion="pghi", pghi_iters=2)
    x = torch.randn(1, 6400) * 0.1
    codes = codec.encode(x, sample_rate=SR)
    codec.save_pretrained(tmp_path / "c")
    saved = json.loads((tmp_path / "c" / "config.json").read_text())
    assert saved["inversion"] == "pghi" and saved["pghi_iters"] == 2
    loaded = load_codec(tmp_path / "c")
    assert loaded.config.inversion == "pghi" and loaded.config.pghi_iters == 2
    y = loaded.decode(codes)
    assert y.shape == (1, 6400) and torch.equal(y, codec.decode(codes))
    with pytest.raises(ConfigError, match="inversion pghi needs encoder mel"):
        VocosCodecConfig.from_preset("debug", encoder="melnet", inversion="pghi")
    with pytest.raises(ConfigError, match="pghi_iters"):
        VocosCodecConfig.from_preset("debug", encoder="mel", inversion="pghi", pghi_iters=-1)


@pytest.mark.skipif(not (SHIPPED / "config.json").is_file(), reason="no shipped demo codec")
def test_shipped_codec_still_decodes_with_griffin_lim():
    config = json.loads((SHIPPED / "config.json").read_text())
    assert config["inversion"] == "griffin_lim" and config["griffin_lim_iters"] == 64
    assert "pghi_iters" not in config
    codec = load_codec(SHIPPED)
    assert codec.config.inversion == "griffin_lim" and codec.config.griffin_lim_iters == 64


def test_new_mel128_codecs_default_to_pghi_and_griffin_lim_stays_selectable():
    config = VocosCodecConfig.from_preset("mel128")
    assert config.inversion == "pghi" and config.pghi_iters == 4 and config.griffin_lim_iters == 64
    assert VocosCodecConfig.from_preset("mel128", inversion="griffin_lim").inversion == "griffin_lim"
    assert VocosCodecConfig().inversion == "vocoder"  # the field's own default is unchanged


def test_fit_mel_cli_accepts_pghi(tmp_path):
    import soundfile as sf

    from v2meow.cli.codec import main as codec_main

    music = tmp_path / "music"
    music.mkdir()
    t = torch.arange(SR * 3) / SR
    sf.write(music / "a.wav", (0.3 * torch.sin(2 * math.pi * 330.0 * t)).numpy(), SR)
    out = tmp_path / "codec"
    args = ["fit-mel", "--audio", str(music), "--out", str(out), "--preset", "debug", "--inversion", "pghi"]
    assert codec_main(args + ["--max-frames", "150"]) == 0
    codec = load_codec(out)
    assert codec.config.inversion == "pghi" and codec.config.encoder == "mel"
    assert codec.decode(codec.encode(t[None, :6400], sample_rate=SR)).shape == (1, 6400)
