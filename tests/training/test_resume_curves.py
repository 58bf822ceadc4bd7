"""A run resumed from a checkpoint continues the uninterrupted run's curves exactly: the same
batches, crops and masks from the step it resumes at (`data.sampling`, `StageModule` reseeding)."""

import shutil
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parents[1]))
from test_stage_training import tiny_config

from cachegen import make_cache
from v2meow.data.sampling import ResumableSampler
from v2meow.training.plots import read_metrics
from v2meow.training.stage_train import train_stage

SPLITS = ["train"] * 9 + ["valid"] * 2  # 9 training items, batch 2: 4 batches an epoch (drop_last)
STEPS = 10


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    durations = (3.0, 2.5, 3.0, 2.0, 2.5, 3.0, 2.0, 3.0, 2.5, 3.0, 2.5)
    return make_cache(tmp_path_factory.mktemp("cache"), durations=durations, splits=SPLITS)


def config(cache, out, steps, workers=0):
    return tiny_config(
        "stage2",
        cache,
        out,
        **{
            "data.val_split": "valid",
            "data.num_workers": workers,
            "trainer.max_steps": steps,
            "trainer.val_check_interval": 2,
            "model.schedule_steps": STEPS,
            "checkpoint.every_n_train_steps": 3,
            "checkpoint.keep_all": True,
        },
    )


def curves(out: Path) -> dict[str, list[tuple[int, float]]]:
    series = read_metrics(out / "logs")
    return {k: series[k] for k in ("train/loss", "val/loss")}


@pytest.fixture(scope="module")
def straight(cache, tmp_path_factory):
    """The uninterrupted run: 10 steps (2.5 epochs), validating every 2 steps."""
    out = tmp_path_factory.mktemp("straight") / "run"
    train_stage("stage2", config(cache, out, STEPS))
    return out


def test_stopped_and_resumed_run_repeats_the_curves(cache, straight, tmp_path):
    out = tmp_path / "run"
    train_stage("stage2", config(cache, out, 3))  # stops at step 3 (Lightning closes the epoch)
    train_stage("stage2", config(cache, out, STEPS), ckpt_path="last")
    resumed, full = curves(out), curves(straight)
    assert resumed["train/loss"] == full["train/loss"]
    stop_check = (2, resumed["val/loss"][1][1])  # the stopped run validated its final weights (logged at step - 1)
    assert resumed["val/loss"] == sorted(full["val/loss"] + [stop_check])


@pytest.mark.slow
def test_run_killed_mid_epoch_resumes_from_its_step_checkpoint(cache, straight, tmp_path):
    """Resuming from the step-6 checkpoint (epoch 1, batch 2 of 4), with a loader worker this time."""
    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)
    shutil.copy(straight / "checkpoints" / "step00000006.ckpt", out / "checkpoints" / "last.ckpt")
    train_stage("stage2", config(cache, out, STEPS, workers=1), ckpt_path="last")
    resumed, full = curves(out), curves(straight)
    for name in resumed:
        assert resumed[name] == [p for p in full[name] if p[0] >= 6], name


def test_sampler_orders_are_seeded_by_epoch_and_start_where_the_progress_says():
    s = ResumableSampler(7, seed=3, batch_size=2)  # 3 batches an epoch
    s.set_epoch(1)
    first = list(s)
    assert sorted(i for i, _ in first) == list(range(7)) and list(s) == first  # the same epoch, the same pass
    s.set_epoch(2)
    assert [i for i, _ in s] != [i for i, _ in first]
    s.progress = lambda: 3 + 2  # epoch 1, two batches done
    assert list(s) == first[4:]
    other = ResumableSampler(7, seed=4)
    other.set_epoch(1)
    assert len({seed for _, seed in first}) == 7 and [i for i, _ in other] != [i for i, _ in first]  # the run's seed


def test_crop_seed_fixes_the_crop(cache):
    from v2meow.data.datasets import StageDataset

    ds = StageDataset(cache, "stage2", crop_seconds=1.0, num_coarse=2)
    a, b = ds[(0, 123)], ds[(0, 123)]
    assert torch.equal(a["coarse"], b["coarse"])
    assert any(not torch.equal(a["coarse"], ds[(0, s)]["coarse"]) for s in range(1, 20))
