import numpy as np
import pytest
import scipy.linalg
from evalsynth import music_like

from v2meow.evaluation.embeddings import MelStatsBackbone
from v2meow.evaluation.fad import (
    ClipMoments,
    GaussianStats,
    fad_from_moments,
    frechet_audio_distance,
    frechet_distance,
    gaussian_stats,
    trace_sqrt_product,
)


def _spd(rng, d, rank=None):
    a = rng.standard_normal((d, rank or d))
    return a @ a.T / d


def test_trace_sqrt_matches_scipy_sqrtm():
    rng = np.random.default_rng(0)
    a, b = _spd(rng, 12), _spd(rng, 12)
    expected = np.trace(scipy.linalg.sqrtm(a @ b)).real
    assert trace_sqrt_product(a, b) == pytest.approx(expected, rel=1e-8)


def test_frechet_distance_of_diagonal_gaussians_is_analytic():
    m1, m2 = np.array([0.0, 1.0]), np.array([2.0, 1.0])
    s1, s2 = np.array([1.0, 4.0]), np.array([9.0, 1.0])  # variances
    d = frechet_distance(GaussianStats(m1, np.diag(s1), 10), GaussianStats(m2, np.diag(s2), 10))
    expected = np.sum((m1 - m2) ** 2) + np.sum((np.sqrt(s1) - np.sqrt(s2)) ** 2)
    assert d == pytest.approx(expected, rel=1e-10)


def test_singular_covariances_stay_finite_and_non_negative():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((5, 64)), rng.standard_normal((5, 64)) + 0.5  # N < D: rank-deficient
    d = frechet_audio_distance(x, y)
    assert np.isfinite(d) and d > 0
    assert frechet_audio_distance(x, x) == pytest.approx(0.0, abs=1e-8)


def test_clip_moments_match_direct_stats_and_weights_duplicate_clips():
    rng = np.random.default_rng(2)
    clips = [rng.standard_normal((n, 6)) for n in (3, 5, 2)]
    m = ClipMoments(clips)
    direct = gaussian_stats(np.concatenate(clips))
    np.testing.assert_allclose(m.stats().cov, direct.cov, atol=1e-12)
    dup = gaussian_stats(np.concatenate([clips[0], clips[0], clips[2]]))
    weighted = m.stats(np.array([2, 0, 1]))
    np.testing.assert_allclose(weighted.mean, dup.mean, atol=1e-12)
    np.testing.assert_allclose(weighted.cov, dup.cov, atol=1e-12)


def _embed_set(seeds, transform=lambda w: w):
    bb = MelStatsBackbone()
    return [bb.embed(transform(music_like(s, 3.0)), 16_000) for s in seeds]


def test_identical_sets_give_zero_and_shifted_sets_give_much_more():
    ref = ClipMoments(_embed_set(range(8)))
    same = ClipMoments(_embed_set(range(8)))
    other_draws = ClipMoments(_embed_set(range(100, 108)))
    rng = np.random.default_rng(3)
    noisy = ClipMoments(_embed_set(range(8), lambda w: w + 0.1 * rng.standard_normal(w.size).astype(np.float32)))
    assert fad_from_moments(same, ref) == pytest.approx(0.0, abs=1e-6)
    base = fad_from_moments(other_draws, ref)
    shifted = fad_from_moments(noisy, ref)
    assert shifted > 3 * base, (shifted, base)


def test_density_and_coverage():
    from v2meow.evaluation.prdc import DensityCoverage, density_coverage

    rng = np.random.default_rng(4)
    real = rng.standard_normal((200, 4))
    assert density_coverage(real, real) == pytest.approx((1.2, 1.0))  # each ball holds itself + k others: (k+1)/k
    d, c = density_coverage(real, rng.standard_normal((200, 4)))
    assert 0.7 < d < 1.3 and c > 0.8
    d, c = density_coverage(real, rng.standard_normal((200, 4)) + 6.0)  # off the reference manifold
    assert d < 0.05 and c < 0.05
    d, c = density_coverage(real, 0.05 * rng.standard_normal((200, 4)))  # mode collapse at the centre
    assert c < 0.5 < d
    dc = DensityCoverage(real, real)
    assert dc(np.r_[np.ones(10), np.zeros(190)]) == pytest.approx((1.2, 1.0))
    with pytest.raises(ValueError):
        dc(np.r_[np.ones(5), np.zeros(195)])
    with pytest.raises(ValueError):
        density_coverage(real[:5], real)
