"""The committed demo bundle: checksums, loading, and a short generation that sounds like something."""

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "checkpoints" / "demo"
pytestmark = pytest.mark.skipif(not (BUNDLE / "pipeline.json").exists(), reason="no demo bundle (make demo-bundle)")


def test_checksums_match_checkpoints_md():
    table = dict(re.findall(r"\| `(checkpoints/demo/[^`]+)` \| \d+ \| `([0-9a-f]{64})` \|", (ROOT / "checkpoints.md").read_text()))
    files = sorted(p for p in BUNDLE.rglob("*") if p.is_file())
    assert files and {p.relative_to(ROOT).as_posix() for p in files} == set(table)
    for p in files:
        assert hashlib.sha256(p.read_bytes()).hexdigest() == table[p.relative_to(ROOT).as_posix()], p
    assert sum(p.stat().st_size for p in files) <= 40 * 2**20


def _flatness(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x.reshape(-1, 1024) * np.hanning(1024), axis=1)) ** 2 + 1e-12  # [frames, bins]
    return float(np.mean(np.exp(np.mean(np.log(spec), 1)) / np.mean(spec, 1)))


def test_generates_five_seconds_of_music_not_silence_or_noise(make_video):
    from v2meow.pipelines import V2MeowPipeline

    pipe = V2MeowPipeline.from_pretrained(BUNDLE)
    out = pipe(make_video(duration=5.0, fps=20, size=(96, 96), pattern="moving"), seed=0)
    wav = out.audio[0, 0].numpy()
    assert wav.shape[0] == 5 * out.sample_rate
    rms = float(np.sqrt(np.mean(wav**2)))
    assert rms > 1e-3  # not silence
    white = np.random.default_rng(0).standard_normal(wav.shape[0]).astype(np.float32)
    assert _flatness(wav[: len(wav) // 1024 * 1024]) < 0.5 * _flatness(white[: len(wav) // 1024 * 1024])  # not noise
    assert torch.isfinite(out.audio).all()
