"""Codec training losses: multi-scale mel/STFT reconstruction, hinge adversarial, feature matching.

They are plain modules and functions of tensors, so any training loop can use them;
`v2meow.training.codec` is the one this package ships.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from v2meow.signal import dsp


def mel_filterbank(
    sample_rate: int, n_fft: int, n_mels: int, f_min: float = 0.0, f_max: float | None = None
) -> torch.Tensor:
    """Triangular mel filters (HTK scale, unit peak) from `v2meow.signal.dsp.mel_filterbank`, `[n_mels, n_fft // 2 + 1]` float32."""
    return torch.from_numpy(dsp.mel_filterbank(sample_rate, n_fft, n_mels, f_min, f_max).T.astype(np.float32))


def stft_magnitude(x: torch.Tensor, n_fft: int, hop_length: int) -> torch.Tensor:
    """`[B, C, N]` -> `[B, C, F, T']` STFT magnitude (Hann window, centred, float32)."""
    b, c, n = x.shape
    with torch.autocast(device_type=x.device.type, enabled=False):
        window = torch.hann_window(n_fft, device=x.device)
        spec = torch.stft(
            x.reshape(b * c, n).float(), n_fft, hop_length, window=window, center=True, return_complex=True
        )
    mag = spec.abs()  # [B * C, F, T']
    return mag.reshape(b, c, *mag.shape[-2:])


class MultiScaleMelLoss(nn.Module):
    """Spectral reconstruction loss over several STFT sizes (SoundStream's L_rec, normalised).

    Per scale s (window 2^i): `lin_weight * mean|M(x) - M(y)| + log_weight * mean|log(M(x) + eps) - log(M(y) + eps)|`,
    M a mel spectrogram of magnitudes (`n_mels=None`: the linear STFT magnitude). The
    result is the mean over scales, so it does not grow with their number.
    """

    def __init__(
        self,
        sample_rate: int,
        windows: Sequence[int] = (64, 128, 256, 512, 1024, 2048),
        n_mels: int | None = 64,
        lin_weight: float = 1.0,
        log_weight: float = 1.0,
        eps: float = 1e-5,
    ):
        super().__init__()
        self.windows = tuple(int(w) for w in windows)
        self.lin_weight, self.log_weight, self.eps = lin_weight, log_weight, eps
        self.use_mel = n_mels is not None
        for w in self.windows:
            if self.use_mel:  # no more filters than about a quarter of the bins, or most would be empty
                fb = mel_filterbank(sample_rate, w, max(8, min(n_mels, w // 4)))
            else:
                fb = torch.empty(0)
            self.register_buffer(f"fb_{w}", fb, persistent=False)

    def spectrogram(self, x: torch.Tensor, window: int) -> torch.Tensor:
        """`[B, C, N]` -> `[B, C, M, T']` mel (or linear) magnitude at one scale."""
        mag = stft_magnitude(x, window, window // 4)  # [B, C, F, T']
        if self.use_mel:
            mag = torch.einsum("mf,bcft->bcmt", getattr(self, f"fb_{window}"), mag)
        return mag

    def forward(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Loss of reconstruction `y` against target `x`, both `[B, C, N]`; a scalar."""
        total = y.new_zeros((), dtype=torch.float32)
        for w in self.windows:
            sy, sx = self.spectrogram(y, w), self.spectrogram(x, w)
            lin = (sy - sx).abs().mean()
            log = (torch.log(sy + self.eps) - torch.log(sx + self.eps)).abs().mean()
            total = total + self.lin_weight * lin + self.log_weight * log
        return total / len(self.windows)


def default_windows(sample_rate: int, num_scales: int = 6) -> tuple[int, ...]:
    """STFT sizes 2^6 ... for 24 kHz (as SoundStream), scaled down for lower rates."""
    top = 2 ** round(math.log2(2048 * sample_rate / 24000))
    return tuple(top // 2**i for i in range(num_scales))[::-1]


def hinge_discriminator_loss(real_logits: Sequence[torch.Tensor], fake_logits: Sequence[torch.Tensor]) -> torch.Tensor:
    """`mean relu(1 - D(x)) + mean relu(1 + D(G(x)))`, averaged over discriminators."""
    losses = [F.relu(1 - r).mean() + F.relu(1 + f).mean() for r, f in zip(real_logits, fake_logits, strict=True)]
    return torch.stack(losses).mean()


def hinge_generator_loss(fake_logits: Sequence[torch.Tensor]) -> torch.Tensor:
    """`mean relu(1 - D(G(x)))`, averaged over discriminators."""
    return torch.stack([F.relu(1 - f).mean() for f in fake_logits]).mean()


def feature_matching_loss(
    real_features: Sequence[Sequence[torch.Tensor]], fake_features: Sequence[Sequence[torch.Tensor]]
) -> torch.Tensor:
    """Relative L1 between discriminator activations on real and generated audio.

    For every layer: `mean|f_real - f_fake| / mean|f_real|` (real activations detached),
    averaged over layers and discriminators.
    """
    terms = []
    for reals, fakes in zip(real_features, fake_features, strict=True):
        for r, f in zip(reals, fakes, strict=True):
            r = r.detach()
            terms.append((r - f).abs().mean() / (r.abs().mean() + 1e-8))
    return torch.stack(terms).mean()
