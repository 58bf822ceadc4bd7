import math

import numpy as np
import pytest

from v2meow.evaluation.bootstrap import bootstrap_mean, bootstrap_statistic
from v2meow.evaluation.metrics import cosine, mcc_score
from v2meow.evaluation.shuffle import derangement, paired_scores


def test_derangement_has_no_fixed_point():
    rng = np.random.default_rng(0)
    for n in (2, 3, 10, 50):
        p = derangement(n, rng)
        assert sorted(p) == list(range(n)) and not np.any(p == np.arange(n))
    with pytest.raises(ValueError):
        derangement(1, rng)


def test_bootstrap_ci_contains_estimate_and_narrows_with_n():
    rng = np.random.default_rng(1)
    widths = []
    for n in (20, 2000):
        x = rng.normal(0.5, 1.0, n)
        est = bootstrap_mean(x, n_boot=500, rng=np.random.default_rng(2))
        assert est.low <= est.value <= est.high
        assert est.value == pytest.approx(x.mean())
        widths.append(est.high - est.low)
    assert widths[1] < widths[0] / 5  # ~ 1 / sqrt(n): 10x narrower


def test_bootstrap_drops_nans_and_handles_degenerate_input():
    est = bootstrap_mean(np.array([1.0, np.nan, 3.0]), n_boot=100)
    assert est.n == 2 and est.value == 2.0
    assert math.isnan(bootstrap_mean(np.array([np.nan])).value)
    one = bootstrap_mean(np.array([4.0]))
    assert (one.low, one.value, one.high) == (4.0, 4.0, 4.0)


def test_bootstrap_statistic_recentred_interval_contains_biased_estimate():
    x = np.random.default_rng(3).normal(size=30)

    def stat(w):  # biased on resamples, as FAD is
        return float(np.var(x) if w is None else np.var(np.repeat(x, w)) + 5.0)

    plain = bootstrap_statistic(stat, 30, n_boot=200, rng=np.random.default_rng(4))
    fixed = bootstrap_statistic(stat, 30, n_boot=200, rng=np.random.default_rng(4), recenter=True)
    assert plain.low > plain.value  # the percentile interval misses the point estimate
    assert fixed.low <= fixed.value <= fixed.high
    assert fixed.high - fixed.low == pytest.approx(plain.high - plain.low)


def test_shuffle_baseline_is_below_true_pairing():
    rng = np.random.default_rng(5)
    targets = [rng.standard_normal(16) for _ in range(12)]
    cands = [t + 0.3 * rng.standard_normal(16) for t in targets]
    cands[3] = None  # a clip without a candidate takes no part
    s = paired_scores(cands, targets, mcc_score, ["mcc"], rng, num_shuffles=5)
    true, shuf = s.true["mcc"], s.shuffled["mcc"]
    assert math.isnan(true[3]) and math.isnan(shuf[3])
    assert np.nanmean(true) > 0.9 and abs(np.nanmean(shuf)) < 0.3
    assert np.all(true[~np.isnan(true)] > shuf[~np.isnan(shuf)])


def test_shuffle_needs_two_clips():
    s = paired_scores([np.ones(3)], [np.ones(3)], mcc_score, ["mcc"], np.random.default_rng(0))
    assert s.true["mcc"][0] == pytest.approx(1.0) and math.isnan(s.shuffled["mcc"][0])
    assert math.isnan(cosine(np.zeros(3), np.ones(3)))


def test_bootstrap_statistic_without_enough_valid_resamples_has_no_interval():
    def stat(w):
        if w is not None and np.count_nonzero(w) < 6:
            raise ValueError("too few distinct clips")
        return 1.0

    est = bootstrap_statistic(stat, 6, n_boot=50, rng=np.random.default_rng(0))
    assert est.value == 1.0 and math.isnan(est.low) and math.isnan(est.high)
