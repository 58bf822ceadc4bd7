import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parents[1]))
from cachegen import make_cache
from v2meow.errors import ConfigError
from v2meow.stages.ar_semantic import Stage1
from v2meow.training.runner import load_run_config, set_value
from v2meow.training.stage_train import train_stage

ROOT = Path(__file__).parents[2]
CONFIGS = {
    "stage1": "stage1.yaml",
    "stage2": "stage2.yaml",
    "stage2_visual": "stage2_visual.yaml",
    "stage3": "stage3.yaml",
}


def tiny_config(name: str, cache: Path, out: Path, **extra) -> dict:
    cfg = load_run_config(ROOT / "configs" / CONFIGS[name])
    settings = {
        "out": str(out),
        "data.cache": str(cache),
        "data.batch_size": 2,
        "data.num_workers": 0,
        "data.val_split": None,
        "model.preset": "debug",
        "model.warmup_steps": 2,
        "model.fields.num_coarse": 2,
        "model.fields.window_seconds": 2.0 if name != "stage3" else 1.0,
        "trainer.accelerator": "cpu",
        "trainer.devices": 1,
        "trainer.enable_progress_bar": False,
        "trainer.log_every_n_steps": 1,
        "trainer.max_steps": 4,
        "checkpoint.every_n_train_steps": 2,
    }
    if name == "stage1":
        del settings["model.fields.num_coarse"]
    for k, v in {**settings, **extra}.items():
        set_value(cfg, k, v)
    return cfg


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return make_cache(tmp_path_factory.mktemp("cache"), durations=(3.0, 2.5, 3.0, 2.0))


@pytest.mark.parametrize("name", list(CONFIGS))
def test_fast_dev_run_from_yaml(name, cache, tmp_path):
    stage = "stage2" if name.startswith("stage2") else name
    cfg = tiny_config(name, cache, tmp_path / "run", **{"trainer.fast_dev_run": True})
    exported = train_stage(stage, cfg)
    assert (exported / "config.json").is_file() and (exported / "model.safetensors").is_file()


def test_resume_continues_global_step_and_export(cache, tmp_path):
    out = tmp_path / "run"
    train_stage("stage1", tiny_config("stage1", cache, out))
    last = out / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == 4
    train_stage("stage1", tiny_config("stage1", cache, out, **{"trainer.max_steps": 6}), ckpt_path="last")
    assert torch.load(last, weights_only=True)["global_step"] == 6
    from v2meow.training.export import export_checkpoint

    exported = export_checkpoint(last, tmp_path / "exported")
    a, b = Stage1.from_pretrained(exported), Stage1.from_pretrained(out / "stage1")
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)


def test_init_from_mismatch_names_the_field(cache, tmp_path):
    out = tmp_path / "run"
    exported = train_stage("stage3", tiny_config("stage3", cache, out, **{"trainer.max_steps": 1}))
    cfg = tiny_config("stage3", cache, tmp_path / "ft", **{"model.init_from": str(exported), "model.fields.dim": 48})
    with pytest.raises(ConfigError, match=r"dim \(32 vs 48\)"):
        train_stage("stage3", cfg)
    # same architecture: fine-tuning starts from the released weights
    ft = train_stage(
        "stage3",
        tiny_config(
            "stage3",
            cache,
            tmp_path / "ft2",
            **{"model.init_from": str(out / "checkpoints" / "last.ckpt"), "trainer.max_steps": 1},
        ),
    )
    assert ft.is_dir()


def test_yaml_fields_that_contradict_the_cache(cache, tmp_path):
    cfg = tiny_config("stage1", cache, tmp_path / "run", **{"model.fields.semantic_vocab": 99})
    with pytest.raises(ConfigError, match="semantic_vocab=99"):
        train_stage("stage1", cfg)


@pytest.mark.slow
def test_ddp_two_cpu_processes(cache, tmp_path):
    """Two gloo processes train a few steps through the CLI; rank 0 exports."""
    import subprocess

    out = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "v2meow.cli.train",
        "stage3",
        "--config",
        str(ROOT / "configs" / "stage3.yaml"),
        "--data",
        str(cache),
        "--out",
        str(out),
        "--max-steps",
        "3",
        "--set",
        "model.preset=debug",
        "--set",
        "model.fields.num_coarse=2",
        "--set",
        "model.fields.window_seconds=1.0",
        "--set",
        "data.batch_size=2",
        "--set",
        "data.num_workers=0",
        "--set",
        "data.val_split=null",
        "--set",
        "trainer.accelerator=cpu",
        "--set",
        "trainer.devices=2",
        "--set",
        "trainer.strategy=ddp",
        "--set",
        "trainer.enable_progress_bar=false",
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 3
    assert (out / "stage3" / "model.safetensors").is_file()


@pytest.mark.parametrize("schedule_steps", [None, 8])
def test_schedule_steps_sets_the_cosine_horizon_apart_from_max_steps(cache, tmp_path, schedule_steps):
    """A run stopped at step 4 of an 8-step schedule ends at that schedule's learning rate, not at the floor."""
    from v2meow.training.stages import warmup_cosine

    out = tmp_path / "run"
    cfg = tiny_config("stage1", cache, out, **{"model.schedule_steps": schedule_steps})
    train_stage("stage1", cfg)
    state = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    lr = state["lr_schedulers"][0]["_last_lr"][0]
    horizon = schedule_steps or 4
    assert lr == pytest.approx(cfg["model"]["lr"] * warmup_cosine(4, 2, horizon))
    assert (lr > cfg["model"]["lr"] * 0.1 * 1.01) == (schedule_steps is not None)  # 0.1: the cosine floor
