"""Component configs, pipeline.json and cache manifests go through one schema check (`v2meow.safety.schema`)
before anything is built or allocated: one line naming the file and field, never a traceback,
and a huge config is refused under a memory limit instead of climbing to it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import cachegen
from v2meow.cli.generate import main as generate
from v2meow.errors import ConfigError
from v2meow.safety import schema

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _edit(path: Path, edit) -> None:
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))


def _copy(bundle: Path, tmp_path: Path, name: str) -> Path:
    copy = tmp_path / name
    shutil.copytree(bundle, copy)
    return copy


def _nested(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


STAGE1 = [  # (field, value, words the message holds)
    ("depth", 1_000_000_000, "depth"),
    ("depth", 1.5, "depth"),
    ("dim", -128, "dim"),
    ("heads", 0, "heads"),
    ("ticks_per_second", 0, "ticks_per_second"),
    ("ticks_per_second", float("nan"), "ticks_per_second"),
    ("semantic_vocab", "256", "semantic_vocab"),
    ("semantic_vocab", 1e12, "semantic_vocab"),
    ("semantic_vocab", -5, "semantic_vocab"),
    ("dropout", 2.0, "dropout"),
    ("feature_rate", 1e6, "feature_rate"),
    ("extra_streams", [{"name": "rhythm", "kind": "features", "size": -1, "rate": 25.0}], "extra_streams[0].size"),
]


@pytest.mark.parametrize("field,value,words", STAGE1)
def test_bad_component_config_fields(bundle, tmp_path, refused, make_video, field, value, words):
    broken = _copy(bundle, tmp_path, "b")
    _edit(broken / "stage1" / "config.json", lambda d: {**d, field: value})
    video = make_video("in.mp4", duration=1.0, fps=10, size=(32, 32))
    out = tmp_path / "o.wav"
    err = refused(generate, ["--video", video, "--bundle", broken, "--out", out, "--quiet"], out)
    assert words in err and "stage1" in err, err


@pytest.mark.parametrize("where", ["stage1/config.json", "pipeline.json"])
def test_deeply_nested_json(bundle, tmp_path, refused, make_video, where):
    broken = _copy(bundle, tmp_path, "b")
    (broken / where).write_text(_nested(200_000))
    video = make_video("in.mp4", duration=1.0, fps=10, size=(32, 32))
    out = tmp_path / "o.wav"
    err = refused(generate, ["--video", video, "--bundle", broken, "--out", out, "--quiet"], out)
    assert where.split("/")[-1] in err and "nested" in err, err


@pytest.mark.parametrize(
    "rate,words",
    [
        (1e6, "features.options.rate"),
        (float("nan"), "features.options.rate"),
        ("fast", "features.options.rate"),
        (-1, "features.options.rate"),
    ],
)
def test_pipeline_json_feature_rate(bundle, tmp_path, refused, make_video, rate, words):
    broken = _copy(bundle, tmp_path, "b")
    _edit(broken / "pipeline.json", lambda d: {**d, "features": {**d["features"], "options": {"rate": rate}}})
    video = make_video("in.mp4", duration=1.0, fps=10, size=(32, 32))
    out = tmp_path / "o.wav"
    err = refused(generate, ["--video", video, "--bundle", broken, "--out", out, "--quiet"], out)
    assert words in err and "pipeline.json" in err, err


def test_weights_that_disagree_with_the_config_are_named_before_building(bundle, tmp_path, refused, make_video):
    broken = _copy(bundle, tmp_path, "b")
    _edit(broken / "stage2" / "config.json", lambda d: {**d, "dim": 512, "ffn": 4096})
    video = make_video("in.mp4", duration=1.0, fps=10, size=(32, 32))
    out = tmp_path / "o.wav"
    err = refused(generate, ["--video", video, "--bundle", broken, "--out", out, "--quiet"], out)
    assert "stage2" in err and "do not match the config" in err, err


_LIMITED = """
import resource, sys
from v2meow.stages.ar_semantic import Stage1
size = next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmSize:"))
resource.setrlimit(resource.RLIMIT_AS, (size + {limit}, size + {limit}))  # what is mapped now, plus the limit
try:
    Stage1.from_pretrained(sys.argv[1])
except Exception as e:
    print(type(e).__name__, e)
"""


def test_huge_configs_refused_under_a_memory_limit(bundle, tmp_path):
    """Sizes inside every field's range whose model would not fit: refused, naming the fields, before allocation."""
    limit = 2 * 2**30
    for i, fields in enumerate([{"dim": 65536, "heads": 64, "depth": 64, "ffn": 262144}, {"depth": 64, "ffn": 2**20}]):
        broken = _copy(bundle / "stage1", tmp_path, f"s{i}")
        _edit(broken / "config.json", lambda d, f=fields: {**d, **f})
        env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
        p = subprocess.run(
            [sys.executable, "-c", _LIMITED.format(limit=limit), str(broken)],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert p.returncode == 0, p.stderr[-2000:]
        assert p.stdout.startswith("ConfigError") and "GiB" in p.stdout and "depth=64" in p.stdout, p.stdout


# ---- cache manifests ------------------------------------------------------------------------

MANIFESTS = [  # (change, words)
    (lambda m: [m], "JSON object"),
    (lambda m: {k: v for k, v in m.items() if k != "semantic_vocab"}, "semantic_vocab"),
    (lambda m: {**m, "semantic_vocab": "256"}, "semantic_vocab"),
    (lambda m: {**m, "semantic_rate": float("nan")}, "semantic_rate"),
    (lambda m: {**m, "semantic_vocab": 1e12}, "semantic_vocab"),
    (lambda m: {**m, "semantic_vocab": -5}, "semantic_vocab"),
    (lambda m: {**m, "codebook_size": 0}, "codebook_size"),
    (lambda m: {**m, "stretch": [1.0, float("inf")]}, "stretch[1]"),
    (lambda m: {**m, "num_coarse": 99}, "num_coarse"),
]


@pytest.mark.parametrize("change,words", MANIFESTS)
def test_bad_manifests_in_training(tmp_path, refused, change, words):
    from v2meow.cli.train import main as train

    cache = cachegen.make_cache(tmp_path / "cache", contract={"num_coarse": 2})
    manifest = cache / "manifest.json"
    manifest.write_text(json.dumps(change(json.loads(manifest.read_text()))))
    shards = sorted(p.name for p in cache.iterdir())
    err = refused(
        train,
        [
            "stage1",
            "--config",
            "configs/stage1.yaml",
            "--data",
            cache,
            "--out",
            tmp_path / "run",
            "--set",
            "model.preset=debug",
        ],
        tmp_path / "run",
    )
    assert words in err and "manifest" in err and "delete" not in err, err
    assert sorted(p.name for p in cache.iterdir()) == shards


def test_bad_manifest_in_cache_info(tmp_path, refused):
    from v2meow.cli.cache import main as cache_main

    cache = cachegen.make_cache(tmp_path / "cache")
    _edit(cache / "manifest.json", lambda m: {**m, "codebook_size": -3})
    err = refused(cache_main, ["info", cache, "--verify"])
    assert "codebook_size" in err and "manifest.json" in err, err


def test_manifest_nested_deep(tmp_path):
    from v2meow.data.cache import read_manifest

    cache = cachegen.make_cache(tmp_path / "cache")
    (cache / "manifest.json").write_text(_nested(200_000))
    with pytest.raises(ConfigError, match="nested"):
        read_manifest(cache)


def test_schema_units():
    assert schema.json_depth('{"a": "[[[[{{{", "b": [[1]]}') == 3
    assert schema.check_field("heads", 4, "x") == 4
    for key, bad in (
        ("heads", 0),
        ("heads", 2.5),
        ("lr", float("nan")),
        ("lr", "fast"),
        ("batch_size", 0),
        ("dropout", 1.5),
    ):
        with pytest.raises(ConfigError, match=key):
            schema.check_field(key, bad, "x")
