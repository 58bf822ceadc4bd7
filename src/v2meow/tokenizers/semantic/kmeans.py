"""Streaming k-means over backbone features, so hours of audio fit in bounded memory.

Features are produced file by file, chunk by chunk, optionally subsampled, mixed in a
shuffle pool and fed in random batches of `batch_frames` to scikit-learn's
`MiniBatchKMeans.partial_fit`. The first full pool seeds the centroids with k-means++
(and, with `normalize`, fixes the feature mean/std). Memory is the pool of features plus
one chunk of audio.
Everything is deterministic under `seed` (file order, frame subsampling, k-means).
"""

from __future__ import annotations

import dataclasses
import os
import random
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from v2meow.errors import ConfigError, MediaError
from v2meow.media import read_audio
from v2meow.tokenizers.semantic._audio import prepare_waveform
from v2meow.tokenizers.semantic.backbone import SemanticBackbone, iter_features
from v2meow.tokenizers.semantic.tokenizer import SemanticTokenizer

AudioItem = str | os.PathLike | torch.Tensor | np.ndarray | tuple  # path, wav at the backbone rate, or (wav, rate)


@dataclasses.dataclass
class KMeansResult:
    """Fitted centroids in (optionally) normalised feature space."""

    centroids: np.ndarray  # [K, D]
    mean: np.ndarray | None  # [D] or None when not normalised
    std: np.ndarray | None  # [D]
    frames: int  # frames used
    batches: int  # partial_fit steps


@dataclasses.dataclass
class FitReport:
    """What `fit_kmeans` read: filled in place when passed."""

    files_used: int = 0
    skipped: list[str] = dataclasses.field(default_factory=list)  # one line per unusable input
    frames: int = 0
    batches: int = 0


def default_batch_frames(k: int) -> int:
    return max(10_000, 20 * k)


def fit_centroids(
    chunks: Iterable[np.ndarray | torch.Tensor],
    k: int,
    *,
    batch_frames: int | None = None,
    pool_frames: int | None = None,
    max_frames: int | None = None,
    frame_fraction: float = 1.0,
    normalize: bool = False,
    feature_weights: np.ndarray | None = None,
    seed: int = 0,
) -> KMeansResult:
    """Mini-batch k-means over a stream of feature chunks `[t, D]`.

    Frames go through a shuffle pool of `pool_frames` rows: once it is full, each
    `partial_fit` step takes `batch_frames` random rows out of it, so a batch mixes many
    files rather than one. k-means++ (and, with `normalize`, the mean/std) are computed
    on `batch_frames` random rows of the first full pool. Memory: `pool_frames x D` floats.

    Args:
        chunks: feature arrays, consumed lazily (stops early at `max_frames`).
        k: number of clusters.
        batch_frames: frames per `partial_fit` step and for the k-means++ seeding
            (default `max(10000, 20 k)`). Must be at least `k`.
        pool_frames: shuffle pool size (default `3 * batch_frames`).
        max_frames: stop after this many (kept) frames.
        frame_fraction: keep each frame with this probability (spreads `max_frames` over
            more audio, and decorrelates neighbouring frames).
        normalize: standardise features with the pool's mean/std.
        feature_weights: `[D]` multipliers applied after standardisation (needs `normalize`);
            folded into the returned std (`std / weights`), so assignment needs nothing else.
        seed: seeds frame subsampling, the pool and k-means.

    Raises:
        ConfigError: bad arguments, or fewer than `k` frames in total.
    """
    batch_frames = batch_frames or default_batch_frames(k)
    pool_frames = pool_frames or 3 * batch_frames
    if k < 1 or batch_frames < k or pool_frames < batch_frames:
        raise ConfigError(
            f"k-means: need 1 <= k <= batch_frames <= pool_frames, got {k}, {batch_frames}, {pool_frames}"
        )
    if not 0 < frame_fraction <= 1:
        raise ConfigError(f"k-means: frame_fraction must be in (0, 1], got {frame_fraction}")
    if max_frames is not None and max_frames < k:
        raise ConfigError(f"k-means: max_frames ({max_frames}) must be at least k ({k})")
    if feature_weights is not None and not normalize:
        raise ConfigError("k-means: feature_weights need normalize=True")
    rng = np.random.default_rng(seed)
    fit = _Fit(k, batch_frames, normalize, seed, rng, feature_weights)
    pool: _Pool | None = None
    used = 0
    for chunk in chunks:
        x = np.asarray(chunk.detach().cpu() if isinstance(chunk, torch.Tensor) else chunk, dtype=np.float32)
        if frame_fraction < 1:
            x = x[rng.random(len(x)) < frame_fraction]
        if max_frames is not None:
            x = x[: max_frames - used]
        used += len(x)
        pool = pool or _Pool(pool_frames, x.shape[1], rng)
        while len(x):
            x = pool.add(x)
            if pool.n == pool_frames:
                fit.step(pool.take(batch_frames), pool)
        if max_frames is not None and used >= max_frames:
            break
    if pool is None or pool.n + fit.batches == 0 or (fit.km is None and pool.n < k):
        raise ConfigError(f"k-means: need at least k={k} frames, got {used}; give more audio or a smaller k")
    while pool.n:
        fit.step(pool.take(min(batch_frames, pool.n)), pool)
    return KMeansResult(fit.km.cluster_centers_.astype(np.float32), fit.mean, fit.std, used, fit.batches)


class _Pool:
    """A fixed-size array of frames from which random rows are taken out."""

    def __init__(self, capacity: int, dim: int, rng: np.random.Generator):
        self.data = np.empty((capacity, dim), dtype=np.float32)  # [P, D]
        self.n = 0
        self.rng = rng

    def add(self, x: np.ndarray) -> np.ndarray:
        """Copy as many rows of `x` as fit; return the rest."""
        m = min(len(x), len(self.data) - self.n)
        self.data[self.n : self.n + m] = x[:m]
        self.n += m
        return x[m:]

    def sample(self, m: int) -> np.ndarray:
        return self.data[self.rng.choice(self.n, min(m, self.n), replace=False)]

    def take(self, m: int) -> np.ndarray:
        """Remove and return `m` random rows (holes are filled from the tail)."""
        sel = self.rng.choice(self.n, m, replace=False)
        out = self.data[sel].copy()  # [m, D]
        holes = sel[sel < self.n - m]
        fillers = np.setdiff1d(np.arange(self.n - m, self.n), sel)
        self.data[holes] = self.data[fillers]
        self.n -= m
        return out


class _Fit:
    """MiniBatchKMeans seeded by k-means++ on a random sample of the first pool."""

    def __init__(
        self,
        k: int,
        batch_frames: int,
        normalize: bool,
        seed: int,
        rng: np.random.Generator,
        weights: np.ndarray | None = None,
    ):
        self.k, self.batch_frames, self.normalize, self.seed, self.rng = k, batch_frames, normalize, seed, rng
        self.weights = None if weights is None else np.asarray(weights, dtype=np.float32)
        self.km = None
        self.mean = self.std = None
        self.batches = 0

    def _init(self, pool: _Pool, first: np.ndarray) -> None:
        from sklearn.cluster import MiniBatchKMeans, kmeans_plusplus

        sample = np.concatenate([first, pool.sample(self.batch_frames - len(first))])  # [<= batch_frames, D]
        if self.normalize:
            rows = np.concatenate([first, pool.data[: pool.n]])
            self.mean = rows.mean(0)
            self.std = rows.std(0)
            self.std[self.std < 1e-5] = 1.0  # constant dims stay as they are
            if self.weights is not None:
                if self.weights.shape != self.std.shape or not (self.weights > 0).all():
                    raise ConfigError(f"k-means: feature_weights must be {self.std.shape} positive numbers")
                self.std = self.std / self.weights  # (x - mean) / (std / w) = w (x - mean) / std
            sample = (sample - self.mean) / self.std
        centers, _ = kmeans_plusplus(sample, self.k, random_state=self.seed)
        self.km = MiniBatchKMeans(
            n_clusters=self.k, init=centers, n_init=1, random_state=self.seed, compute_labels=False
        )

    def step(self, x: np.ndarray, pool: _Pool) -> None:
        if self.km is None:
            self._init(pool, x)
        if self.mean is not None:
            x = (x - self.mean) / self.std
        self.km.partial_fit(x)
        self.batches += 1


def fit_kmeans(
    audio: Iterable[AudioItem],
    backbone: SemanticBackbone,
    k: int = 1024,
    *,
    average_frames: int = 1,
    normalize: bool | None = None,
    max_frames: int | None = None,
    frame_fraction: float = 1.0,
    batch_frames: int | None = None,
    pool_frames: int | None = None,
    chunk_seconds: float = 30.0,
    seed: int = 0,
    shuffle: bool = True,
    inline_backbone: bool | None = None,
    on_error: str = "raise",
    report: FitReport | None = None,
    progress: Callable[[Iterable[Any]], Iterable[Any]] | None = None,
) -> SemanticTokenizer:
    """Fit the k-means of a semantic tokenizer on audio files or waveforms.

    Args:
        audio: paths (any format `media.read_audio` reads), `[N]`/`[C, N]` waveforms at
            `backbone.sample_rate`, or `(wav, sample_rate)` pairs.
        backbone: the feature extractor (its configured layer).
        k: vocabulary size.
        average_frames: average consecutive frames (2 gives MusicLM's 25 Hz from 50 Hz).
        normalize: standardise features before k-means (default: True for `mel` and `mel-pitch`,
            whose blocks differ in scale; False for SSL layers, as HuBERT does). A backbone with a
            `feature_weights()` method (`mel-pitch`) has its per-block weights applied after it.
        max_frames, frame_fraction, batch_frames, pool_frames, seed: see `fit_centroids`.
        chunk_seconds: audio per backbone call.
        shuffle: visit a list of inputs in a seeded random order (so `max_frames` samples
            the whole corpus, not its first files).
        inline_backbone: store backbone weights in the tokenizer's safetensors (default:
            only when the backbone was not loaded from a directory or repo id).
        on_error: "raise", or "skip" unusable inputs (listed in `report.skipped`).
        report: filled with what was read.
        progress: wraps the input iterable (e.g. `tqdm`).

    Returns:
        The fitted `SemanticTokenizer` (backbone + centroids).
    """
    if on_error not in ("raise", "skip"):
        raise ConfigError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    report = report if report is not None else FitReport()
    if normalize is None:
        normalize = backbone.name in ("mel", "mel-pitch")
    weights = backbone.feature_weights() if normalize and hasattr(backbone, "feature_weights") else None
    inline = backbone.weights_source is None if inline_backbone is None else inline_backbone
    if not inline and backbone.weights_source is None:
        raise ConfigError("inline_backbone=False needs a backbone loaded from a directory or repo id")
    items = list(audio) if shuffle and not isinstance(audio, Iterator) else audio
    if shuffle and isinstance(items, list):
        random.Random(seed).shuffle(items)
    if progress is not None:
        items = progress(items)
    stream = _feature_stream(items, backbone, average_frames, chunk_seconds, on_error, report)
    result = fit_centroids(
        stream,
        k,
        batch_frames=batch_frames,
        pool_frames=pool_frames,
        max_frames=max_frames,
        frame_fraction=frame_fraction,
        normalize=normalize,
        feature_weights=weights,
        seed=seed,
    )
    report.frames, report.batches = result.frames, result.batches
    return SemanticTokenizer.from_backbone(
        backbone,
        result.centroids,
        result.mean,
        result.std,
        average_frames=average_frames,
        chunk_seconds=chunk_seconds,
        backbone_weights=None if inline else _reference(backbone.weights_source),
    )


def _reference(source: str) -> str:
    """Local directories are recorded as absolute paths; repo ids as they are."""
    return str(Path(source).resolve()) if os.path.isdir(source) else source


def _feature_stream(
    items: Iterable[AudioItem],
    backbone: SemanticBackbone,
    average_frames: int,
    chunk_seconds: float,
    on_error: str,
    report: FitReport,
) -> Iterator[np.ndarray]:
    for i, item in enumerate(items):
        name = str(item) if isinstance(item, (str, os.PathLike)) else f"input {i}"
        try:
            if isinstance(item, (str, os.PathLike)):
                wav, sr = read_audio(item, sample_rate=backbone.sample_rate, channels=1)
            elif isinstance(item, tuple):
                wav, sr = item
            else:
                wav, sr = item, None
            wav = prepare_waveform(wav, sr, backbone.sample_rate)
            for j, feats in enumerate(iter_features(backbone, wav, chunk_seconds, average_frames)):
                report.files_used += j == 0
                yield feats.cpu().numpy()  # [t, D]
        except MediaError as e:
            if on_error == "raise":
                raise
            report.skipped.append(f"{name}: {e}" if name not in str(e) else str(e))
