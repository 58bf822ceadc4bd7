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
