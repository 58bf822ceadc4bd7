"""The learned mel codec (`model_type: melae`): the codec contract, save/load, and a tiny model that, trained on
a tone and a click track with the training losses, keeps the tone's pitch and the clicks' onsets."""

import json

import numpy as np
import pytest
import torch

from v2meow.errors import ConfigError
from v2meow.tokenizers.acoustic import MelAECodec, MelAECodecConfig, load_codec
from v2meow.training.melae import code_stats, contrast, mel_losses

SR = 16000


def tone(f: float, seconds: float = 2.0) -> torch.Tensor:
    t = torch.arange(round(SR * seconds), dtype=torch.float64) / SR
    return (0.3 * torch.sin(2 * torch.pi * f * t)).float()  # [N]


def clicks(period: float = 0.4, seconds: float = 2.0) -> torch.Tensor:
    """`[N]`: a decaying noise burst every `period` s, starting at 0.1 s."""
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(round(SR * seconds))
    burst = torch.randn(400, generator=g) * torch.exp(-torch.arange(400) / 60.0)
    for t0 in np.arange(0.1, seconds - 0.05, period):
        i = round(t0 * SR)
        x[i : i + 400] += 0.8 * burst
    return x


def test_shapes_rates_and_round_trip_of_the_api():
    torch.manual_seed(0)
    codec = MelAECodec.from_preset("debug").eval()
    assert (codec.sample_rate, codec.hop_length, codec.frame_rate) == (16000, 320, 50.0)
    assert (codec.num_codebooks, codec.codebook_size, codec.num_coarse, codec.num_fine) == (4, 64, 2, 2)
    assert codec.codec_id == "melae/16000Hz/50fps/4x64"
    x = tone(440.0, 1.0)
    codes = codec.encode(x, sample_rate=SR)  # [K, T]
    assert codes.shape == (4, 50) and codes.dtype == torch.long
    assert codec.encode(x[None, None].repeat(2, 2, 1)).shape == (2, 4, 50)  # batched, stereo downmixed
    assert codec.encode(tone(440.0, 1.0)[: 44100 // 2], sample_rate=44100).shape == (4, 19)  # resampled
    y = codec.decode(codes, length=x.numel())
    assert y.shape == (1, 16000) and torch.isfinite(y).all()
    assert torch.equal(y, codec.decode(codes, length=x.numel()))  # Griffin-Lim is seeded
    assert codec.decode(codes[:2]).shape == (1, 16000)  # the coarse levels alone
    coarse, fine = codec.split(codes)
    assert torch.equal(codec.merge(coarse, fine), codes)
    with pytest.raises(ConfigError, match="codes must lie"):
        codec.decode(codes + 64)
    with pytest.raises(ConfigError, match="num_coarse"):
        MelAECodecConfig.from_preset("debug", num_coarse=5)


def test_the_shipped_layout_fits_the_size_budget():
    codec = MelAECodec.from_preset("mel128")
    assert (codec.num_codebooks, codec.codebook_size, codec.num_coarse, codec.config.n_mels) == (8, 1024, 3, 128)
    mb = sum(v.numel() * 4 for v in codec.state_dict().values() if v.is_floating_point()) / 1e6
    assert mb <= 12.0


def test_save_and_load_through_load_codec_give_identical_codes(tmp_path):
    torch.manual_seed(0)
    codec = MelAECodec.from_preset("debug")
    codec.train()
    with torch.no_grad():  # k-means init and EMA statistics: the state a trained codec saves
        codec.forward_mel(codec.mel(clicks()[None, None]))
    codec.eval()
    codec.save_pretrained(tmp_path / "c")
    assert json.loads((tmp_path / "c" / "config.json").read_text())["model_type"] == "melae"
    loaded = load_codec(tmp_path / "c")
    assert isinstance(loaded, MelAECodec) and not loaded.training
    x = tone(330.0) + clicks()
    codes = codec.encode(x)
    assert torch.equal(codes, loaded.encode(x))
    assert torch.equal(codec.decode(codes), loaded.decode(codes))


def test_losses_reward_spectral_peaks():
    x = torch.zeros(1, 32, 10)
    x[:, 16] = 1.0  # one partial
    blurred = torch.nn.functional.avg_pool1d(x.transpose(1, 2), 5, 1, padding=2).transpose(1, 2)  # same energy
    assert contrast(x, 9)[0, 16, 0] > 0.8 and contrast(torch.ones(1, 32, 10), 9).abs().max() < 1e-6
    assert mel_losses(blurred, x, 9)["contrast"] > 0.5 * mel_losses(blurred, x, 9)["l1"]
    stats = code_stats(torch.tensor([[[0, 1, 2, 3]], [[0, 1, 2, 3]]]), 8)
    assert stats == {"entropy_bits": [2.0], "perplexity": [4.0], "used": [4]}


def _peak_hz(y: torch.Tensor) -> float:
    spec = torch.fft.rfft(y * torch.hann_window(y.numel())).abs()
    return float(spec.argmax()) * SR / y.numel()


def _onset_hits(y: torch.Tensor, period: float = 0.4) -> tuple[int, int]:
    """(clicks found, clicks played): a 10-ms energy envelope peaks within 40 ms of each click at > 5x its median."""
    env = y[: y.numel() // 160 * 160].reshape(-1, 160).pow(2).mean(-1)  # [frames of 10 ms]
    floor = env.median()
    times = np.arange(0.1, y.numel() / SR - 0.05, period)
    hits = sum(int(env[max(0, round(t * 100) - 4) : round(t * 100) + 5].max() > 5 * floor) for t in times)
    return hits, len(times)


def test_a_tiny_model_trained_on_a_tone_and_clicks_keeps_pitch_and_onsets():
    torch.manual_seed(0)
    codec = MelAECodec.from_preset("debug", n_mels=64, griffin_lim_iters=32, quantizer_dropout=False)
    signals = torch.stack([tone(523.25), clicks()])[:, None]  # [2, 1, N]
    mel = codec.mel(signals)  # [2, M, T]
    codec.mel_mean.copy_(mel.mean(dim=(0, 2)))
    before = codec.eval().decode(codec.encode(signals))[:, 0]
    codec.train()
    opt = torch.optim.Adam(codec.parameters(), lr=3e-3)
    for _ in range(120):
        o = codec.forward_mel(mel)
        parts = mel_losses(o.mel, mel, 9)
        loss = parts["l1"] + parts["contrast"] + 0.5 * parts["tdiff"] + o.commit_loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    codec.eval()
    with torch.no_grad():
        assert float((codec.decode_mel(codec.encode_mel(mel)) - mel).abs().mean()) < 0.06
        unquantized = codec.frontend.invert(mel, 32)  # [2, N]: what the mel itself keeps (502.5 Hz: a band's width)
    y = codec.decode(codec.encode(signals))[:, 0]  # [2, N]
    assert abs(_peak_hz(y[0]) - _peak_hz(unquantized[0])) < 5.0  # the tone's pitch, as the mel keeps it
    assert abs(_peak_hz(y[0]) - 523.25) < 40.0  # within a mel band (~45 Hz wide here) of the truth
    hits, played = _onset_hits(y[1])
    assert hits == played == _onset_hits(unquantized[1])[0]
    # the same checks fail for the untrained model: they measure what training taught
    assert abs(_peak_hz(before[0]) - 523.25) >= 40.0 and _onset_hits(before[1])[0] < played


def _frames_folder(folder, n_mels: int = 32) -> None:
    folder.mkdir()
    g = np.random.default_rng(0)
    tracks = []
    for i in range(4):
        mel = (g.standard_normal((400, n_mels)) * 0.3 - 1.0).astype(np.float16)  # [T, M]
        np.save(folder / f"t{i}.npy", mel)
        tracks.append({"id": f"p/t{i}", "file": f"t{i}.npy", "frames": 400, "val": i == 3})
    (folder / "index.json").write_text(json.dumps({"n_mels": n_mels, "tracks": tracks}))


def test_training_logs_validation_exports_a_loadable_codec_and_resumes(tmp_path):
    from v2meow.training.melae import TrainConfig, train

    _frames_folder(tmp_path / "frames")
    c = TrainConfig(frames=str(tmp_path / "frames"), out=str(tmp_path / "run"), preset="debug", steps=4, batch=2,
                    crop=32, init_frames=256, gan_start=3, val_every=2, val_crops=4, val_crop=64, snapshot_every=4)  # fmt: skip
    lines = []
    train(c, log=lines.append)
    rows = (tmp_path / "run" / "val.csv").read_text().splitlines()
    assert rows[0].startswith("step,wall_s,frames_seen") and [r.split(",")[0] for r in rows[1:]] == ["2", "4"]
    codec = load_codec(tmp_path / "run" / "codec_step4")
    assert isinstance(codec, MelAECodec) and codec.config.n_mels == 32
    assert torch.equal(codec.mel_mean, load_codec(tmp_path / "run" / "codec_last").mel_mean)
    train(TrainConfig(**{**c.__dict__, "steps": 6}), log=lines.append)  # resumes at step 4, no k-means init
    assert any("resumed" in m and "step 4" in m for m in lines)
    assert sum("k-means init" in m for m in lines) == 1
    assert [r.split(",")[0] for r in (tmp_path / "run" / "val.csv").read_text().splitlines()[1:]] == ["2", "4", "6"]


def test_pghi_inversion_is_a_config_field(tmp_path):
    """`inversion: pghi` decodes the same codes to audio of the same length, deterministically, and survives
    save/load; an unknown inversion is refused when the config is built."""
    torch.manual_seed(0)
    codec = MelAECodec.from_preset("debug").eval()
    x = tone(440.0, 1.0)
    codes = codec.encode(x, sample_rate=SR)
    codec.save_pretrained(tmp_path / "c")
    config = tmp_path / "c" / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "inversion": "pghi", "pghi_iters": 2}))
    back = load_codec(tmp_path / "c")
    assert (back.config.inversion, back.config.pghi_iters) == ("pghi", 2)
    y, z = back.decode(codes, length=x.numel()), codec.decode(codes, length=x.numel())
    assert y.shape == z.shape and torch.isfinite(y).all() and not torch.equal(y, z)
    assert torch.equal(y, back.decode(codes, length=x.numel()))
    with pytest.raises(ConfigError, match="inversion"):
        MelAECodecConfig.from_preset("debug", inversion="vocoder")
