"""Fréchet audio distance between two sets of embeddings.

    FAD = |mu_g - mu_r|^2 + tr(S_g) + tr(S_r) - 2 tr((S_g S_r)^(1/2))

Means and covariances are accumulated in float64. The trace term is computed as
`tr(sqrt(A^(1/2) B A^(1/2)))` with symmetric eigendecompositions: the matrix is
symmetric positive semi-definite, so its square root is real and no complex parts or
diagonal offsets are needed even when the covariances are singular (fewer embeddings
than dimensions). Tiny negative eigenvalues from rounding are clipped to zero.

For confidence intervals, embeddings are kept by clip (`ClipMoments`) so that a bootstrap
resamples clips, the unit of the test set, rather than individual embedding frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class GaussianStats:
    """Mean and covariance of a set of embeddings."""

    mean: np.ndarray  # [D] float64
    cov: np.ndarray  # [D, D] float64, unbiased (divides by count - 1)
    count: int


def gaussian_stats(embeddings: np.ndarray) -> GaussianStats:
    """Fit a Gaussian to `[N, D]` embeddings (N >= 2)."""
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"need at least 2 embeddings of shape [N, D], got {x.shape}")
    return GaussianStats(mean=x.mean(0), cov=np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1]), count=x.shape[0])


def _psd_sqrt(a: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix `[D, D]`."""
    w, v = np.linalg.eigh(0.5 * (a + a.T))
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def trace_sqrt_product(a: np.ndarray, b: np.ndarray) -> float:
    """`tr((A B)^(1/2))` for symmetric PSD `A`, `B`, as `tr(sqrt(A^(1/2) B A^(1/2)))`."""
    ra = _psd_sqrt(a)
    m = ra @ b @ ra
    w = np.linalg.eigvalsh(0.5 * (m + m.T))
    return float(np.sqrt(np.clip(w, 0.0, None)).sum())


def frechet_distance(a: GaussianStats, b: GaussianStats) -> float:
    """Fréchet distance between two Gaussians (0 for identical ones, never negative)."""
    if a.mean.shape != b.mean.shape:
        raise ValueError(f"embedding sizes differ: {a.mean.shape[0]} vs {b.mean.shape[0]}")
    diff = a.mean - b.mean
    value = diff @ diff + np.trace(a.cov) + np.trace(b.cov) - 2.0 * trace_sqrt_product(a.cov, b.cov)
    return max(0.0, float(value))


def frechet_audio_distance(generated: np.ndarray, reference: np.ndarray) -> float:
    """FAD between `[N, D]` generated and `[M, D]` reference embeddings."""
    return frechet_distance(gaussian_stats(generated), gaussian_stats(reference))


class ClipMoments:
    """The embeddings of a set of clips, kept by clip so that clips can be resampled.

    A bootstrap resample counts clip `c` `weights[c]` times; its Gaussian is one
    weighted matrix product over the stacked embeddings (memory `[N, D]`, not `[C, D, D]`).

    Args:
        clips: one `[n_i, D]` array of embeddings per clip (n_i >= 1).
    """

    def __init__(self, clips: list[np.ndarray]):
        if not clips:
            raise ValueError("no clips")
        xs = [np.asarray(c, dtype=np.float64).reshape(-1, np.shape(c)[-1]) for c in clips]
        self.rows = np.concatenate(xs)  # [N, D]
        self.clip_of_row = np.repeat(np.arange(len(xs)), [x.shape[0] for x in xs])  # [N]

    @property
    def num_clips(self) -> int:
        return int(self.clip_of_row[-1]) + 1

    def stats(self, weights: np.ndarray | None = None) -> GaussianStats:
        """Gaussian of the embeddings with clip `c` counted `weights[c]` times (default once)."""
        if weights is None:
            return gaussian_stats(self.rows)
        w = np.asarray(weights, dtype=np.float64)[self.clip_of_row]  # [N]
        n = float(w.sum())
        if n < 2:
            raise ValueError("need at least 2 embeddings")
        mean = (w @ self.rows) / n  # [D]
        centred = self.rows - mean  # [N, D]
        cov = (centred * w[:, None]).T @ centred / (n - 1.0)  # [D, D]
        return GaussianStats(mean=mean, cov=cov, count=int(n))


def fad_from_moments(generated: ClipMoments, reference: ClipMoments, weights: np.ndarray | None = None) -> float:
    """FAD of two paired clip sets, clip `c` of each counted `weights[c]` times."""
    return frechet_distance(generated.stats(weights), reference.stats(weights))
