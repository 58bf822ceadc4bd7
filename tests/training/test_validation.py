"""Validation in every stage run: held-out loss every N steps, the targets' entropies as reference lines,
tokens seen, and the training record in the exported component's config.json."""

import json
import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parents[1]))
from test_stage_training import tiny_config

from cachegen import make_cache
from v2meow.errors import ConfigError
from v2meow.training.entropy import level_entropies, token_entropies
from v2meow.training.plots import read_metrics
from v2meow.training.stage_train import train_stage

SPLITS = ["train", "train", "valid", "train", "eval"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return make_cache(tmp_path_factory.mktemp("cache"), durations=(3.0, 2.5, 3.0, 2.0, 2.5), splits=SPLITS)


def test_entropy_of_a_uniform_sequence_is_log_v_and_of_a_deterministic_bigram_zero():
    v = 8
    cycle = torch.arange(64) % v  # every token equally often; each token fixes the next
    unigram, bigram = level_entropies([cycle])
    assert unigram == pytest.approx(math.log(v)) and bigram == pytest.approx(0.0, abs=1e-9)
    g = torch.Generator().manual_seed(0)
    iid = torch.randint(0, 4, (200_000,), generator=g)  # independent draws: the previous token says nothing
    unigram, bigram = level_entropies([iid])
    assert unigram == pytest.approx(math.log(4), abs=1e-3) and bigram == pytest.approx(math.log(4), abs=2e-3)


def test_bigrams_never_cross_items_and_levels_are_averaged():
    # [0,1] and [1,0] as separate items: pairs (0,1) and (1,0), each previous token fixes the next
    assert level_entropies([torch.tensor([0, 1]), torch.tensor([1, 0])]) == (
        pytest.approx(math.log(2)),
        pytest.approx(0.0),
    )
    # level 0 constant (H 0), level 1 two equally likely tokens alternating (H log 2, bigram 0)
    out = token_entropies([torch.tensor([[5, 5, 5, 5], [0, 1, 0, 1]])])
    assert out["unigram"] == pytest.approx(math.log(2) / 2) and out["bigram"] == pytest.approx(0.0)
    assert (out["tokens"], out["levels"]) == (8, 2)


def test_run_validates_every_n_steps_and_records_its_training(cache, tmp_path):
    out = tmp_path / "run"
    cfg = tiny_config(
        "stage3", cache, out, **{"data.val_split": "valid", "trainer.val_check_interval": 2, "trainer.max_steps": 5}
    )
    exported = train_stage("stage3", cfg)
    series = read_metrics(out / "logs")
    assert [s for s, _ in series["val/loss"]] == [
        1,
        3,
        4,
    ]  # after steps 2 and 4 (logged at step-1), and the final weights
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    entropy = json.loads((out / "entropy.json").read_text())
    # cachegen codes: level k at frame t is (t + k) % 16, so each fine level (2, 3) is a deterministic cycle
    assert entropy["bigram"] == pytest.approx(0.0, abs=1e-9) and 0 < entropy["unigram"] <= math.log(16)
    assert entropy["levels"] == 2 and entropy["units"] == "nats"
    training = json.loads((exported / "config.json").read_text())["training"]
    tokens = series["train/tokens_seen"][-1][1]
    assert training["steps"] == 5 and training["tokens_seen"] == tokens > 0
    assert training["val_split"] == "valid" and training["val_step"] == 5
    assert training["val_loss"] == pytest.approx(series["val/loss"][-1][1], rel=1e-5)
    assert training["entropy"]["bigram"] == entropy["bigram"] and training["seconds"] > 0


def test_tokens_seen_keeps_counting_across_a_resume(cache, tmp_path):
    out = tmp_path / "run"
    train_stage("stage1", tiny_config("stage1", cache, out, **{"trainer.max_steps": 2}))
    first = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)["v2meow"]["progress"]["tokens_seen"]
    exported = train_stage("stage1", tiny_config("stage1", cache, out, **{"trainer.max_steps": 4}), ckpt_path="last")
    training = json.loads((exported / "config.json").read_text())["training"]
    steps = dict(read_metrics(out / "logs")["train/tokens_seen"])
    assert first == steps[1] > 0 and training["tokens_seen"] == steps[3] > first and training["steps"] == 4
    assert training["val_loss"] is None and training["val_split"] is None


def test_a_val_split_the_cache_lacks_is_one_line_naming_its_splits(cache, tmp_path):
    cfg = tiny_config("stage2", cache, tmp_path / "run", **{"data.val_split": "validation"})
    with pytest.raises(ConfigError) as e:
        train_stage("stage2", cfg)
    message = str(e.value)
    assert "\n" not in message and "data.val_split 'validation'" in message
    assert "eval (1 items), train (3 items), valid (1 items)" in message and "null" in message
    assert not (tmp_path / "run").exists()


def test_validating_on_the_training_split_is_refused(cache, tmp_path):
    with pytest.raises(ConfigError, match="is the training split too"):
        train_stage("stage2", tiny_config("stage2", cache, tmp_path / "run", **{"data.val_split": "train"}))


def test_the_training_record_round_trips_and_configs_without_it_still_load(tmp_path):
    from v2meow.stages.ar_fine import Stage3, Stage3Config

    record = {
        "steps": 5,
        "tokens_seen": 1200,
        "val_loss": 2.5,
        "val_split": "valid",
        "entropy": {"unigram": 2.7, "bigram": None},
    }
    model = Stage3(
        Stage3Config.preset("debug", codebook_size=16, codec_rate=20.0, num_coarse=2, num_fine=2, training=record)
    )
    loaded = Stage3.from_pretrained(model.save_pretrained(tmp_path / "c"))
    assert loaded.config.training == record and loaded.config == model.config
    old = json.loads((tmp_path / "c" / "config.json").read_text())
    del old["training"]  # a config.json written before the record existed
    (tmp_path / "c" / "config.json").write_text(json.dumps(old))
    assert Stage3.from_pretrained(tmp_path / "c").config.training is None


def test_plateau_rule_stops_a_run_and_says_so(cache, tmp_path):
    """`stop:` ends training once the validation loss has not fallen by min_delta for `patience`
    validations; the exported record says why the run stopped."""
    cfg = tiny_config(
        "stage3",
        cache,
        tmp_path / "plateau",
        **{"data.val_split": "valid", "trainer.val_check_interval": 2, "trainer.max_steps": 40},
    )
    cfg["stop"] = {"patience": 2, "min_delta": 100.0}  # no validation can fall by 100 nats
    training = json.loads((train_stage("stage3", cfg) / "config.json").read_text())["training"]
    # the first validation sets the best, the next two do not beat it by 100: stop after step 6
    assert training["stopped"] == "plateau" and training["steps"] == 6
    cfg = tiny_config("stage3", cache, tmp_path / "full", **{"data.val_split": "valid", "trainer.max_steps": 3})
    cfg["stop"] = {"patience": 2}
    assert json.loads((train_stage("stage3", cfg) / "config.json").read_text())["training"]["stopped"] == "max_steps"


@pytest.mark.parametrize("stop, words", [({"patience": 0}, "patience"), ({"patience": 2}, "val_split")])
def test_plateau_rule_refuses_what_it_cannot_watch(cache, tmp_path, stop, words):
    cfg = tiny_config("stage3", cache, tmp_path / "run", **{"data.val_split": "valid" if "val" not in words else None})
    cfg["stop"] = stop
    with pytest.raises(ConfigError, match=words):
        train_stage("stage3", cfg)
