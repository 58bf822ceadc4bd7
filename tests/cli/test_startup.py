"""Start-up: every CLI answers --help, --version and a refused argument without importing the heavy
stack (torch, PyAV, numpy, Lightning, transformers, gradio), so a user who mistypes waits milliseconds,
not seconds (issue 37). Each case runs in a fresh interpreter and reads its `sys.modules` afterwards.
The CLIs are read from pyproject.toml, so a new console script is covered without editing this file."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
SCRIPTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
HEAVY = ("torch", "av", "numpy", "lightning", "transformers", "gradio", "scipy", "soundfile")

_PROBE = f"""
import json, sys
module, function = sys.argv[1].split(":")
try:
    code = getattr(__import__(module, fromlist=[function]), function)(sys.argv[2:])
except SystemExit as e:
    code = e.code
print(json.dumps({{"code": code, "heavy": [m for m in {HEAVY!r} if m in sys.modules]}}))
"""


def probe(entry: str, *argv: str) -> dict:
    p = subprocess.run(
        [sys.executable, "-c", _PROBE, entry, *argv], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert p.returncode == 0 and p.stdout.strip(), p.stderr[-2000:]
    return json.loads(p.stdout.strip().splitlines()[-1]) | {"stdout": p.stdout, "stderr": p.stderr}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
@pytest.mark.parametrize(
    "argv, code",
    [(("--help",), 0), (("--version",), 0), (("--no-such-option",), 2)],
    ids=["help", "version", "bad-option"],
)
def test_cli_answers_without_the_heavy_stack(name, argv, code):
    out = probe(SCRIPTS[name], *argv)
    assert out["code"] == code, out
    assert out["heavy"] == [], f"{name} {' '.join(argv)} imported {out['heavy']}"
    if argv == ("--version",):
        assert name in out["stdout"]


@pytest.mark.parametrize(
    "argv, words",
    [
        (("--video", "v.mp4", "--num-samples", "0"), "--num-samples"),
        (("--video", "v.mp4", "--temperatures", "-1"), "--temperatures"),
        (("--video-dir", "d"), "--out-dir"),
    ],
)
def test_generate_refuses_bad_numbers_before_loading_anything(argv, words):
    out = probe(SCRIPTS["v2meow-generate"], *argv)
    assert out["code"] == 2 and words in out["stderr"] and len(out["stderr"].strip().splitlines()) == 1, out
    assert out["heavy"] == [], out["heavy"]


def test_import_v2meow_is_light():
    p = subprocess.run(
        [sys.executable, "-c", f"import sys, v2meow; print([m for m in {HEAVY!r} if m in sys.modules])"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.stdout.strip() == "[]", p.stdout + p.stderr


# what a generation needs is torch, PyAV, numpy and the bundle; these are for training, analysis or other paths
NOT_FOR_GENERATION = (
    "vector_quantize_pytorch", "einx", "torch._dynamo", "scipy.signal", "scipy.sparse", "scipy.ndimage",
    "pyloudnorm", "lightning", "transformers", "sklearn", "matplotlib",
)  # fmt: skip


def test_generation_imports_only_what_it_needs(tmp_path):
    """A whole `v2meow-generate` run with the demo bundle (the codec loads as a lookup, loudness is numpy's)."""
    from recipes.visualizer import render_pulse

    render_pulse(120, 2.0, tmp_path / "v.mp4", size=(32, 32))
    code = f"""
import json, sys
from v2meow.cli.generate import main
try:
    main([sys.argv[1], sys.argv[2], "--out", sys.argv[3], "--bundle", "checkpoints/demo"])
except SystemExit as e:
    assert not e.code, e.code
print(json.dumps([m for m in {NOT_FOR_GENERATION!r} if m in sys.modules]))
"""
    p = subprocess.run(
        [sys.executable, "-c", code, "--video", str(tmp_path / "v.mp4"), str(tmp_path / "o.wav")],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert p.returncode == 0 and (tmp_path / "o.wav").is_file(), p.stderr[-2000:]
    assert json.loads(p.stdout.strip().splitlines()[-1]) == []
