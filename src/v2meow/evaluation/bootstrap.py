"""Percentile bootstrap confidence intervals over clips.

Clips are the unit of resampling: a per-clip metric is resampled value by value, a
set metric (FAD) by recomputing it on resampled clip counts, and a paired comparison
(true pairing vs random shuffle) by resampling the per-clip differences. NaN values
(a clip for which a metric is undefined) are dropped first.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass
class Estimate:
    """A figure with its bootstrap interval."""

    value: float
    low: float
    high: float
    n: int  # clips that contributed

    def to_dict(self) -> dict[str, float | int | None]:
        return {"value": _json_float(self.value), "ci": [_json_float(self.low), _json_float(self.high)], "n": self.n}


def _json_float(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


NAN_ESTIMATE = Estimate(math.nan, math.nan, math.nan, 0)


def bootstrap_mean(
    values: np.ndarray, n_boot: int = 1000, level: float = 0.95, rng: np.random.Generator | None = None
) -> Estimate:
    """Mean of `values [N]` with a percentile bootstrap interval (NaNs dropped).

    Args:
        values: per-clip scores.
        n_boot: resamples; 0 gives an interval equal to the point estimate.
        level: coverage of the interval, e.g. 0.95.
        rng: random generator (seeded by the caller for reproducibility).
    """
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return NAN_ESTIMATE
    value = float(x.mean())
    if n_boot <= 0 or x.size == 1:
        return Estimate(value, value, value, int(x.size))
    rng = rng if rng is not None else np.random.default_rng(0)
    means = np.empty(n_boot)
    chunk = max(1, 2_000_000 // x.size)  # bounds the [chunk, N] index matrix
    for s in range(0, n_boot, chunk):
        idx = rng.integers(0, x.size, size=(min(chunk, n_boot - s), x.size))
        means[s : s + idx.shape[0]] = x[idx].mean(1)
    low, high = _percentiles(means, level)
    return Estimate(value, low, high, int(x.size))


def bootstrap_statistic(
    statistic: Callable[[np.ndarray | None], float],
    num_clips: int,
    n_boot: int = 200,
    level: float = 0.95,
    rng: np.random.Generator | None = None,
    recenter: bool = False,
) -> Estimate:
    """A set statistic with a percentile bootstrap interval over resampled clips.

    Args:
        statistic: maps clip counts `weights [C]` (how often each clip is drawn; None
            for the full set, each clip once) to a float.
        num_clips: C.
        n_boot: resamples (each calls `statistic` once). A resample for which
            `statistic` raises ValueError (too few distinct clips) is skipped; when
            more than half are, the interval is NaN.
        recenter: for a statistic biased on resamples (FAD grows when clips repeat),
            place the bootstrap spread around its median at the point estimate:
            `[value - (median - low), value + (high - median)]`. The interval then
            measures sampling spread only and always contains the point estimate.
    """
    value = float(statistic(None))
    if n_boot <= 0 or num_clips < 2:
        return Estimate(value, value, value, num_clips)
    rng = rng if rng is not None else np.random.default_rng(0)
    stats = []
    with _single_threaded_blas():
        for _ in range(n_boot):
            weights = np.bincount(rng.integers(0, num_clips, size=num_clips), minlength=num_clips)
            try:
                stats.append(float(statistic(weights)))
            except ValueError:  # a resample too small for the statistic (e.g. < 2 embeddings)
                continue
    if len(stats) < n_boot / 2:  # most resamples too small: no trustworthy interval
        return Estimate(value, math.nan, math.nan, num_clips)
    low, high = _percentiles(np.asarray(stats), level)
    if recenter:
        median = float(np.median(stats))
        low, high = value - (median - low), value + (high - median)
    return Estimate(value, low, high, num_clips)


def _single_threaded_blas() -> contextlib.AbstractContextManager:
    """Run many small linear-algebra problems on one BLAS thread (threads only add overhead
    there, and spin badly on a busy machine); restored on exit."""
    try:
        from threadpoolctl import threadpool_limits  # comes with scikit-learn
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _percentiles(samples: np.ndarray, level: float) -> tuple[float, float]:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    tail = 50.0 * (1.0 - level)
    low, high = np.percentile(samples[np.isfinite(samples)], [tail, 100.0 - tail])
    return float(low), float(high)
