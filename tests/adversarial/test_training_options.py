"""v2meow-train: the run config and every --set go through the schema check before the run folder is made."""

from __future__ import annotations

import time

import pytest

import cachegen
from v2meow.cli.train import main as train


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return cachegen.make_cache(tmp_path_factory.mktemp("train-cache") / "cache", contract={"num_coarse": 2})


def _argv(cache, run, *extra):
    return [
        "stage1",
        "--config",
        "configs/stage1.yaml",
        "--data",
        cache,
        "--out",
        run,
        "--set",
        "model.preset=debug",
        *extra,
    ]


@pytest.mark.parametrize(
    "option,words",
    [
        (["--set", "model.lr=.nan"], "model.lr"),
        (["--set", "model.lr=fast"], "model.lr"),
        (["--set", "model.lr=-1"], "model.lr"),
        (["--set", "data.batch_size=0"], "data.batch_size"),
        (["--set", "data.batch_size=2.5"], "data.batch_size"),
        (["--set", "model.fields.heads=0"], "model.fields.heads"),
        (["--set", "model.fields.depth=1e9"], "model.fields.depth"),
        (["--set", "model.fields.dim=-128"], "model.fields.dim"),
        (["--set", "model.warmup_steps=.inf"], "model.warmup_steps"),
        (["--set", "trainer.max_steps=0"], "trainer.max_steps"),
        (["--max-steps", "0"], "--max-steps"),
        (["--max-steps", "-5"], "--max-steps"),
        (["--set", "model.fields=" + "[" * 100 + "]" * 100], "nested"),
    ],
)
def test_bad_training_options_leave_no_run_folder(cache, tmp_path, refused, option, words):
    run = tmp_path / "runs" / "x"
    err = refused(train, _argv(cache, run, *option), run)
    assert words in err, err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_yaml_alias_bomb_is_refused_quickly(tmp_path, cache, refused):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    bomb = "model:\n  preset: debug\ntrainer:\n  default_root_dir:\n" + "".join(f"    {line}\n" for line in lines)
    config = tmp_path / "bomb.yaml"
    config.write_text(bomb)
    run = tmp_path / "run"
    t0 = time.monotonic()
    err = refused(train, ["stage1", "--config", config, "--data", cache, "--out", run], run)
    assert time.monotonic() - t0 < 10 and "bomb.yaml" in err and "aliases" in err, err
    err = refused(train, [*_argv(cache, run), "--set", f"trainer.default_root_dir={{{', '.join(lines)}}}"], run)
    assert "--set" in err and "aliases" in err, err
