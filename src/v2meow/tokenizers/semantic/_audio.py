"""Input checks shared by the semantic tokenizer: typed audio errors, mono + resample, atomic dirs."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from v2meow.errors import MediaError, OutputError
from v2meow.media import resample


class BadAudioError(MediaError, ValueError):
    """A waveform cannot be tokenized: NaN/inf samples, wrong shape, or no sample rate."""


class AudioTooShortError(BadAudioError):
    """The waveform is shorter than one token frame."""


def prepare_waveform(wav: torch.Tensor | np.ndarray, sample_rate: int | None, target_rate: int) -> torch.Tensor:
    """Check, downmix and resample a waveform for a backbone.

    Args:
        wav: `[N]` mono or `[C, N]` multi-channel audio (channels are averaged); float, or
            int16/int32 PCM (scaled to [-1, 1]).
        sample_rate: rate of `wav`; None means it is already at `target_rate`.
        target_rate: the backbone's rate; other rates are resampled with soxr.

    Returns:
        `[N']` float32 mono at `target_rate`.

    Raises:
        BadAudioError: NaN/inf samples, more than 2 dims, or a non-positive rate.
    """
    wav = torch.as_tensor(wav).detach().cpu()
    if wav.dtype in (torch.int16, torch.int32):  # PCM integers -> [-1, 1]
        wav = wav.float() / (32768.0 if wav.dtype == torch.int16 else 2147483648.0)
    if not wav.is_floating_point():
        raise BadAudioError(f"audio must be float or int16/int32 PCM samples, got dtype {wav.dtype}")
    wav = wav.float()
    if wav.dim() == 2:
        if wav.shape[0] > 8 and wav.shape[1] <= 8:
            raise BadAudioError(f"audio of shape {tuple(wav.shape)} looks like [N, C]; pass [C, N]")
        wav = wav.mean(0)  # [C, N] -> [N]
    if wav.dim() != 1:
        raise BadAudioError(f"expected audio [N] or [C, N], got shape {tuple(wav.shape)}")
    if not torch.isfinite(wav).all():
        bad = int((~torch.isfinite(wav)).sum())
        raise BadAudioError(f"audio contains {bad} NaN or inf sample(s); clean or clip it before tokenizing")
    if sample_rate is not None:
        if not sample_rate or sample_rate <= 0:
            raise BadAudioError(f"sample rate must be positive, got {sample_rate}")
        if int(sample_rate) != target_rate and wav.numel():
            out = resample(wav[None].numpy(), int(sample_rate), target_rate)  # [1, N']
            wav = torch.from_numpy(out[0])
    return wav.contiguous()


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary directory next to `path`; move it onto `path` only if the block succeeds.

    Args:
        path: the directory to create.
        overwrite: replace an existing non-empty `path` (it is removed only after the new
            one is complete). Without it, an existing non-empty directory is an `OutputError`.
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{path}: cannot write, directory {parent} does not exist")
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path}: exists and is not a directory")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise OutputError(f"{path}: directory exists and is not empty (choose another --out or pass --overwrite)")
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent))
    except OSError as e:
        raise OutputError(f"{path}: cannot write ({e.strerror})") from None
    try:
        yield tmp
        if path.is_dir():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
