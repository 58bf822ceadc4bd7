"""Turn per-clip analyses into figures: point estimates, intervals and baselines.

Rows of the report, per paired metric:
- `generated`: generated audio against its own target (video, reference or prompt);
- `shuffle`: generated audio against another clip's target (random derangements);
- `reference_shuffle`: the reference audio of another clip as the candidate, the
  random-shuffle baseline of V2Meow Table 1;
- `reference`: the clip's own reference audio, where that is not trivially perfect
  (beats against the video, audio against the prompt): what real music reaches.

Set-level figures (FAD, density, coverage) compare the two sets as wholes; pairing does
not enter them, so they have no shuffle baseline.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from v2meow.evaluation.analysis import ClipAnalysis
from v2meow.evaluation.beats import beat_scores, music_scores, tempo_scores
from v2meow.evaluation.bootstrap import Estimate, bootstrap_mean, bootstrap_statistic
from v2meow.evaluation.fad import ClipMoments, fad_from_moments
from v2meow.evaluation.kl import kl_divergence
from v2meow.evaluation.prdc import DensityCoverage
from v2meow.evaluation.shuffle import paired_scores

BEAT_METRICS = ("beat_alignment", "beat_hit_rate", "beat_f1", "tempo_agreement", "tempo_error")
MUSIC_BEAT_METRICS = ("beat_coverage", "beat_hit", "beat_iou")  # generated music against its reference music


@dataclass
class MetricResult:
    """One figure of the report."""

    name: str
    title: str
    higher_is_better: bool
    estimate: Estimate
    baselines: dict[str, Estimate] = field(default_factory=dict)  # row name -> estimate
    vs_shuffle: Estimate | None = None  # mean per-clip (generated - shuffle)
    per_clip: np.ndarray | None = None  # [N] aligned with the evaluated clips
    per_clip_shuffle: np.ndarray | None = None  # [N]
    note: str | None = None

    def to_dict(self) -> dict:
        d = {"title": self.title, "higher_is_better": self.higher_is_better, **self.estimate.to_dict()}
        d["baselines"] = {k: v.to_dict() for k, v in self.baselines.items()}
        if self.vs_shuffle is not None:
            d["vs_shuffle"] = self.vs_shuffle.to_dict()
        if self.note:
            d["note"] = self.note
        return d


@dataclass
class BeatSettings:
    """Tolerances of the beat and tempo scores."""

    tolerance: float = 0.1  # seconds, hit window (VMAs' delta)
    sigma: float = 0.1  # seconds, width of the soft alignment score
    tempo_tolerance: float = 0.08  # relative tempo error counted as agreement
    iou_tolerance: float = (
        0.07  # seconds, half-width of each beat's neighbourhood in the beat IoU (mir_eval's F-measure window)
    )


class MetricBuilder:
    """Computes every metric over a list of clip analyses, reproducibly from `seed`."""

    def __init__(
        self, clips: Sequence[ClipAnalysis], seed: int = 0, n_boot: int = 1000, level: float = 0.95, shuffles: int = 10
    ):
        self.clips, self.seed, self.n_boot, self.level, self.shuffles = list(clips), seed, n_boot, level, shuffles

    def _rng(self, salt: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, salt])

    def _mean(self, values: np.ndarray, salt: int) -> Estimate:
        return bootstrap_mean(values, self.n_boot, self.level, self._rng(salt))

    def fad(self, title: str, max_boot: int = 200) -> MetricResult:
        """FAD over clips with both embeddings; clips are resampled in pairs for the interval.

        FAD grows on resamples that repeat clips, so the interval is the bootstrap spread
        placed at the point estimate (`bootstrap_statistic(recenter=True)`).
        """
        ok = [c for c in self.clips if c.gen_embeddings is not None and c.ref_embeddings is not None]
        rows = sum(c.gen_embeddings.shape[0] for c in ok)
        if rows < 2 or sum(c.ref_embeddings.shape[0] for c in ok) < 2:
            nan = Estimate(math.nan, math.nan, math.nan, len(ok))
            return MetricResult("fad", title, False, nan, note="needs at least 2 embeddings per set")
        gen = ClipMoments([c.gen_embeddings for c in ok])
        ref = ClipMoments([c.ref_embeddings for c in ok])
        n_boot = min(self.n_boot, max_boot)
        est = bootstrap_statistic(
            lambda w: fad_from_moments(gen, ref, w), len(ok), n_boot, self.level, self._rng(1), recenter=True
        )
        est.low = max(0.0, est.low)
        notes = [
            f"interval: spread of {n_boot} clip resamples placed at the estimate (FAD is biased upward on resamples)"
        ]
        dim = ok[0].gen_embeddings.shape[1]
        if rows <= dim:
            notes.append(
                f"only {rows} generated embeddings for {dim} dimensions: covariances are singular and FAD is biased upward"
            )
        return MetricResult("fad", title, False, est, note="; ".join(notes))

    def density_coverage(
        self, space: str, transform: Callable, k: int = 5, max_boot: int = 200
    ) -> dict[str, MetricResult]:
        """VidMuse's density and coverage of generated clip vectors against reference ones.

        Args:
            space: names the embedding space in the titles.
            transform: applied to every clip vector first (one common standardisation).
            k: neighbours per reference ball.
        """
        ok = [c for c in self.clips if c.gen_vector is not None and c.ref_vector is not None]
        if len(ok) <= k:
            return {}
        dc = DensityCoverage(
            np.stack([transform(c.ref_vector) for c in ok]), np.stack([transform(c.gen_vector) for c in ok]), k
        )
        n_boot = min(self.n_boot, max_boot)
        out = {}
        for i, (name, title) in enumerate((("density", "Density"), ("coverage", "Coverage"))):
            est = bootstrap_statistic(
                lambda w, i=i: dc(w)[i], len(ok), n_boot, self.level, self._rng(20 + i), recenter=True
            )
            note = f"k={k} on {space}; interval: spread over resampled clip subsets placed at the estimate"
            out[name] = MetricResult(name, f"{title} (k={k}, {space})", True, est, note=note)
        return out

    def paired(
        self,
        specs: dict[str, tuple[str, bool]],
        candidate: Callable[[ClipAnalysis], object],
        target: Callable[[ClipAnalysis], object],
        score: Callable[[object, object], dict[str, float]],
        reference: Callable[[ClipAnalysis], object] | None = None,
        reference_true: bool = False,
        salt: int = 2,
    ) -> dict[str, MetricResult]:
        """A family of paired metrics with its baselines (see the module doc).

        Args:
            specs: metric name -> (title, higher is better); `score` returns these names.
            candidate, target: pick the judged item and what it is judged against from a
                clip (None: not available for that clip).
            score: `(candidate, target) -> {name: value}`.
            reference: picks the reference-audio candidate for the `reference_shuffle`
                baseline (and the `reference` row when `reference_true`).
            salt: separates the random streams of different families.
        """
        names = list(specs)
        tgts = [target(c) for c in self.clips]
        main = paired_scores([candidate(c) for c in self.clips], tgts, score, names, self._rng(salt), self.shuffles)
        ref = None
        if reference is not None:
            refs = [reference(c) for c in self.clips]
            ref = paired_scores(refs, tgts, score, names, self._rng(salt + 1), self.shuffles, with_true=reference_true)
        out = {}
        for i, k in enumerate(names):
            s = salt * 100 + i * 10
            title, higher = specs[k]
            res = MetricResult(
                k, title, higher, self._mean(main.true[k], s), per_clip=main.true[k], per_clip_shuffle=main.shuffled[k]
            )
            res.baselines["shuffle"] = self._mean(main.shuffled[k], s + 1)
            if ref is not None:
                res.baselines["reference_shuffle"] = self._mean(ref.shuffled[k], s + 2)
                if reference_true:
                    res.baselines["reference"] = self._mean(ref.true[k], s + 3)
            res.vs_shuffle = self._mean(main.true[k] - main.shuffled[k], s + 4)
            out[k] = res
        return out


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two vectors (NaN if either is zero)."""
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    return float(a @ b) / (na * nb) if na > 1e-12 and nb > 1e-12 else math.nan


def standardizer(vectors: Sequence[np.ndarray | None]) -> Callable[[np.ndarray | None], np.ndarray | None]:
    """z-scoring by the mean and std of the given vectors, for cosines of non-contrastive embeddings."""
    vs = np.stack([v for v in vectors if v is not None]) if any(v is not None for v in vectors) else None
    if vs is None or vs.shape[0] < 2:
        return lambda v: v
    mu, sd = vs.mean(0), np.maximum(vs.std(0), 1e-8)
    return lambda v: None if v is None else (v - mu) / sd


def mcc_score(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    return {"mcc": cosine(a, b)}


def kl_score(candidate: np.ndarray, target: np.ndarray) -> dict[str, float]:
    return {"kl": kl_divergence(target, candidate)}


def rhythm_score(settings: BeatSettings) -> Callable[[object, object], dict[str, float]]:
    """`(music Rhythm, video Rhythm) -> beat and tempo scores`."""

    def score(music, video) -> dict[str, float]:
        return {
            **beat_scores(video, music, tolerance=settings.tolerance, sigma=settings.sigma),
            **tempo_scores(video.tempo, music.tempo, tolerance=settings.tempo_tolerance),
        }

    return score


def music_beat_score(settings: BeatSettings) -> Callable[[object, object], dict[str, float]]:
    """`(generated MusicEvents, reference MusicEvents) -> BCS, BHS and beat IoU`."""

    def score(generated, reference) -> dict[str, float]:
        return music_scores(generated, reference, tolerance=settings.iou_tolerance)

    return score
