"""Convolutional building blocks of the SoundStream encoder and decoder.

Every convolution pads so that a length-L input gives exactly L / stride outputs (L a
multiple of the stride), and every transposed convolution gives exactly L * stride.
With `causal=True` all padding goes on the left (no output depends on a later input
sample), which is what a streaming codec needs; otherwise it is split between sides.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm


def _norm(module: nn.Module, norm: str) -> nn.Module:
    if norm == "weight_norm":
        return weight_norm(module)
    if norm == "none":
        return module
    raise ValueError(f"unknown norm '{norm}' (weight_norm or none)")


class Conv1d(nn.Module):
    """1-D convolution with length-exact padding (causal or centred)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        dilation: int = 1,
        causal: bool = False,
        pad_mode: str = "constant",
        norm: str = "weight_norm",
    ):
        super().__init__()
        self.conv = _norm(nn.Conv1d(in_channels, out_channels, kernel_size, stride=stride, dilation=dilation), norm)
        self.causal = causal
        self.pad_mode = pad_mode
        self.padding = (kernel_size - 1) * dilation + 1 - stride  # total: L_out = L / stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C_in, L] -> [B, C_out, L / stride]
        left = self.padding if self.causal else self.padding // 2
        right = self.padding - left
        mode = self.pad_mode if x.shape[-1] > max(left, right) else "constant"  # reflect needs L > pad
        return self.conv(F.pad(x, (left, right), mode=mode))


class ConvTranspose1d(nn.Module):
    """Transposed 1-D convolution trimmed to exactly L * stride outputs."""

    def __init__(
        self, in_channels: int, out_channels: int, stride: int, causal: bool = False, norm: str = "weight_norm"
    ):
        super().__init__()
        kernel_size = 2 * stride
        self.conv = _norm(nn.ConvTranspose1d(in_channels, out_channels, kernel_size, stride=stride), norm)
        self.causal = causal
        self.trim = kernel_size - stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C_in, L] -> [B, C_out, L * stride]
        y = self.conv(x)  # [B, C_out, L * stride + trim]
        left = 0 if self.causal else self.trim // 2
        return y[..., left : y.shape[-1] - (self.trim - left)]


class ResidualUnit(nn.Module):
    """ELU -> dilated conv (k=7) -> ELU -> 1x1 conv, plus the input."""

    def __init__(self, channels: int, dilation: int, kernel_size: int = 7, **conv_kw):
        super().__init__()
        self.block = nn.Sequential(
            nn.ELU(),
            Conv1d(channels, channels, kernel_size, dilation=dilation, **conv_kw),
            nn.ELU(),
            Conv1d(channels, channels, 1, **conv_kw),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, L]
        return x + self.block(x)


class EncoderBlock(nn.Sequential):
    """Residual units at `in_channels`, then a strided conv down to `out_channels`."""

    def __init__(
        self, in_channels: int, out_channels: int, stride: int, dilations: Sequence[int], kernel_size: int, **conv_kw
    ):
        super().__init__(
            *[ResidualUnit(in_channels, d, kernel_size, **conv_kw) for d in dilations],
            nn.ELU(),
            Conv1d(in_channels, out_channels, 2 * stride, stride=stride, **conv_kw),
        )


class DecoderBlock(nn.Sequential):
    """A transposed conv up by `stride` to `out_channels`, then residual units."""

    def __init__(
        self, in_channels: int, out_channels: int, stride: int, dilations: Sequence[int], kernel_size: int, **conv_kw
    ):
        up_kw = {k: v for k, v in conv_kw.items() if k in ("causal", "norm")}
        super().__init__(
            nn.ELU(),
            ConvTranspose1d(in_channels, out_channels, stride, **up_kw),
            *[ResidualUnit(out_channels, d, kernel_size, **conv_kw) for d in dilations],
        )


def block_channels(base_channels: int, channel_mults: Sequence[int]) -> list[int]:
    """Channel widths at each resolution: `[C, C * m_1, ..., C * m_n]`."""
    return [base_channels] + [base_channels * m for m in channel_mults]


class Encoder(nn.Sequential):
    """Waveform `[B, channels, L]` -> latent `[B, latent_dim, L / prod(strides)]`."""

    def __init__(
        self,
        channels: int,
        base_channels: int,
        channel_mults: Sequence[int],
        strides: Sequence[int],
        latent_dim: int,
        dilations: Sequence[int] = (1, 3, 9),
        kernel_size: int = 7,
        **conv_kw,
    ):
        widths = block_channels(base_channels, channel_mults)
        layers: list[nn.Module] = [Conv1d(channels, widths[0], kernel_size, **conv_kw)]
        for i, stride in enumerate(strides):
            layers.append(EncoderBlock(widths[i], widths[i + 1], stride, dilations, kernel_size, **conv_kw))
        layers += [nn.ELU(), Conv1d(widths[-1], latent_dim, 3, **conv_kw)]
        super().__init__(*layers)


class Decoder(nn.Sequential):
    """Latent `[B, latent_dim, T]` -> waveform `[B, channels, T * prod(strides)]`."""

    def __init__(
        self,
        channels: int,
        base_channels: int,
        channel_mults: Sequence[int],
        strides: Sequence[int],
        latent_dim: int,
        dilations: Sequence[int] = (1, 3, 9),
        kernel_size: int = 7,
        **conv_kw,
    ):
        widths = block_channels(base_channels, channel_mults)[::-1]  # widest first
        layers: list[nn.Module] = [Conv1d(latent_dim, widths[0], kernel_size, **conv_kw)]
        for i, stride in enumerate(reversed(strides)):
            layers.append(DecoderBlock(widths[i], widths[i + 1], stride, dilations, kernel_size, **conv_kw))
        layers += [nn.ELU(), Conv1d(widths[-1], channels, kernel_size, **conv_kw)]
        super().__init__(*layers)
