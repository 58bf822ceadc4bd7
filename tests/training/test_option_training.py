"""Training with the related systems' options on: VMAs beat weights and contrastive loss, VidMuse long-term stream."""

import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parents[1]))
sys.path.insert(0, str(Path(__file__).parent))
from test_stage_training import tiny_config

from cachegen import make_cache
from v2meow.errors import ConfigError
from v2meow.stages.ar_semantic import Stage1, Stage1Config
from v2meow.training.stage_train import train_stage
from v2meow.training.stages import StageModule, masked_cross_entropy

OPTIONS = {
    "stage1-beats": ("stage1", {"model.beat_weights": True}),
    "stage1-contrastive": ("stage1", {"model.fields.contrastive_weight": 0.25}),
    "stage1-long-term": ("stage1", {"model.fields.long_term": True, "model.fields.long_term_steps": 4}),
    "stage2-beats": ("stage2", {"model.beat_weights": True}),
    "stage2_visual-contrastive": ("stage2_visual", {"model.fields.contrastive_weight": 0.25}),
}


@pytest.fixture(scope="module")
def beat_cache(tmp_path_factory):
    return make_cache(tmp_path_factory.mktemp("cache"), durations=(3.0, 2.5, 3.0, 2.0), beats=True)


@pytest.mark.parametrize("case", list(OPTIONS))
def test_fast_dev_run_with_option(case, beat_cache, tmp_path):
    name, settings = OPTIONS[case]
    cfg = tiny_config(name, beat_cache, tmp_path / "run", **{"trainer.fast_dev_run": True, **settings})
    exported = train_stage("stage2" if name.startswith("stage2") else name, cfg)
    saved = json.loads((exported / "config.json").read_text())
    for key, value in settings.items():
        if key.startswith("model.fields."):
            assert saved[key.rsplit(".", 1)[1]] == value


def test_beat_weights_need_a_beat_cache(tmp_path):
    plain = make_cache(tmp_path / "plain", durations=(3.0, 2.0))
    cfg = tiny_config("stage1", plain, tmp_path / "run", **{"trainer.fast_dev_run": True, "model.beat_weights": True})
    with pytest.raises(ConfigError, match="--beat-weights"):
        train_stage("stage1", cfg)


def test_step_adds_weighted_contrastive_loss_and_logs_it():
    cfg = Stage1Config.preset(
        "debug",
        feature_dim=8,
        feature_rate=5.0,
        style_dim=0,
        semantic_vocab=24,
        semantic_rate=10.0,
        cond_dropout=0.0,
        contrastive_weight=0.5,
    )
    module = StageModule(Stage1(cfg).eval())
    logged = {}
    module.log = lambda name, value, **kw: logged.__setitem__(name, float(torch.as_tensor(value).detach()))
    g = torch.Generator().manual_seed(0)
    batch = dict(
        conditions={"visual": torch.randn(3, 10, 8, generator=g)},
        semantic=torch.randint(0, 24, (3, 20), generator=g),
        weights=torch.rand(3, 20, generator=g),
    )
    loss = module.training_step(batch, 0)
    with torch.no_grad():
        out = module.model(batch["semantic"], batch["conditions"])
        ce, _ = masked_cross_entropy(out.logits, out.targets, out.mask, batch["weights"])
    torch.testing.assert_close(loss.detach(), ce + 0.5 * out.aux_loss)
    assert {"train/loss", "train/loss_unweighted", "train/contrastive", "train/total"} <= set(logged)
    assert logged["train/loss"] == pytest.approx(float(ce), rel=1e-5)


def test_demo_beats_config_differs_from_demo_stage1_only_by_the_option():
    from v2meow.training.runner import load_run_config, typed
    from v2meow.training.stage_train import StageTrainingConfig

    root = Path(__file__).parents[2] / "configs" / "demo"
    base, beats = load_run_config(root / "stage1.yaml"), load_run_config(root / "stage1_beats.yaml")
    assert typed(StageTrainingConfig, beats["model"], "model").beat_weights is True
    assert {k: v for k, v in beats["model"].items() if k != "beat_weights"} == base["model"]
    assert (
        beats["trainer"] == base["trainer"] and beats["data"] == base["data"]
    )  # the same cache (it holds the weights)
