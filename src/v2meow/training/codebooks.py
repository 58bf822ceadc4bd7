"""Residual k-means codebooks for a mel codec (`v2meow-codec fit-mel`).

A codec's own k-means init (vector-quantize-pytorch) clusters the first training batch only
(a few hundred frames for 256 codes); fitted on every frame of the training music instead, the
same 6 x 256 budget keeps more of the harmony (docs/codec.md). Level k clusters what levels
0..k-1 left over.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch

from v2meow import media
from v2meow.errors import ConfigError
from v2meow.tokenizers.acoustic import rvq
from v2meow.tokenizers.acoustic.vocos import VocosCodec
from v2meow.training.audio_data import scan_audio

log = logging.getLogger(__name__)


def mel_frames(codec: VocosCodec, files: Iterable[str], progress: Callable = iter) -> np.ndarray:
    """The codec's encoder frames of every file, `[N, n_mels]` float32."""
    out = []
    for path in progress(list(files)):
        wav, _ = media.read_audio(path, sample_rate=codec.sample_rate, channels=codec.channels)  # [C, N]
        with torch.no_grad():
            out.append(codec.encoder(wav[None])[0].T.numpy())  # [T, n_mels]
    return np.concatenate(out).astype(np.float32)


def fit_residual_codebooks(
    frames: np.ndarray, levels: int, size: int, seed: int = 0, max_frames: int = 200_000
) -> torch.Tensor:
    """`frames` `[N, D]` -> codebooks `[levels, size, D]` by residual mini-batch k-means."""
    from sklearn.cluster import MiniBatchKMeans

    if len(frames) < size:
        raise ConfigError(f"fit-mel: {len(frames)} frames are too few for {size} codes per level")
    rng = np.random.default_rng(seed)
    x = frames[rng.choice(len(frames), min(max_frames, len(frames)), replace=False)].astype(np.float64)  # [N', D]
    books = []
    for level in range(levels):
        km = MiniBatchKMeans(size, random_state=seed + level, batch_size=4096, n_init=3, max_iter=100).fit(x)
        centres = km.cluster_centers_  # [V, D]
        x = x - centres[km.predict(x)]
        books.append(torch.from_numpy(centres).float())
        log.info("fit-mel: level %d, residual RMS %.4f", level, float(np.sqrt((x**2).mean())))
    return torch.stack(books)  # [K, V, D]


def fit_mel_codec(
    codec: VocosCodec, audio_dir: str | Path, seed: int = 0, max_frames: int = 200_000, progress: Callable = iter
) -> VocosCodec:
    """Fit `codec`'s codebooks (mel encoder) on the audio under `audio_dir`, in place."""
    if codec.config.encoder != "mel":
        raise ConfigError(f"fit-mel needs a codec with encoder 'mel', got '{codec.config.encoder}'")
    files = [p for p, _ in scan_audio(audio_dir)]
    frames = mel_frames(codec, files, progress)  # [N, n_mels]
    log.info("fit-mel: %d frames from %d files", len(frames), len(files))
    books = fit_residual_codebooks(frames, codec.num_codebooks, codec.codebook_size, seed, max_frames)
    rvq.set_codebooks(codec.quantizer, books)
    return codec
