"""Field-standard rhythm figures: mir_eval's beat F-measure, LORIS's BCS/BHS, the beat IoU."""

import math
import sys

import numpy as np
import pytest
from evalsynth import click_track

from v2meow.evaluation import EvalConfig, evaluate
from v2meow.evaluation.beats import (
    Rhythm,
    beat_bins,
    beat_f_measure,
    beat_iou,
    beat_scores,
    loris_scores,
    music_events,
    music_scores,
)

FAST = dict(bootstrap=100, shuffles=4)
SR = 16000


def _one_to_one_matches(a: np.ndarray, b: np.ndarray, tol: float) -> int:
    """Most one-to-one pairs closer than `tol` (greedy over sorted times is optimal in 1-D)."""
    i = j = n = 0
    while i < a.size and j < b.size:
        if abs(a[i] - b[j]) <= tol:
            i, j, n = i + 1, j + 1, n + 1
        elif a[i] < b[j]:
            i += 1
        else:
            j += 1
    return n


def test_mir_eval_f_measure_is_the_one_to_one_f1_in_300_random_trials():
    pytest.importorskip("mir_eval")
    rng = np.random.default_rng(0)
    for _ in range(300):
        ref = np.sort(rng.uniform(0, 10, rng.integers(1, 30)))
        est = np.sort(rng.uniform(0, 10, rng.integers(1, 30)))
        expected = 2 * _one_to_one_matches(ref, est, 0.1) / (ref.size + est.size)
        assert beat_f_measure(ref, est, 0.1) == pytest.approx(expected, abs=1e-12)
    assert beat_f_measure(np.array([1.0, 2.0]), np.array([])) == 0.0


def test_loris_bins_and_scores_follow_beats_scores_py():
    assert beat_bins(np.array([0.2, 0.9, 1.5, 4.99]), 5.0).tolist() == [True, True, False, False, True]
    s = loris_scores(np.array([0.2, 1.5]), np.array([0.7, 2.1, 3.1]), 5.0)  # bins {0, 1} vs {0, 2, 3}: 1 hit
    assert s == {"beat_coverage": 0.5, "beat_hit": pytest.approx(1 / 3)}
    assert loris_scores(np.array([]), np.array([0.5]), 2.0) == {"beat_coverage": 0.0, "beat_hit": 0.0}
    assert loris_scores(np.array([0.5, 7.5]), np.array([0.5]), 2.0)["beat_coverage"] == 1.0  # past the end: ignored


def test_beat_iou_of_overlapping_windows():
    assert beat_iou(np.array([1.0]), np.array([1.07]), 3.0, tolerance=0.07) == pytest.approx(1 / 3, abs=0.01)
    assert beat_iou(np.array([1.0, 2.0]), np.array([1.0, 2.0]), 3.0) == 1.0
    assert beat_iou(np.array([1.0]), np.array([2.0]), 3.0) == 0.0
    assert beat_iou(np.array([]), np.array([1.0]), 3.0) == 0.0 and math.isnan(beat_iou(np.array([]), np.array([]), 3.0))


def test_music_scores_reward_the_same_rhythm_and_punish_an_offbeat_one():
    times = np.arange(0.25, 8.0, 0.5)  # 120 BPM
    same = music_events(click_track(times, 8.0, seed=1), SR)
    again = music_events(click_track(times, 8.0, seed=2), SR)
    s = music_scores(same, again)
    assert s["beat_coverage"] == 1.0 and s["beat_hit"] == 1.0 and s["beat_iou"] > 0.8
    sparse = music_events(click_track(np.arange(0.25, 8.0, 2.0), 8.0, seed=3), SR)  # an onset every other second
    assert music_scores(sparse, again)["beat_hit"] == pytest.approx(0.5, abs=0.15)
    offbeat = music_events(click_track(times + 0.25, 8.0, seed=3), SR)
    assert music_scores(offbeat, again)["beat_iou"] < 0.2


def test_evaluate_reports_bcs_bhs_and_beat_iou_with_intervals_and_baselines(eval_dirs):
    cfg = EvalConfig(generated=str(eval_dirs["gen"]), reference=str(eval_dirs["ref"]), **FAST)
    m = evaluate(cfg, progress=False).metrics
    for name in ("beat_coverage", "beat_hit", "beat_iou"):
        est = m[name].estimate
        assert 0 <= est.low <= est.value <= est.high <= 1 and est.n == 6, name
        assert set(m[name].baselines) == {"shuffle", "reference_shuffle"}, name
    assert m["beat_iou"].estimate.value > m["beat_iou"].baselines["shuffle"].value + 0.2


def test_without_mir_eval_the_f_measure_column_says_so_and_the_rest_runs(eval_dirs, monkeypatch):
    for name in [k for k in sys.modules if k == "mir_eval" or k.startswith("mir_eval.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "mir_eval", None)  # import mir_eval -> ImportError
    assert math.isnan(beat_scores(Rhythm(np.array([1.0]), None, 3.0), Rhythm(np.array([1.0]), None, 3.0))["beat_f1"])
    cfg = EvalConfig(
        generated=str(eval_dirs["gen"]), reference=str(eval_dirs["ref"]), videos=str(eval_dirs["vid"]), **FAST
    )
    m = evaluate(cfg, progress=False).metrics
    assert "needs mir_eval" in m["beat_f1"].title and "mir_eval is not installed" in m["beat_f1"].note
    assert math.isnan(m["beat_f1"].estimate.value)
    assert m["beat_alignment"].estimate.value > 0.8 and math.isfinite(m["beat_hit"].estimate.value)
