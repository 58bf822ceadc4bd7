"""Codec discriminators (training only): each returns logits and hidden activations.

- `kind: msstft` (EnCodec): 2-D convs over the real and imaginary parts of complex
  spectrograms at several STFT sizes, laid out as `[B, 2C, T', F]` images;
- `kind: mpd_mrd` (HiFi-GAN + Vocos/UnivNet): a multi-period discriminator (the waveform
  folded into `[B, C, N / p, p]` for each period p, 2-D convs along time) plus a
  multi-resolution discriminator (2-D convs over log-magnitude spectrograms).

Every discriminator gives a list of logit maps and, per map, its hidden activations (for
the feature-matching loss). `build_discriminator(channels, config)` picks the kind.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm


@dataclass
class DiscriminatorConfig:
    """Multi-scale STFT discriminator settings (a training-time part, not in the codec component)."""

    kind: str = "msstft"  # msstft | mpd_mrd
    filters: int = 32  # first-layer width (msstft and the mpd_mrd resolution discriminator)
    max_filters: int = 256
    n_ffts: tuple[int, ...] = (2048, 1024, 512)
    dilations: tuple[int, ...] = (1, 2, 4)  # time dilation of the strided layers
    negative_slope: float = 0.2
    periods: tuple[int, ...] = (2, 3, 5, 7, 11)  # mpd_mrd: multi-period discriminator
    period_channels: tuple[int, ...] = (16, 32, 64, 128)  # mpd_mrd: widths of the strided period convs

    def __post_init__(self) -> None:
        from v2meow.errors import ConfigError

        self.n_ffts = tuple(int(n) for n in self.n_ffts)
        self.dilations = tuple(int(d) for d in self.dilations)
        self.periods = tuple(int(p) for p in self.periods)
        self.period_channels = tuple(int(c) for c in self.period_channels)
        if self.kind not in ("msstft", "mpd_mrd"):
            raise ConfigError(f"discriminator kind must be msstft or mpd_mrd, got '{self.kind}'")
        if min(self.n_ffts + self.periods + self.period_channels + (self.filters,), default=1) <= 0:
            raise ConfigError("discriminator: n_ffts, periods, period_channels and filters must be positive")


class DiscriminatorSet(nn.Module):
    """Several discriminators over the same audio; subclasses fill `self.discriminators`."""

    discriminators: nn.ModuleList

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        """`[B, C, N]` -> (logits per discriminator, activations per discriminator)."""
        logits, features = [], []
        for d in self.discriminators:
            lg, ft = d(x)
            logits.append(lg)
            features.append(ft)
        return logits, features


def _stft(x: torch.Tensor, n_fft: int, hop: int, window: torch.Tensor) -> torch.Tensor:
    """`[B, C, N]` -> complex `[B, C, F, T']` (float32, centred frames)."""
    b, c, n = x.shape
    spec = torch.stft(x.reshape(b * c, n).float(), n_fft, hop, window=window, center=True, return_complex=True)
    return spec.reshape(b, c, *spec.shape[-2:])


def _conv_features(disc: nn.Module, h: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Run a discriminator's `convs` (each followed by `act`) and `post`: logits and every conv's output."""
    features = []
    for conv in disc.convs:
        h = disc.act(conv(h))
        features.append(h)
    return disc.post(h), features


class STFTDiscriminator(nn.Module):
    """One STFT size: `[B, C, N]` -> logits `[B, 1, T', F']` and hidden activations."""

    def __init__(
        self,
        channels: int,
        n_fft: int,
        filters: int = 32,
        max_filters: int = 256,
        dilations: Sequence[int] = (1, 2, 4),
        negative_slope: float = 0.2,
    ):
        super().__init__()
        self.n_fft, self.hop_length = n_fft, n_fft // 4
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        widths = [min(filters * 2**i, max_filters) for i in range(len(dilations) + 1)]
        convs = [weight_norm(nn.Conv2d(2 * channels, widths[0], (3, 9), padding=(1, 4)))]
        for i, d in enumerate(dilations):
            convs.append(
                weight_norm(nn.Conv2d(widths[i], widths[i + 1], (3, 9), stride=(1, 2), dilation=(d, 1), padding=(d, 4)))
            )
        convs.append(weight_norm(nn.Conv2d(widths[-1], widths[-1], (3, 3), padding=(1, 1))))
        self.convs = nn.ModuleList(convs)
        self.post = weight_norm(nn.Conv2d(widths[-1], 1, (3, 3), padding=(1, 1)))
        self.act = nn.LeakyReLU(negative_slope)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        with torch.autocast(device_type=x.device.type, enabled=False):
            spec = _stft(x, self.n_fft, self.hop_length, self.window)  # [B, C, F, T']
        h = torch.cat([spec.real, spec.imag], dim=1).transpose(-1, -2)  # [B, 2C, T', F]
        return _conv_features(self, h)  # [B, 1, T', F'], list of [B, ch, T', F_i]


class MultiScaleSTFTDiscriminator(DiscriminatorSet):
    """A set of `STFTDiscriminator`s, one per STFT size."""

    def __init__(self, channels: int = 1, config: DiscriminatorConfig | None = None):
        super().__init__()
        config = config or DiscriminatorConfig()
        self.config = config
        self.discriminators = nn.ModuleList(
            STFTDiscriminator(channels, n, config.filters, config.max_filters, config.dilations, config.negative_slope)
            for n in config.n_ffts
        )


class PeriodDiscriminator(nn.Module):
    """HiFi-GAN's period discriminator: `[B, C, N]` folded to `[B, C, N / p, p]`, convs along time."""

    def __init__(self, channels: int, period: int, widths: Sequence[int], negative_slope: float = 0.2):
        super().__init__()
        self.period = period
        dims = [channels, *widths]
        convs = [
            weight_norm(nn.Conv2d(dims[i], dims[i + 1], (5, 1), stride=(3, 1), padding=(2, 0)))
            for i in range(len(widths))
        ]
        convs.append(weight_norm(nn.Conv2d(dims[-1], dims[-1], (5, 1), padding=(2, 0))))
        self.convs = nn.ModuleList(convs)
        self.post = weight_norm(nn.Conv2d(dims[-1], 1, (3, 1), padding=(1, 0)))
        self.act = nn.LeakyReLU(negative_slope)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        b, c, n = x.shape
        pad = (-n) % self.period
        if pad:
            x = F.pad(x, (0, pad), mode="reflect" if n > pad else "constant")
        h = x.reshape(b, c, -1, self.period)  # [B, C, N / p, p]
        return _conv_features(self, h)  # [B, 1, N', p]


class ResolutionDiscriminator(nn.Module):
    """Vocos/UnivNet resolution discriminator: 2-D convs over a log-magnitude spectrogram `[B, C, T', F]`."""

    def __init__(self, channels: int, n_fft: int, filters: int = 16, negative_slope: float = 0.2):
        super().__init__()
        self.n_fft, self.hop_length = n_fft, n_fft // 4
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.convs = nn.ModuleList(
            [
                weight_norm(nn.Conv2d(channels, filters, (5, 5), stride=(1, 2), padding=(2, 2))),
                weight_norm(nn.Conv2d(filters, filters, (5, 3), stride=(1, 2), padding=(2, 1))),
                weight_norm(nn.Conv2d(filters, filters, (3, 3), stride=(1, 2), padding=(1, 1))),
                weight_norm(nn.Conv2d(filters, filters, (3, 3), padding=(1, 1))),
            ]
        )
        self.post = weight_norm(nn.Conv2d(filters, 1, (3, 3), padding=(1, 1)))
        self.act = nn.LeakyReLU(negative_slope)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        with torch.autocast(device_type=x.device.type, enabled=False):
            spec = _stft(x, self.n_fft, self.hop_length, self.window)  # [B, C, F, T']
            h = torch.log(spec.abs().clamp(min=1e-5)).transpose(-1, -2)  # [B, C, T', F]
        return _conv_features(self, h)  # [B, 1, T', F']


class MultiPeriodResolutionDiscriminator(DiscriminatorSet):
    """Period discriminators (one per period) and resolution discriminators (one per STFT size)."""

    def __init__(self, channels: int = 1, config: DiscriminatorConfig | None = None):
        super().__init__()
        config = config or DiscriminatorConfig(kind="mpd_mrd")
        self.config = config
        self.discriminators = nn.ModuleList(
            [PeriodDiscriminator(channels, p, config.period_channels, config.negative_slope) for p in config.periods]
            + [ResolutionDiscriminator(channels, n, config.filters, config.negative_slope) for n in config.n_ffts]
        )


def build_discriminator(channels: int, config: DiscriminatorConfig) -> nn.Module:
    """The discriminator `config.kind` names."""
    if config.kind == "mpd_mrd":
        return MultiPeriodResolutionDiscriminator(channels, config)
    return MultiScaleSTFTDiscriminator(channels, config)


__all__ = [
    "DiscriminatorConfig",
    "MultiPeriodResolutionDiscriminator",
    "MultiScaleSTFTDiscriminator",
    "PeriodDiscriminator",
    "ResolutionDiscriminator",
    "STFTDiscriminator",
    "build_discriminator",
]
