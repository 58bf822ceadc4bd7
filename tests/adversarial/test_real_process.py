"""The same refusals from a real process: stderr holds exactly one line (no warning or traceback leaks)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _cli(module: str, *args) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [sys.executable, "-m", module, *map(str, args)], capture_output=True, text=True, env=env, timeout=300
    )


@pytest.mark.slow
def test_generate_and_features_in_a_process(bundle, make_video, tmp_path):
    video = make_video("in.mp4", duration=1.0, fps=10, size=(32, 32))
    before = video.read_bytes()
    p = _cli("v2meow.cli.generate", "--video", video, "--out", video, "--bundle", bundle, "--quiet")
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and "is the input" in p.stderr, p.stderr
    assert video.read_bytes() == before
    script = tmp_path / "w.pt"
    torch.jit.script(torch.nn.Linear(2, 2)).save(str(script))
    out = tmp_path / "f.safetensors"
    p = _cli(
        "v2meow.cli.features", "--video", video, "--extractors", "clip", "--weights", f"clip={script}", "--out", out
    )
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and "--trust-pickle" in p.stderr, p.stderr
    assert not out.exists()
