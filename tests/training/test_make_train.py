"""`make train-STAGE` on a fresh clone: config sized for the machine, demo data prepared on first use, or your cache."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

sys.path.insert(0, str(Path(__file__).parents[1]))
from cachegen import make_cache
from recipes.train import main, plan

ROOT = Path(__file__).parents[2]
HAS_GPU = torch.cuda.is_available()


def test_plan_without_data_uses_the_demo_data_and_a_config_for_the_machine():
    args, needs = plan("stage2", [], has_gpu=False)
    assert needs and args == [
        "stage2",
        "--config",
        "configs/demo/v3/stage2_maskgit.yaml",
        "--ckpt-path",
        "last",
        "--data",
        "data/demo/cache",
        "--out",
        "runs/stage2",
        "--set",
        "data.val_split=valid",
    ]
    args, needs = plan("codec", ["--max-steps", "5"], has_gpu=True)
    assert needs and args == [
        "codec",
        "--config",
        "configs/codec.yaml",
        "--ckpt-path",
        "last",
        "--data",
        "data/demo/train_audio",
        "--out",
        "runs/codec",
        "--max-steps",
        "5",
    ]


def test_plan_with_data_or_config_passes_them_through():
    args, needs = plan("stage1", ["--data", "my/cache", "--out", "runs/x"], has_gpu=False)
    assert not needs and args == [
        "stage1",
        "--config",
        "configs/demo/v3/stage1.yaml",
        "--ckpt-path",
        "last",
        "--data",
        "my/cache",
        "--out",
        "runs/x",
    ]
    args, _ = plan("stage1", ["--data", "my/cache"], has_gpu=False)  # not the demo recipe's runs/demo/stage1
    assert args == [
        "stage1", "--config", "configs/demo/v3/stage1.yaml", "--ckpt-path", "last", "--out", "runs/stage1", "--data", "my/cache"
    ]  # fmt: skip
    args, _ = plan("stage1", ["--data", "my/cache", "--ckpt-path", "a.ckpt"], has_gpu=False)  # the user's own
    assert args.count("--ckpt-path") == 1 and args[-1] == "a.ckpt"
    args, needs = plan("stage3", ["--config", "configs/stage3.yaml", "--set", "model.preset=paper"], has_gpu=False)
    assert (
        needs
        and args[:5] == ["stage3", "--ckpt-path", "last", "--data", "data/demo/cache"]
        and args[-4:] == ["--config", "configs/stage3.yaml", "--set", "model.preset=paper"]
    )


def test_unknown_stage_is_exit_2(capsys):
    assert main(["stage9"]) == 2
    assert "usage: python -m recipes.train" in capsys.readouterr().err


@pytest.mark.slow
def test_make_train_stage1_end_to_end_on_a_tiny_cache(tmp_path):
    """The Makefile target itself, with the running interpreter (PY=) and a fresh install stamp (STAMP=): no reinstall."""
    cache = make_cache(
        tmp_path / "cache", durations=(3.0, 2.5, 3.0), rhythm="2d", contract={"semantic_rate": 25.0}
    )  # the demo stage 1 reads a 25-Hz rhythm channel
    out = tmp_path / "run"
    stamp = tmp_path / "installed"
    stamp.touch()
    args = (
        f"--data {cache} --out {out} --set trainer.max_steps=2 --set data.batch_size=2 --set data.num_workers=0 "
        "--set model.fields.window_seconds=2.0 --set trainer.enable_progress_bar=false --set trainer.log_every_n_steps=1 "
        "--set data.val_split=null"  # a cache with no held-out split
    )
    cmd = [
        "make",
        "--no-print-directory",
        "-C",
        str(ROOT),
        "train-stage1",
        f"PY={sys.executable}",
        f"STAMP={stamp}",
        f"ARGS={args}",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "pip install" not in r.stdout + r.stderr
    assert torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 2
    assert (out / "stage1" / "model.safetensors").is_file() and (out / "loss.png").is_file()
    used = yaml.safe_load((out / "config.yaml").read_text())
    if not HAS_GPU:
        assert "no GPU: CPU-sized config configs/demo/v3/stage1.yaml" in r.stderr
        assert used["model"]["fields"]["dim"] == 128  # the demo's CPU-trainable width
    assert f"tensorboard --logdir {out / 'tb'}" in r.stderr and str(out / "loss.png") in r.stderr


def _fake_demo_data(root: Path, make_video) -> Path:
    """data/demo as `make demo-data` leaves it, with three short videos (two training packages' worth, one held out)."""
    data = root / "data" / "demo"
    (data / "videos").mkdir(parents=True)
    (data / "train_audio").mkdir()
    entries = []
    for i, package in enumerate(["wesnoth-1.16-music", "warzone2100-music", "ufoai-music"]):
        video = make_video(f"v{i}.mp4", duration=3.0, fps=10, size=(32, 32), audio_rate=16000)
        video.rename(data / "videos" / video.name)
        entries.append(
            {"id": f"v{i}", "video": video.name, "package": package, "tempo": 100.0 + 20 * i, "duration": 3.0}
        )
    (data / "videos" / "videos.json").write_text(json.dumps({"params": {}, "videos": entries}))
    return data


@pytest.mark.slow
def test_first_use_prepares_the_demo_cache_with_the_demo_components_then_skips(
    tmp_path, make_video, monkeypatch, capsys
):
    work = tmp_path / "clone"
    work.mkdir()
    (work / "configs").symlink_to(ROOT / "configs")
    _fake_demo_data(work, make_video)
    monkeypatch.chdir(work)
    tiny = [
        "--set",
        "trainer.max_steps=1",
        "--set",
        "data.batch_size=2",
        "--set",
        "data.num_workers=0",
        "--set",
        "trainer.enable_progress_bar=false",
    ]
    assert main(["stage3", *tiny]) == 0
    err = capsys.readouterr().err
    assert "demo data: already in data/demo (skipped)" in err and "demo cache: preparing data/demo/cache" in err
    manifest = json.loads((work / "data" / "demo" / "cache" / "manifest.json").read_text())
    demo = json.loads((ROOT / "checkpoints" / "demo" / "codec" / "config.json").read_text())
    assert (manifest["num_coarse"], manifest["codebook_size"]) == (demo["num_coarse"], demo["codebook_size"])
    assert (work / "runs" / "stage3" / "stage3" / "model.safetensors").is_file()
    assert main(["stage3", *tiny, "--ckpt-path", "last", "--set", "trainer.max_steps=2"]) == 0
    assert "demo cache: already prepared in data/demo/cache (skipped)" in capsys.readouterr().err


def test_app_deps_installs_chromium_without_recommends_and_says_why(tmp_path):
    stamp = tmp_path / "installed"
    stamp.touch()
    r = subprocess.run(
        [
            "make",
            "-n",
            "--no-print-directory",
            "-C",
            str(ROOT),
            "app-deps",
            f"STAMP={stamp}",
            f"APP_STAMP={tmp_path / 'app'}",
            "PY=python",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert "apt-get install -y -qq --no-install-recommends chromium" in r.stdout
    assert "installing Debian's chromium (no recommended packages) for the web app's browser test" in r.stdout
