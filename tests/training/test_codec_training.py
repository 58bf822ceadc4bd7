"""Codec training: the `v2meow-train codec` CLI end to end (train, resume, export), data and config errors."""

import csv

import numpy as np
import pytest
import soundfile as sf
import torch

from v2meow.cli.export import main as export_main
from v2meow.cli.train import main as train_main
from v2meow.errors import ConfigError, MissingWeightsError
from v2meow.tokenizers.acoustic import SoundStream, load_codec
from v2meow.training.audio_data import AudioCropDataset, scan_audio
from v2meow.training.export import export_codec, read_checkpoint

TINY = [
    "--set",
    "model.preset=debug",
    "--set",
    "model.discriminator={filters: 4, max_filters: 8, n_ffts: [256, 128]}",
    "--set",
    "model.disc_warmup_steps=1",  # step 0: discriminator only; from step 1 adversarial losses too
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
    "trainer.log_every_n_steps=1",
    "--set",
    "trainer.enable_progress_bar=false",
    "--set",
    "trainer.enable_model_summary=false",
    "--set",
    "trainer.accelerator=cpu",
    "--set",
    "trainer.devices=1",
]


@pytest.fixture
def music_dir(tmp_path):
    """Two short tones at 22.05 kHz (one stereo), a corrupt file and a too-short one (both skipped)."""
    d = tmp_path / "music"
    d.mkdir()
    t = np.arange(round(1.2 * 22050)) / 22050
    sf.write(d / "a.wav", (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 22050)
    sf.write(d / "sub_b.flac", np.stack([0.2 * np.sin(2 * np.pi * 330 * t)] * 2, 1).astype(np.float32), 22050)
    (d / "broken.wav").write_bytes(b"RIFF\x00\x00 definitely not audio")
    sf.write(d / "tiny.wav", np.zeros(100, np.float32), 22050)
    return d


def _steps(out) -> int:
    return int(read_checkpoint(out / "checkpoints" / "last.ckpt")["global_step"])


def test_train_resume_export(music_dir, tmp_path):
    out = tmp_path / "run"
    base = ["codec", "--config", "configs/codec.yaml", "--data", str(music_dir), "--out", str(out), *TINY]
    assert train_main([*base, "--max-steps", "3"]) == 0
    assert _steps(out) == 3  # global_step counts codec steps, not discriminator steps
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["last.ckpt", "step00000002.ckpt"]
    assert (out / "config.yaml").is_file()
    first = load_codec(out / "codec")
    assert isinstance(first, SoundStream) and first.sample_rate == 16000

    with open(out / "logs" / "version_0" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    logged = {k for row in rows for k, v in row.items() if v}
    assert {"train/mel", "train/commit", "train/loss_d", "train/loss_g", "train/adv", "train/feat"} <= logged

    assert train_main([*base, "--max-steps", "5", "--ckpt-path", "last"]) == 0  # resume: 2 more steps
    ckpt = read_checkpoint(out / "checkpoints" / "last.ckpt")
    assert ckpt["global_step"] == 5
    assert ckpt["v2meow"]["model_type"] == "soundstream" and ckpt["v2meow"]["component_config"]["sample_rate"] == 16000

    assert export_main([str(out / "checkpoints" / "last.ckpt"), str(tmp_path / "exported")]) == 0
    exported, final = load_codec(tmp_path / "exported"), load_codec(out / "codec")
    x = torch.randn(1, 8000) * 0.1
    assert torch.equal(exported.encode(x), final.encode(x))
    assert exported.encode(x).shape == (4, 25)
    assert not all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), final.state_dict().values()))

    fresh = tmp_path / "fresh"  # --ckpt-path last with nothing there starts from scratch; --init-from: fine-tuning
    assert (
        train_main(
            [
                *base,
                "--out",
                str(fresh),
                "--max-steps",
                "1",
                "--ckpt-path",
                "last",
                "--init-from",
                str(out / "checkpoints" / "last.ckpt"),
                "--set",
                "model.discriminator=null",
            ]
        )
        == 0
    )
    assert _steps(fresh) == 1
    key = "codec.encoder.0.conv.parametrizations.weight.original1"
    tuned, start = read_checkpoint(fresh / "checkpoints" / "last.ckpt")["state_dict"][key], ckpt["state_dict"][key]
    assert 0 < (tuned - start).abs().max() < 5e-3  # one AdamW step (lr 3e-4) away from the initialisation


def test_bad_configs_exit_2(music_dir, tmp_path, capsys):
    base = ["codec", "--config", "configs/codec.yaml", "--data", str(music_dir), "--out", str(tmp_path / "r"), *TINY]
    for extra, message in [
        (["--set", "model.colour=1"], "model: unknown config field(s) colour"),
        (["--set", "model.preset=huge"], "unknown soundstream preset 'huge'"),
        (["--set", "model.codec={num_coarse: 9}"], "num_coarse"),
        (["--set", "trainer.warp_speed=9"], "trainer:"),
        (["--ckpt-path", str(tmp_path / "none.ckpt")], "checkpoint to resume from not found"),
        (["--data", str(tmp_path / "nowhere")], "audio directory not found"),
        (["--data", str(tmp_path / "r")], "no usable audio files"),  # exists (the run dir), holds no audio
    ]:
        assert train_main([*base, *extra]) == 2
        err = capsys.readouterr().err
        assert message in err and err.startswith("v2meow-train: error:"), err
    (tmp_path / "bad.yaml").write_text("model: {}\noptimizer: {}\n")
    assert train_main(["codec", "--config", str(tmp_path / "bad.yaml")]) == 2
    assert "unknown section(s) optimizer" in capsys.readouterr().err


def test_export_errors(tmp_path):
    with pytest.raises(MissingWeightsError):
        export_codec(tmp_path / "none.ckpt", tmp_path / "out")
    torch.save({"state_dict": {}, "epoch": 0}, tmp_path / "foreign.ckpt")
    with pytest.raises(ConfigError, match="not a v2meow training checkpoint"):
        export_codec(tmp_path / "foreign.ckpt", tmp_path / "out")
    (tmp_path / "junk.ckpt").write_bytes(b"junk")
    with pytest.raises(ConfigError, match="not a readable checkpoint"):
        export_codec(tmp_path / "junk.ckpt", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_crops(music_dir):
    items = scan_audio(music_dir)  # broken.wav and tiny.wav are skipped
    assert [p.rsplit("/", 1)[-1] for p, _ in items] == ["a.wav", "sub_b.flac"]
    assert all(abs(d - 1.2) < 0.01 for _, d in items)
    ds = AudioCropDataset(items, 16000, 1, crop_seconds=0.5, length=4)
    torch.manual_seed(0)
    crops = [ds[i] for i in range(4)]
    assert all(c.shape == (1, 8000) and c.abs().max() > 0.1 for c in crops)
    long = AudioCropDataset(items, 16000, 2, crop_seconds=2.0, length=1)[0]  # longer than the file: zero-padded
    assert long.shape == (2, 32000) and long[:, 20000:].abs().max() == 0
    fixed = AudioCropDataset(items, 16000, 1, crop_seconds=0.5, length=4, random_crops=False)
    assert all(torch.equal(fixed[i], fixed[i]) for i in range(4))
