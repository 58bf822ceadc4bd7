"""Density and coverage (Naeem et al. 2020), the fidelity/diversity pair VidMuse reports.

Each reference clip gets a ball reaching its k-th nearest reference neighbour.
- density: how many reference balls hold a generated clip, on average, divided by k
  (about 1 when generated clips are spread like the reference; above 1 when they crowd
  into dense regions; near 0 when they fall outside the reference manifold);
- coverage: the share of reference balls holding at least one generated clip (0..1;
  low when the generated set misses modes of the reference).
"""

from __future__ import annotations

import numpy as np

DEFAULT_K = 5


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances `[N, M]` between rows of `a [N, D]` and `b [M, D]`."""
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(sq, 0.0))


class DensityCoverage:
    """Density and coverage of paired generated/reference clip embeddings, for any clip subset.

    The distance matrices are computed once, so bootstrap subsets cost only a sort.

    Args:
        reference: `[N, D]` one embedding per reference clip.
        generated: `[N, D]` one per generated clip (row i pairs with reference row i,
            which only matters for subsets).
        k: neighbours that set each reference ball.
    """

    def __init__(self, reference: np.ndarray, generated: np.ndarray, k: int = DEFAULT_K):
        real, fake = np.asarray(reference, np.float64), np.asarray(generated, np.float64)
        self.k = k
        self.real_real = _distances(real, real)  # [N, N]
        self.real_fake = _distances(real, fake)  # [N, M]

    def __call__(self, weights: np.ndarray | None = None) -> tuple[float, float]:
        """`(density, coverage)` over the clips with a non-zero weight (all when None).

        Repeated clips count once: duplicates would make balls of radius zero.

        Raises:
            ValueError: `k` or fewer clips selected.
        """
        n = self.real_real.shape[0]
        keep = np.arange(n) if weights is None else np.flatnonzero(np.asarray(weights) > 0)
        if keep.size <= self.k:
            raise ValueError(f"density/coverage with k={self.k} needs more than {self.k} clips, got {keep.size}")
        rr = self.real_real[np.ix_(keep, keep)]
        radii = np.sort(rr, axis=1)[:, self.k]  # [S]; column 0 is the clip itself
        inside = self.real_fake[np.ix_(keep, keep)] <= radii[:, None]  # [S, S]
        return float(inside.sum() / (self.k * keep.size)), float(inside.any(axis=1).mean())


def density_coverage(reference: np.ndarray, generated: np.ndarray, k: int = DEFAULT_K) -> tuple[float, float]:
    """Density and coverage of `generated [M, D]` against `reference [N, D]` (N > k).

    Raises:
        ValueError: too few reference items for `k` neighbours, or no generated item.
    """
    real = np.asarray(reference, np.float64)
    fake = np.asarray(generated, np.float64)
    if real.shape[0] <= k:
        raise ValueError(f"density/coverage with k={k} needs more than {k} reference clips, got {real.shape[0]}")
    if fake.shape[0] == 0:
        raise ValueError("no generated clips")
    radii = np.sort(_distances(real, real), axis=1)[:, k]  # [N]; column 0 is the point itself
    inside = _distances(real, fake) <= radii[:, None]  # [N, M]
    density = float(inside.sum() / (k * fake.shape[0]))
    coverage = float(inside.any(axis=1).mean())
    return density, coverage
