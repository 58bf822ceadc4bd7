"""Multi-scale STFT discriminator (as in EnCodec): 2-D convs over complex spectrograms.

Each sub-discriminator looks at the real and imaginary parts of one STFT size, laid
out as a `[B, 2C, T', F]` image, and returns a map of logits plus its hidden
activations (for the feature-matching loss). Used only in training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm


@dataclass
class DiscriminatorConfig:
    """Multi-scale STFT discriminator settings (a training-time part, not in the codec component)."""

    filters: int = 32
    max_filters: int = 256
    n_ffts: tuple[int, ...] = (2048, 1024, 512)
    dilations: tuple[int, ...] = (1, 2, 4)  # time dilation of the strided layers
    negative_slope: float = 0.2

    def __post_init__(self) -> None:
        self.n_ffts = tuple(int(n) for n in self.n_ffts)
        self.dilations = tuple(int(d) for d in self.dilations)


class STFTDiscriminator(nn.Module):
    """One STFT size: `[B, C, N]` -> logits `[B, 1, T', F']` and hidden activations."""

    def __init__(self, channels: int, n_fft: int, filters: int = 32, max_filters: int = 256,
                 dilations: Sequence[int] = (1, 2, 4), negative_slope: float = 0.2):  # fmt: skip
        super().__init__()
        self.n_fft, self.hop_length = n_fft, n_fft // 4
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        widths = [min(filters * 2**i, max_filters) for i in range(len(dilations) + 1)]
        convs = [weight_norm(nn.Conv2d(2 * channels, widths[0], (3, 9), padding=(1, 4)))]
        for i, d in enumerate(dilations):
            convs.append(weight_norm(nn.Conv2d(widths[i], widths[i + 1], (3, 9), stride=(1, 2), dilation=(d, 1), padding=(d, 4))))
        convs.append(weight_norm(nn.Conv2d(widths[-1], widths[-1], (3, 3), padding=(1, 1))))
        self.convs = nn.ModuleList(convs)
        self.post = weight_norm(nn.Conv2d(widths[-1], 1, (3, 3), padding=(1, 1)))
        self.act = nn.LeakyReLU(negative_slope)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        b, c, n = x.shape
        with torch.autocast(device_type=x.device.type, enabled=False):
            spec = torch.stft(x.reshape(b * c, n).float(), self.n_fft, self.hop_length, window=self.window,
                              center=True, return_complex=True)  # [B * C, F, T']  # fmt: skip
        spec = spec.reshape(b, c, *spec.shape[-2:])
        h = torch.cat([spec.real, spec.imag], dim=1).transpose(-1, -2)  # [B, 2C, T', F]
        features = []
        for conv in self.convs:
            h = self.act(conv(h))
            features.append(h)
        return self.post(h), features  # [B, 1, T', F'], list of [B, ch, T', F_i]


class MultiScaleSTFTDiscriminator(nn.Module):
    """A set of `STFTDiscriminator`s, one per STFT size."""

    def __init__(self, channels: int = 1, config: DiscriminatorConfig | None = None):
        super().__init__()
        config = config or DiscriminatorConfig()
        self.config = config
        self.discriminators = nn.ModuleList(
            STFTDiscriminator(channels, n, config.filters, config.max_filters, config.dilations, config.negative_slope)
            for n in config.n_ffts
        )

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        """`[B, C, N]` -> (logits per discriminator, activations per discriminator)."""
        logits, features = [], []
        for d in self.discriminators:
            lg, ft = d(x)
            logits.append(lg)
            features.append(ft)
        return logits, features


__all__ = ["DiscriminatorConfig", "MultiScaleSTFTDiscriminator", "STFTDiscriminator"]
