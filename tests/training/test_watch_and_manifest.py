"""Training you can watch (TensorBoard + loss.png) and data-dependent fields that must match the cache manifest."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from test_stage_training import tiny_config

from cachegen import make_cache
from v2meow.errors import ConfigError
from v2meow.training.plots import panels, plot_metrics, read_metrics
from v2meow.training.stage_train import train_stage


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return make_cache(
        tmp_path_factory.mktemp("cache"), durations=(3.0, 2.5, 3.0, 2.0, 2.5), splits=["train"] * 4 + ["valid"]
    )


def test_run_writes_tensorboard_and_loss_plot_with_train_and_val_curves(cache, tmp_path):
    out = tmp_path / "run"
    cfg = tiny_config(
        "stage1",
        cache,
        out,
        **{"data.val_split": "valid", "trainer.val_check_interval": 2, "trainer.check_val_every_n_epoch": None},
    )
    train_stage("stage1", cfg)
    png = out / "loss.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list((out / "tb").glob("version_*/events.out.tfevents.*")), "no TensorBoard event file"
    series = read_metrics(out / "logs")
    assert [s for s, _ in series["train/loss"]] == [0, 1, 2, 3]
    assert len(series["val/loss"]) >= 1 and "val/acc" in series
    assert list(panels(series))[:2] == ["loss", "acc"]
    assert set(panels(series)["loss"]) == {"train/loss", "val/loss"}


def test_loss_plot_continues_across_a_resume(cache, tmp_path):
    out = tmp_path / "run"
    train_stage("stage3", tiny_config("stage3", cache, out))
    train_stage("stage3", tiny_config("stage3", cache, out, **{"trainer.max_steps": 6}), ckpt_path="last")
    steps = [s for s, _ in read_metrics(out / "logs")["train/loss"]]
    assert steps == list(range(6))  # two logs/version_* folders, one curve


def test_plot_of_nothing_logged_writes_nothing(tmp_path):
    assert plot_metrics({}, tmp_path / "loss.png") is None and not (tmp_path / "loss.png").exists()


def _cache_with_num_coarse(root: Path, num_coarse: int) -> Path:
    return make_cache(root, durations=(3.0, 2.5), contract={"num_coarse": num_coarse})


@pytest.mark.parametrize("stage", ["stage2", "stage3"])
def test_num_coarse_differing_from_the_manifest_is_refused_naming_both(stage, tmp_path):
    cache = _cache_with_num_coarse(tmp_path / "cache", 2)
    cfg = tiny_config(stage, cache, tmp_path / "run", **{"model.fields.num_coarse": 3})
    with pytest.raises(ConfigError, match=r"num_coarse=3 in the config disagrees with .*manifest \(num_coarse=2\)"):
        train_stage(stage, cfg)
    assert not (tmp_path / "run" / stage).exists()


def test_num_coarse_comes_from_the_manifest_when_the_config_omits_it(tmp_path):
    from v2meow.stages.ar_fine import Stage3

    cache = _cache_with_num_coarse(tmp_path / "cache", 1)
    cfg = tiny_config("stage3", cache, tmp_path / "run", **{"trainer.max_steps": 1})
    del cfg["model"]["fields"]["num_coarse"]
    model = Stage3.from_pretrained(train_stage("stage3", cfg))
    assert (model.config.num_coarse, model.config.num_fine) == (1, 3)  # the cache has 4 codebooks


@pytest.mark.parametrize("name", ["stage2.yaml", "stage2_visual.yaml", "stage3.yaml"])
def test_shipped_configs_leave_data_dependent_fields_to_the_manifest(name):
    from v2meow.training.runner import load_run_config
    from v2meow.training.stage_train import data_fields

    fields = load_run_config(Path(__file__).parents[2] / "configs" / name)["model"]["fields"]
    manifest = dict(
        feature_dim=1,
        feature_rate=1.0,
        semantic_vocab=1,
        semantic_rate=1.0,
        codebook_size=1,
        codec_rate=1.0,
        num_codebooks=8,
        num_coarse=1,
        style_dim=0,
    )
    assert not set(fields) & set(data_fields("stage2" if "stage2" in name else "stage3", manifest, fields))
