"""Input checks shared by the semantic tokenizer: typed audio errors, mono + resample, atomic dirs."""

from __future__ import annotations

import numpy as np
import torch

from v2meow.errors import MediaError
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
