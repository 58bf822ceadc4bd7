"""Shared synthetic evaluation folders (built once per session: videos are slow-ish to analyse)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # evalsynth.py

import evalsynth

DURATION = 3.0
BPMS = (80, 100, 120, 140, 160, 95)


@pytest.fixture(scope="session")
def eval_dirs(tmp_path_factory) -> dict[str, Path]:
    """gen/, ref/, vid/ with six paired clips whose music pulses with the video.

    Clip i: a video whose square jumps at pulse times of BPMS[i] (random phase); the
    generated and reference audio are clicks at those times over a clip-specific chord
    (the generated one with extra noise), so every true pairing matches and every
    shuffled one does not.
    """
    root = tmp_path_factory.mktemp("eval")
    dirs = {k: root / k for k in ("gen", "ref", "vid")}
    for d in dirs.values():
        d.mkdir()
    rng = np.random.default_rng(0)
    for i, bpm in enumerate(BPMS):
        times = evalsynth.pulse_times(bpm, DURATION, start=rng.uniform(0.1, 0.5))
        evalsynth.pulse_video(dirs["vid"] / f"clip{i}.mp4", times, DURATION)
        body = 0.5 * evalsynth.music_like(i, DURATION)
        evalsynth.write_wav(
            dirs["gen"] / f"clip{i}.wav",
            evalsynth.click_track(times, DURATION, seed=i)
            + body
            + 0.01 * rng.standard_normal(body.size).astype(np.float32),
        )
        evalsynth.write_wav(dirs["ref"] / f"clip{i}.wav", evalsynth.click_track(times, DURATION, seed=50 + i) + body)
    return dirs


@pytest.fixture(scope="session")
def debug_clap_backbone():
    """The tiny random CLAP as an evaluation backbone (built once: importing transformers is slow)."""
    from v2meow.evaluation.embeddings import ClapBackbone
    from v2meow.tokenizers.style.debug import debug_clap

    return ClapBackbone(debug_clap(seed=0))
