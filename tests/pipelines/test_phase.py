"""`phase` (GenerationConfig, pipeline.json `generation.phase`, `v2meow-generate --phase`): a mel codec's
phase reconstruction chosen per call, Griffin-Lim or PGHI, without changing the tokens or the loaded codec."""

import math
from pathlib import Path

import pytest
import torch

from v2meow.errors import ConfigError
from v2meow.features.base import Features
from v2meow.pipelines import V2MeowPipeline
from v2meow.pipelines.bundle import GenerationConfig
from v2meow.pipelines.debug import build_debug_bundle
from v2meow.safety import validation

ROOT = Path(__file__).resolve().parents[2]
BUNDLE, VIDEO = ROOT / "checkpoints" / "demo", ROOT / "examples" / "demo.mp4"


def test_phase_values_are_checked():
    assert validation.phase(None) is None and validation.phase("pghi") == "pghi"
    assert GenerationConfig().phase is None and GenerationConfig(phase="griffin_lim").phase == "griffin_lim"
    for bad in ("PGHI", "vocoder", 1, True):
        with pytest.raises(ConfigError, match="phase"):
            GenerationConfig(phase=bad)
    with pytest.raises(ConfigError, match="phase"):
        GenerationConfig().replace(phase="istft")


def test_phase_changes_the_audio_not_the_tokens_nor_the_codec():
    if not (BUNDLE / "pipeline.json").exists() or not VIDEO.exists():
        pytest.skip("no demo bundle or example video")
    pipe = V2MeowPipeline.from_pretrained(BUNDLE)
    assert pipe.codec.config.inversion == "griffin_lim"  # the shipped bundle's own
    full = pipe.extract_features(VIDEO)
    n = round(2.0 * full.rate)
    feats = Features(full.features[:n].clone(), full.rate, list(full.extractor_ids), list(full.dims), 2.0)
    own = pipe(feats, seed=3, loudness="none")
    same = pipe(feats, seed=3, loudness="none", phase="griffin_lim")
    pghi = pipe(feats, seed=3, loudness="none", phase="pghi")
    for name in ("semantic", "coarse", "fine"):
        assert torch.equal(getattr(pghi, name), getattr(own, name))
    assert torch.equal(same.audio, own.audio)
    assert pghi.audio.shape == own.audio.shape and bool(torch.isfinite(pghi.audio).all())
    assert not torch.allclose(pghi.audio, own.audio, atol=1e-3)
    rms = [float(a.pow(2).mean().sqrt()) for a in (own.audio, pghi.audio)]
    assert math.isclose(*rms, rel_tol=0.3)  # the same magnitudes, another phase
    assert pipe.codec.config.inversion == "griffin_lim"  # the loaded codec is unchanged


def test_phase_needs_a_mel_codec(tmp_path, make_video):
    pipe = V2MeowPipeline.from_pretrained(build_debug_bundle(tmp_path / "debug"))  # SoundStream: its own decoder
    with pytest.raises(ConfigError, match="phase=pghi applies to a mel codec"):
        pipe(make_video("v.mp4", duration=1.0), phase="pghi")
