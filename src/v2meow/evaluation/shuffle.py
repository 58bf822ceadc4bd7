"""The random-shuffle baseline of a paired metric.

A paired metric scores a candidate (generated audio) against the target of the same
clip (its video, reference audio or prompt). Its random-shuffle baseline scores each
target against the candidate of another clip, drawn by a random derangement (a
permutation with no fixed point), averaged over several derangements. A model that
uses its input must beat it; V2Meow reports the same baseline for KL and MCC, built by
shuffling the reference audio (`candidates` = reference audio here).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def derangement(n: int, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random permutation of `range(n)` with no fixed point (n >= 2), `[n]`."""
    if n < 2:
        raise ValueError(f"a derangement needs at least 2 items, got {n}")
    while True:  # rejection: about e tries on average
        perm = rng.permutation(n)
        if not np.any(perm == np.arange(n)):
            return perm


@dataclass
class PairedScores:
    """Per-clip scores of one metric family under the true pairing and the shuffled one."""

    true: dict[str, np.ndarray] = field(default_factory=dict)  # name -> [N] (NaN: undefined)
    shuffled: dict[str, np.ndarray] = field(default_factory=dict)  # name -> [N], mean over derangements


def paired_scores(
    candidates: Sequence[Any | None],
    targets: Sequence[Any | None],
    score: Callable[[Any, Any], dict[str, float]],
    names: Sequence[str],
    rng: np.random.Generator,
    num_shuffles: int = 10,
    shuffle: bool = True,
    with_true: bool = True,
) -> PairedScores:
    """Score every clip under its true pairing and under `num_shuffles` random derangements.

    Only clips with both a candidate and a target take part (None marks a missing one);
    the derangements permute those clips among themselves.

    Args:
        candidates: per clip, what is judged (e.g. generated audio features), or None.
        targets: per clip, what it is judged against (e.g. video beats), or None.
        score: `(candidate, target) -> {name: value}` for every name in `names`.
        names: the metric names `score` returns.
        rng: draws the derangements.
        num_shuffles: derangements averaged per clip.
        shuffle: compute the shuffled scores (False leaves them NaN).
        with_true: compute the true-pairing scores (False leaves them NaN).

    Returns:
        `PairedScores` with `[N]` arrays aligned with `candidates`.
    """
    if len(candidates) != len(targets):
        raise ValueError(f"{len(candidates)} candidates but {len(targets)} targets")
    n = len(targets)
    out = PairedScores(true={k: np.full(n, math.nan) for k in names}, shuffled={k: np.full(n, math.nan) for k in names})
    valid = [i for i in range(n) if candidates[i] is not None and targets[i] is not None]
    if with_true:
        for i in valid:
            _store(out.true, i, score(candidates[i], targets[i]))
    if not shuffle or len(valid) < 2:
        return out
    sums = {k: np.zeros(n) for k in names}
    counts = {k: np.zeros(n) for k in names}
    for _ in range(num_shuffles):
        perm = derangement(len(valid), rng)  # target valid[a] meets candidate valid[perm[a]]
        for a, b in enumerate(perm):
            values = score(candidates[valid[b]], targets[valid[a]])
            for k in names:
                v = values[k]
                if math.isfinite(v):
                    sums[k][valid[a]] += v
                    counts[k][valid[a]] += 1
    for k in names:
        has = counts[k] > 0
        out.shuffled[k][has] = sums[k][has] / counts[k][has]
    return out


def _store(table: dict[str, np.ndarray], i: int, values: dict[str, float]) -> None:
    for k in table:
        table[k][i] = values[k]
