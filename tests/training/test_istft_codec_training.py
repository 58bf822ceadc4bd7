"""`v2meow-train codec` with the iSTFT codec (configs/demo/codec_istft.yaml, shrunk): mel warm-up then
adversarial steps (MPD + MRD), EMA export, resume, the monitor's CSV/PNG/examples, preloaded crops, bad configs."""

import csv

import numpy as np
import pytest
import soundfile as sf
import torch

from v2meow.cli.train import main as train_main
from v2meow.tokenizers.acoustic import VocosCodec, load_codec
from v2meow.training.audio_data import AudioCropDataset, scan_audio
from v2meow.training.export import read_checkpoint

TINY = [
    "--set",
    "model.preset=debug",
    "--set",
    "model.discriminator={kind: mpd_mrd, periods: [2, 3], period_channels: [4, 8], n_ffts: [256, 128], filters: 4}",
    "--set",
    "model.mel_windows=[128, 256, 512]",
    "--set",
    "model.mel_warmup_steps=1",  # step 0: mel only; from step 1 discriminator and adversarial losses
    "--set",
    "model.disc_warmup_steps=1",
    "--set",
    "model.disc_segment_seconds=0.2",
    "--set",
    "model.ema_decay=0.9",
    "--set",
    "model.monitor={every_n_steps: 2, log_every_n_steps: 1, examples: 1, seconds: 0.5}",
    "--set",
    "data.batch_size=2",
    "--set",
    "data.crop_seconds=0.4",
    "--set",
    "data.num_workers=0",
    "--set",
    "data.samples_per_epoch=6",
    "--set",
    "checkpoint.every_n_train_steps=2",
    "--set",
    "trainer.enable_model_summary=false",
]


@pytest.fixture
def music_dir(tmp_path):
    d = tmp_path / "music"
    d.mkdir()
    t = np.arange(round(1.2 * 16000)) / 16000
    sf.write(d / "a.flac", (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000)
    sf.write(d / "b.wav", (0.2 * np.sign(np.sin(2 * np.pi * 110 * t))).astype(np.float32), 22050)
    return d


def test_adversarial_steps_resume_monitor_export(music_dir, tmp_path):
    out = tmp_path / "run"
    base = [
        "codec",
        "--config",
        "configs/demo/codec_istft.yaml",
        "--data",
        str(music_dir),
        "--out",
        str(out),
        *TINY,
        "--set",
        f"model.monitor.examples_dir={music_dir}",
    ]
    assert train_main([*base, "--max-steps", "2"]) == 0
    first = read_checkpoint(out / "checkpoints" / "last.ckpt")
    assert first["global_step"] == 2 and first["v2meow"]["model_type"] == "vocos"
    assert first["v2meow"]["component_prefix"] == "codec_ema."  # the export uses the EMA weights

    with open(out / "losses.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["step"] for r in rows] == ["1", "2"]
    assert rows[0]["loss_d"] == "" and float(rows[1]["loss_d"]) > 0 and float(rows[1]["adv"]) > 0  # warm-up, then GAN
    assert (out / "losses.png").stat().st_size > 1000
    assert sorted(p.name for p in (out / "examples").iterdir()) == ["original_a.wav", "step00000002_a.wav"]

    assert train_main([*base, "--max-steps", "3", "--ckpt-path", "last"]) == 0  # resume: one adversarial step
    resumed = read_checkpoint(out / "checkpoints" / "last.ckpt")
    assert resumed["global_step"] == 3
    changed = [k for k, v in first["state_dict"].items() if not torch.equal(v, resumed["state_dict"][k])]
    assert any(k.startswith("codec.decoder.") for k in changed)  # the generator stepped
    assert any(k.startswith("discriminator.") for k in changed)  # and the discriminator
    assert any(k.startswith("codec_ema.") for k in changed)
    with open(out / "losses.csv") as f:
        assert [r["step"] for r in csv.DictReader(f)] == ["1", "2", "3"]  # appended across the restart

    codec = load_codec(out / "codec")
    ema = {k[len("codec_ema.") :]: v for k, v in resumed["state_dict"].items() if k.startswith("codec_ema.")}
    assert isinstance(codec, VocosCodec) and all(torch.equal(codec.state_dict()[k], v) for k, v in ema.items())
    x = torch.randn(1, 8000) * 0.1
    assert codec.encode(x).shape == (4, 25) and codec.decode(codec.encode(x)).shape == (1, 8000)


def test_frozen_codebooks_train_the_vocoder_only(music_dir, tmp_path):
    """A fitted mel codec trains on with `freeze_codebooks`: its codes keep their meaning."""
    from v2meow.cli.codec import main as codec_main

    fitted = tmp_path / "fitted"
    assert (
        codec_main(
            ["fit-mel", "--audio", str(music_dir), "--out", str(fitted), "--preset", "debug", "--inversion", "vocoder"]
        )
        == 0
    )
    out = tmp_path / "run"
    assert (
        train_main(
            [
                "codec",
                "--config",
                "configs/demo/codec_istft.yaml",
                "--data",
                str(music_dir),
                "--out",
                str(out),
                *TINY,
                "--set",
                f"model.monitor.examples_dir={music_dir}",
                "--set",
                f"model.init_from={fitted}",
                "--set",
                "model.freeze_codebooks=true",
                "--max-steps",
                "2",
            ]
        )
        == 0
    )
    before, after = load_codec(fitted), load_codec(out / "codec")
    assert torch.equal(before.quantizer.codebooks, after.quantizer.codebooks)
    assert not torch.equal(before.decoder.head.weight, after.decoder.head.weight)
    x = torch.randn(1, 8000) * 0.1
    assert torch.equal(before.encode(x), after.encode(x))


def test_bad_configs_exit_2(music_dir, tmp_path, capsys):
    base = [
        "codec",
        "--config",
        "configs/demo/codec_istft.yaml",
        "--data",
        str(music_dir),
        "--out",
        str(tmp_path / "r"),
        *TINY,
    ]
    for extra, message in [
        (["--set", "model.model_type=wavenet"], "model.model_type must be one of"),
        (["--set", "model.codec={encoder: fourier}"], "encoder must be one of"),
        (["--set", "model.discriminator={kind: huge}"], "discriminator kind"),
        (["--set", "model.ema_decay=1.5"], "ema_decay"),
        (["--set", "model.monitor={every_n_steps: -1}"], "model.monitor"),
        (["--set", "model.preset=paper"], "unknown vocos preset 'paper'"),
    ]:
        assert train_main([*base, *extra]) == 2
        err = capsys.readouterr().err
        assert message in err and err.startswith("v2meow-train: error:"), err


def test_preloaded_crops_match_decoded_crops(music_dir):
    items = scan_audio(music_dir)
    torch.manual_seed(0)
    decoded = [AudioCropDataset(items, 16000, 1, 0.5, 4, random_crops=False)[i] for i in range(4)]
    preloaded = AudioCropDataset(items, 16000, 1, 0.5, 4, random_crops=False, preload=True)
    for i in range(4):
        assert preloaded[i].shape == (1, 8000)
        assert (preloaded[i] - decoded[i]).abs().mean() < 1e-3  # 16-bit storage; resampler edges differ slightly


def test_ckpt_path_last_picks_the_newest_last_file(tmp_path):
    import os

    from v2meow.training.runner import resolve_ckpt_path

    d = tmp_path / "checkpoints"
    d.mkdir()
    assert resolve_ckpt_path("last", tmp_path) is None  # nothing yet: start from scratch
    (d / "last.ckpt").write_bytes(b"a")
    assert resolve_ckpt_path("last", tmp_path) == str(d / "last.ckpt")
    (d / "last-v1.ckpt").write_bytes(b"b")  # Lightning's name when a foreign last.ckpt was in the way
    os.utime(d / "last.ckpt", (1, 1))
    assert resolve_ckpt_path("last", tmp_path) == str(d / "last-v1.ckpt")
