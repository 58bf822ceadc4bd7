"""SoundStream (Zeghidour et al. 2021): conv encoder -> residual VQ -> conv decoder.

The model is the codec component only: training losses and the discriminator live in
`losses.py` / `discriminator.py`, the training loop in `v2meow.training.codec`.

    codec = SoundStream(SoundStreamConfig.from_preset("small"))
    codes = codec.encode(wav, sample_rate=44100)   # [K, T] for [C, N] input
    audio = codec.decode(codes)                    # [C, T * hop_length]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from v2meow.components import ComponentConfig, build_dataclass
from v2meow.errors import ConfigError, UnknownComponentError
from v2meow.tokenizers.acoustic import rvq
from v2meow.tokenizers.acoustic.base import AcousticCodec
from v2meow.tokenizers.acoustic.modules import Decoder, Encoder
from v2meow.tokenizers.acoustic.rvq import SoundStreamOutput  # noqa: F401  (re-exported)

_TUPLE_FIELDS = ("channel_mults", "strides", "dilations")


@dataclass
class SoundStreamConfig(ComponentConfig):
    """Architecture of a SoundStream codec (every field is saved in `config.json`).

    `hop_length = prod(strides)` samples per frame; e.g. strides (2, 4, 5, 8) at 24 kHz
    give 320 samples -> 75 frames per second.
    """

    model_type = "soundstream"
    format_version = 1

    sample_rate: int = 24000
    channels: int = 1  # audio channels
    base_channels: int = 16  # C: width of the first conv; block i has C * channel_mults[i]
    channel_mults: tuple[int, ...] = (2, 4, 8, 8)
    strides: tuple[int, ...] = (2, 4, 5, 8)
    latent_dim: int = 128  # D: encoder output / quantizer input width
    dilations: tuple[int, ...] = (1, 3, 9)  # residual units per block
    kernel_size: int = 7
    causal: bool = False  # all padding on the left (streaming-friendly)
    pad_mode: str = "constant"  # constant | reflect | replicate
    norm: str = "weight_norm"  # weight_norm | none
    num_quantizers: int = 8  # K
    codebook_size: int = 1024
    codebook_dim: int | None = None  # None: quantize at latent_dim; else project in/out
    num_coarse: int = 3  # N_c; N_f = K - N_c
    ema_decay: float = 0.99  # EMA codebook update
    kmeans_init: bool = True  # initialise codebooks with k-means on the first batch
    kmeans_iters: int = 10
    threshold_ema_dead_code: float = 2.0  # replace codes used less than this (EMA count)
    commitment_weight: float = 1.0
    quantizer_dropout: bool = True  # train on a random number of codebooks per step
    rotation_trick: bool = False  # False: straight-through gradients to the encoder

    def __post_init__(self) -> None:
        for name in _TUPLE_FIELDS:
            setattr(self, name, tuple(int(v) for v in getattr(self, name)))
        problems = []
        if len(self.channel_mults) != len(self.strides):
            problems.append(f"channel_mults {self.channel_mults} and strides {self.strides} differ in length")
        if self.channels not in (1, 2):
            problems.append(f"channels must be 1 or 2, got {self.channels}")
        positive = ("sample_rate", "base_channels", "latent_dim", "kernel_size", "num_quantizers", "codebook_size")
        problems += [f"{n} must be positive, got {getattr(self, n)}" for n in positive if getattr(self, n) <= 0]
        problems += [f"{n} must be positive, got {v}" for n in _TUPLE_FIELDS for v in getattr(self, n) if v <= 0]
        if not 1 <= self.num_coarse <= self.num_quantizers:
            problems.append(f"num_coarse must be in [1, num_quantizers={self.num_quantizers}], got {self.num_coarse}")
        if self.pad_mode not in ("constant", "reflect", "replicate"):
            problems.append(f"pad_mode must be constant, reflect or replicate, got '{self.pad_mode}'")
        if self.norm not in ("weight_norm", "none"):
            problems.append(f"norm must be weight_norm or none, got '{self.norm}'")
        if not 0.0 < self.ema_decay < 1.0:
            problems.append(f"ema_decay must be in (0, 1), got {self.ema_decay}")
        if problems:
            raise ConfigError("soundstream config: " + "; ".join(problems))

    @property
    def hop_length(self) -> int:
        return math.prod(self.strides)

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop_length

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> SoundStreamConfig:
        """A named architecture (`list_presets()`), with fields overridden by keyword."""
        if name not in PRESETS:
            raise UnknownComponentError(f"unknown soundstream preset '{name}' (known: {', '.join(PRESETS)})")
        return build_dataclass(cls, {**PRESETS[name], **overrides}, "soundstream")


PRESETS: dict[str, dict[str, Any]] = {
    # Tests and CPU smoke runs: 16 kHz, 50 fps, 4 x 64 codes, ~0.1 M parameters.
    "debug": dict(
        sample_rate=16000,
        base_channels=8,
        channel_mults=(1, 2, 2, 4),
        strides=(2, 4, 5, 8),
        latent_dim=32,
        dilations=(1, 3),
        num_quantizers=4,
        codebook_size=64,
        num_coarse=2,
        ema_decay=0.8,
        threshold_ema_dead_code=0.0,
    ),
    # Demo-bundle size, trainable on CPU: 24 kHz, 75 fps, 8 x 1024 codes, ~2 M parameters.
    "small": dict(
        sample_rate=24000,
        base_channels=16,
        channel_mults=(2, 4, 8, 8),
        strides=(2, 4, 5, 8),
        latent_dim=128,
        num_quantizers=8,
        codebook_size=1024,
        num_coarse=3,
    ),
    # MusicLM/V2Meow-like SoundStream: 24 kHz, 50 fps (hop 480), 12 x 1024 codes (6 kbps), N_c = 4.
    "paper": dict(
        sample_rate=24000,
        base_channels=32,
        channel_mults=(2, 4, 8, 16),
        strides=(3, 4, 5, 8),
        latent_dim=512,
        num_quantizers=12,
        codebook_size=1024,
        num_coarse=4,
    ),
}


def list_presets() -> list[str]:
    """Names accepted by `SoundStreamConfig.from_preset` / `SoundStream.from_preset`."""
    return list(PRESETS)


class SoundStream(rvq.RVQCodecFields, AcousticCodec):
    """Trainable SoundStream codec: `encode`/`decode` for tokens, `forward` for training."""

    config_class = SoundStreamConfig
    config: SoundStreamConfig

    def __init__(self, config: SoundStreamConfig, *, trainable: bool = True):
        super().__init__(config)
        c = config
        conv_kw = dict(causal=c.causal, pad_mode=c.pad_mode, norm=c.norm)
        arch = dict(
            channels=c.channels,
            base_channels=c.base_channels,
            channel_mults=c.channel_mults,
            strides=c.strides,
            latent_dim=c.latent_dim,
            dilations=c.dilations,
            kernel_size=c.kernel_size,
        )
        self.encoder = Encoder(**arch, **conv_kw)
        self.quantizer = rvq.build_rvq(c.latent_dim, c, trainable)  # trainable=False: a lookup (`load_codec`)
        self.decoder = Decoder(**arch, **conv_kw)

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> SoundStream:
        """A randomly initialised codec with a named architecture (see `list_presets()`)."""
        return cls(SoundStreamConfig.from_preset(name, **overrides))

    def _encode(self, wav: torch.Tensor) -> torch.Tensor:
        z = self.encoder(wav).transpose(1, 2)  # [B, T, D]
        return self.quantize(z).transpose(1, 2)  # [B, K, T]

    def _decode(self, codes: torch.Tensor) -> torch.Tensor:
        q = self.dequantize(codes.transpose(1, 2))  # [B, T, D]
        return self.decoder(q.transpose(1, 2))  # [B, C, T * hop]

    # --- quantizer, without training side effects ---------------------------------------
    def quantize(self, z: torch.Tensor) -> torch.Tensor:
        """Nearest-code residual quantization, `[B, T, D]` -> `[B, T, K]` long (no training side effects)."""
        return rvq.quantize(self.quantizer, z)

    def dequantize(self, indices: torch.Tensor) -> torch.Tensor:
        """Sum of the codebook vectors of the given (leading) levels, `[B, T, K']` -> `[B, T, D]`."""
        return rvq.dequantize(self.quantizer, indices)
