"""VMAs beat weights: the mask (Eq. 3), its resampling to coarse targets, the datasets, and prepare --beat-weights."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import mediagen
from v2meow.cli import prepare as prepare_cli
from v2meow.data.beatweights import (
    beat_weight_mask,
    beat_weights,
    clip_beat_weights,
    weights_at_rate,
)
from v2meow.data.cache import CacheReader
from v2meow.data.datasets import StageDataset
from v2meow.errors import ConfigError

sys.path.insert(0, str(Path(__file__).parents[1]))
from cachegen import BEAT_ALPHA, beat_pattern, make_cache

A = 0.05


def test_mask_from_motion_matches_hand_computed():
    """Motion at 10 Hz with three isolated peaks; tokens at 20 Hz; delta 0.1 s (1 motion step, 2 token steps).

    Peaks at motion steps 5, 15, 25 -> video beats at step centres 0.55, 1.55, 2.55 s -> token steps 11, 31, 51.
    Onsets at 0.05 s (step 1), 0.6 s (12), 1.7 s (34), 2.45 s (49).
    Step 11 has the onset at 12 (1 away) -> 1; step 31's nearest onset is 3 away -> alpha;
    step 51 has the onset at 49 (2 away) -> 1; the onset at 1 has no video beat -> alpha.
    """
    motion = np.zeros(30)
    motion[[5, 15, 25]] = [1.0, 0.8, 0.9]
    onsets = np.array([0.05, 0.6, 1.7, 2.45])
    expected = np.full(60, A, np.float32)
    expected[[11, 51]] = 1.0
    got = beat_weights(onsets, motion, 10.0, 60, 20.0, alpha=A, delta=0.1)
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == np.float32


def test_mask_from_event_times_and_edge_cases():
    # Eq. 3 directly: video beats at steps 2, 6, 9 (rate 10 Hz), onsets at steps 3 and 9; delta 1 step
    got = beat_weight_mask(np.array([0.3, 0.9]), np.array([0.2, 0.6, 0.9, 5.0]), 10, 10.0, alpha=0.5, delta=0.1)
    np.testing.assert_array_equal(got, [0.5, 0.5, 1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 1])
    # delta 0: only exact coincidences
    got = beat_weight_mask(np.array([0.3, 0.9]), np.array([0.2, 0.9]), 10, 10.0, alpha=0.5, delta=0.0)
    np.testing.assert_array_equal(np.flatnonzero(got == 1), [9])
    # still or flat motion has no video beats; no video at all: every step alpha
    assert (beat_weights(np.array([0.5]), np.zeros(20), 10.0, 10, 10.0, alpha=A) == A).all()
    assert (clip_beat_weights(torch.zeros(1, 800), 8000, None, 7, 10.0, alpha=A) == A).all()
    assert beat_weight_mask(np.zeros(0), np.zeros(0), 0, 10.0).shape == (0,)


def test_weights_follow_coarse_frames_by_time():
    w = torch.tensor([1.0, 0.1, 0.2, 0.3])  # 10 Hz steps at 0, 0.1, 0.2, 0.3 s
    # 20 Hz frames at 0, .05, .1, ... take the nearest step (ties round up), the last step past the end
    assert weights_at_rate(w, 10.0, 20.0, 9).tolist() == pytest.approx([1.0, 0.1, 0.1, 0.2, 0.2, 0.3, 0.3, 0.3, 0.3])
    assert weights_at_rate(w, 10.0, 5.0, 2).tolist() == pytest.approx([1.0, 0.2])


@pytest.fixture(scope="module")
def beat_cache(tmp_path_factory):
    return make_cache(tmp_path_factory.mktemp("beats"), durations=(3.0, 2.0), beats=True)


def test_datasets_give_per_target_weights(beat_cache, tmp_path):
    ds1 = StageDataset(beat_cache, "stage1", 2.0, beat_weights=True, random_crop=False)
    ex = ds1[0]
    assert torch.equal(ex["weights"], beat_pattern(30)[:20])  # 10 Hz semantic steps of the crop
    assert "weights" not in StageDataset(beat_cache, "stage1", 2.0, random_crop=False)[0]  # off by default
    ds2 = StageDataset(beat_cache, "stage2", 2.0, num_coarse=2, beat_weights=True, random_crop=False)
    ex = ds2[0]
    n_frames = ex["coarse"].shape[1]  # 40 codec frames at 20 Hz
    assert ex["weights"].shape == (n_frames * 2,)  # one per flattened coarse target, time-major
    frames = ex["weights"].view(n_frames, 2)
    assert torch.equal(frames[:, 0], frames[:, 1])
    assert torch.equal(frames[:, 0], weights_at_rate(beat_pattern(30)[:20], 10.0, 20.0, n_frames))
    assert float(frames[0, 0]) == 1.0 and float(frames[4, 0]) == pytest.approx(BEAT_ALPHA)  # step 0 (beat) vs step 2
    plain = make_cache(tmp_path / "plain", durations=(2.0,))
    with pytest.raises(ConfigError, match="--beat-weights"):
        StageDataset(plain, "stage1", 2.0, beat_weights=True)
    with pytest.raises(ConfigError, match="stages 1 and 2"):
        StageDataset(beat_cache, "stage3", 1.0, num_coarse=2, beat_weights=True)


def test_long_term_stream_samples_the_whole_item(beat_cache):
    ds = StageDataset(beat_cache, "stage1", 1.0, long_term_steps=4)
    for _ in range(3):  # whatever the crop, the long-term stream covers the whole 3-s item (15 frames at 5 Hz)
        ex = ds[0]
        assert ex["conditions"]["long_term"].value.shape == (4, 8)
        assert ex["conditions"]["long_term"].value[:, 0].tolist() == [1.0, 5.0, 9.0, 13.0]  # column 0 = frame index


def _burst_wav(path: Path, rate: int = 16000) -> None:
    """2 s: quiet, a noise burst at 0.4 s (no video beat there) and one at 1.0 s (the video's cut)."""
    import soundfile as sf

    g = np.random.default_rng(0)
    wav = 1e-4 * g.standard_normal(2 * rate)
    for start in (0.4, 1.0):
        n = int(0.15 * rate)
        s = int(start * rate)
        wav[s : s + n] += 0.5 * g.standard_normal(n) * np.exp(-np.arange(n) / (0.03 * rate))
    sf.write(str(path), wav.astype(np.float32), rate)


def test_prepare_beat_weights_end_to_end(components, tmp_path, capsys):
    """A hard cut at 1.0 s and a music onset at 1.0 s -> weight 1 there; the onset at 0.4 s alone stays alpha."""
    mediagen.make_video(tmp_path / "cut.mp4", duration=2.0, fps=20, size=(32, 48), pattern="cut")
    _burst_wav(tmp_path / "music.wav")
    (tmp_path / "list.csv").write_text("video,audio,caption,split\ncut.mp4,music.wav,,train\n,music.wav,,train\n")
    out = tmp_path / "cache"
    args = [
        "--input",
        str(tmp_path / "list.csv"),
        "--out",
        str(out),
        "--features",
        "motion",
        "--semantic",
        components["semantic"],
        "--codec",
        components["codec"],
        "--clip-seconds",
        "2",
        "--threads",
        "1",
        "--quiet",
        "--beat-weights",
        "--beat-alpha",
        "0.1",
        "--beat-delta",
        "0.1",
    ]
    assert prepare_cli.main(args) == 0
    r = CacheReader(out)
    m = r.manifest
    assert (
        m["beat_weights"] is True
        and m["beat_alpha"] == 0.1
        and m["beat_delta"] == 0.1
        and m["beat_motion_rate"] == 10.0
    )
    by_video = {rec.has_video: r.load(i) for i, rec in enumerate(r.records)}
    w = by_video[True]["beats"]
    assert w.dtype == torch.float32 and w.shape == by_video[True]["semantic"].shape
    ones = torch.nonzero(w == 1.0).flatten() / m["semantic_rate"]  # seconds
    assert len(ones) >= 1 and ((ones - 1.0).abs() <= 0.1 + 1e-6).all(), ones
    assert torch.allclose(w[w != 1.0], torch.tensor(0.1))
    assert torch.allclose(by_video[False]["beats"], torch.tensor(0.1))  # audio-only: no video beats
    # a run without the option cannot add items to this cache (the contract differs)
    assert prepare_cli.main(args[:-5]) != 0
    assert "beat_weights" in capsys.readouterr().err
