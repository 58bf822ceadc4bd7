"""An iSTFT codec (Vocos-style decoder): encoder -> residual VQ -> ConvNeXt -> inverse STFT.

The decoder never upsamples with convolutions: a ConvNeXt backbone runs at the codec
frame rate and a linear head predicts, per frame, the log-magnitude and phase of one STFT
frame (`n_fft // 2 + 1` bins each); `torch.istft` turns them into `hop_length` samples
per frame. Two encoders:

- `encoder: conv`: SoundStream's strided convolutional encoder (learned);
- `encoder: melnet`: log-mel frames (`n_mels` bands) -> a small ConvNeXt -> `latent_dim`
  (learned, and much cheaper than a waveform encoder);
- `encoder: mel`: fixed log-mel frames (`n_mels` bands, one per codec frame), quantized
  directly: a "mel codec" whose decoder is a neural vocoder.

    codec = VocosCodec(VocosCodecConfig.from_preset("demo"))
    codes = codec.encode(wav, sample_rate=44100)   # [K, T]
    audio = codec.decode(codes)                    # [C, T * hop_length]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from v2meow.components import ComponentConfig, build_dataclass
from v2meow.errors import ConfigError, UnknownComponentError
from v2meow.signal.griffin_lim import griffin_lim
from v2meow.tokenizers.acoustic import rvq
from v2meow.tokenizers.acoustic.base import AcousticCodec
from v2meow.tokenizers.acoustic.losses import mel_filterbank
from v2meow.tokenizers.acoustic.modules import Encoder

_TUPLE_FIELDS = ("channel_mults", "strides", "dilations")
ENCODERS = ("conv", "melnet", "mel")
INVERSIONS = ("vocoder", "griffin_lim", "pghi")
MEL_INVERSIONS = ("griffin_lim", "pghi")  # weight-free: they need encoder mel


@dataclass
class VocosCodecConfig(ComponentConfig):
    """Architecture of an iSTFT codec (every field is saved in `config.json`)."""

    model_type = "vocos"
    format_version = 1

    sample_rate: int = 16000
    channels: int = 1
    hop_length: int = 320  # samples per codec frame (conv encoder: must equal prod(strides))
    encoder: str = "melnet"  # conv | melnet | mel
    # conv encoder (SoundStream's)
    base_channels: int = 16
    channel_mults: tuple[int, ...] = (1, 2, 4, 8)
    strides: tuple[int, ...] = (2, 4, 5, 8)
    dilations: tuple[int, ...] = (1, 3, 9)
    kernel_size: int = 7
    latent_dim: int = 64  # conv / melnet encoder output width (the mel encoder's is n_mels)
    # mel / melnet encoders
    n_mels: int = 80
    mel_n_fft: int = 1024
    encoder_layers: int = 2  # melnet: ConvNeXt blocks (width backbone_dim)
    # residual VQ
    num_quantizers: int = 6
    codebook_size: int = 256
    codebook_dim: int | None = None
    num_coarse: int = 2
    ema_decay: float = 0.95
    kmeans_init: bool = True
    kmeans_iters: int = 10
    threshold_ema_dead_code: float = 1.0
    commitment_weight: float = 1.0
    quantizer_dropout: bool = True
    rotation_trick: bool = False
    # decoder: ConvNeXt backbone + iSTFT head
    backbone_dim: int = 192
    backbone_intermediate: int = 576
    backbone_layers: int = 6
    n_fft: int | None = None  # None: 4 * hop_length
    # how codes become audio: the trained vocoder above, or (mel encoder only) the quantized
    # log-mel -> pseudo-inverse magnitude -> a phase, weight-free and deterministic: `griffin_lim`
    # (`griffin_lim_iters` fast Griffin-Lim iterations from a seeded random phase) or `pghi`
    # (phase-gradient heap integration, `signal.pghi`, then `pghi_iters` fast Griffin-Lim iterations)
    inversion: str = "vocoder"
    griffin_lim_iters: int = 32
    pghi_iters: int = 4
    # false: no vocoder weights at all (a weight-free mel codec; `inversion` must be griffin_lim or pghi)
    vocoder: bool = True

    def __post_init__(self) -> None:
        for name in _TUPLE_FIELDS:
            setattr(self, name, tuple(int(v) for v in getattr(self, name)))
        problems = []
        if self.encoder not in ENCODERS:
            problems.append(f"encoder must be one of {', '.join(ENCODERS)}, got '{self.encoder}'")
        if self.inversion not in INVERSIONS:
            problems.append(f"inversion must be one of {', '.join(INVERSIONS)}, got '{self.inversion}'")
        if self.inversion in MEL_INVERSIONS and self.encoder != "mel":
            problems.append(
                f"inversion {self.inversion} needs encoder mel (a mel spectrogram to invert), got '{self.encoder}'"
            )
        if self.inversion == "vocoder" and not self.vocoder:
            problems.append("inversion vocoder needs vocoder: true (this config has no vocoder weights)")
        problems += [
            f"{n} must be >= 0, got {getattr(self, n)}"
            for n in ("griffin_lim_iters", "pghi_iters")
            if getattr(self, n) < 0
        ]
        if self.channels not in (1, 2):
            problems.append(f"channels must be 1 or 2, got {self.channels}")
        positive = (
            "sample_rate",
            "hop_length",
            "base_channels",
            "latent_dim",
            "kernel_size",
            "n_mels",
            "mel_n_fft",
            "encoder_layers",
            "num_quantizers",
            "codebook_size",
            "backbone_dim",
            "backbone_intermediate",
            "backbone_layers",
        )
        problems += [f"{n} must be positive, got {getattr(self, n)}" for n in positive if getattr(self, n) <= 0]
        problems += [f"{n} must be positive, got {v}" for n in _TUPLE_FIELDS for v in getattr(self, n) if v <= 0]
        if len(self.channel_mults) != len(self.strides):
            problems.append(f"channel_mults {self.channel_mults} and strides {self.strides} differ in length")
        if self.encoder == "conv" and math.prod(self.strides) != self.hop_length:
            problems.append(f"prod(strides) = {math.prod(self.strides)} must equal hop_length {self.hop_length}")
        if not 1 <= self.num_coarse <= self.num_quantizers:
            problems.append(f"num_coarse must be in [1, num_quantizers={self.num_quantizers}], got {self.num_coarse}")
        if not 0.0 < self.ema_decay < 1.0:
            problems.append(f"ema_decay must be in (0, 1), got {self.ema_decay}")
        if self.n_fft is not None and self.n_fft < self.hop_length:
            problems.append(f"n_fft ({self.n_fft}) must be at least hop_length ({self.hop_length})")
        if problems:
            raise ConfigError("vocos config: " + "; ".join(problems))

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop_length

    @property
    def stft_size(self) -> int:
        return self.n_fft or 4 * self.hop_length

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> VocosCodecConfig:
        """A named architecture (`PRESETS`), with fields overridden by keyword."""
        if name not in PRESETS:
            raise UnknownComponentError(f"unknown vocos preset '{name}' (known: {', '.join(PRESETS)})")
        return build_dataclass(cls, {**PRESETS[name], **overrides}, "vocos")


PRESETS: dict[str, dict[str, Any]] = {
    # Tests: 16 kHz, 50 fps, 4 x 64 codes, ~0.1 M parameters.
    "debug": dict(
        base_channels=4,
        channel_mults=(1, 2, 2, 4),
        dilations=(1,),
        latent_dim=16,
        num_quantizers=4,
        codebook_size=64,
        ema_decay=0.8,
        threshold_ema_dead_code=0.0,
        backbone_dim=32,
        backbone_intermediate=64,
        backbone_layers=2,
        n_mels=32,
    ),
    # Demo bundle: 16 kHz, 50 fps, 6 x 256 codes (N_c = 2), ~2.3 M parameters (~9.3 MB, float32).
    "demo": dict(),
    # A weight-free mel codec with more frequency resolution and codes (docs/codec.md): 128 mel bands at
    # 16 kHz, 50 fps, 8 x 1024 codes (N_c = 3) fitted by `v2meow-codec fit-mel`, no vocoder weights (4.2 MB).
    # Newly built ones decode by PGHI + 4 Griffin-Lim iterations (docs/codec.md, "Phase reconstruction");
    # the shipped bundle's config.json says griffin_lim / 64 and keeps decoding as it did.
    "mel128": dict(
        encoder="mel",
        n_mels=128,
        num_quantizers=8,
        codebook_size=1024,
        num_coarse=3,
        inversion="pghi",
        pghi_iters=4,
        griffin_lim_iters=64,
        vocoder=False,
        kmeans_init=False,
    ),  # fmt: skip
}


class ConvNeXtBlock(nn.Module):
    """Depthwise conv (k=7) -> LayerNorm -> pointwise MLP (GELU) -> layer scale, plus the input."""

    def __init__(self, dim: int, intermediate: int, layer_scale: float):
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.pwconv1 = nn.Linear(dim, intermediate)
        self.pwconv2 = nn.Linear(intermediate, dim)
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, D, T]
        h = self.dwconv(x).transpose(1, 2)  # [B, T, D]
        h = self.pwconv2(F.gelu(self.pwconv1(self.norm(h))))
        return x + (self.gamma * h).transpose(1, 2)


class ISTFTDecoder(nn.Module):
    """Latent frames `[B, D_in, T]` -> waveform `[B, C, T * hop]` via ConvNeXt + inverse STFT."""

    def __init__(self, in_dim: int, channels: int, dim: int, intermediate: int, layers: int, n_fft: int, hop: int):
        super().__init__()
        self.channels, self.n_fft, self.hop = channels, n_fft, hop
        self.embed = nn.Conv1d(in_dim, dim, 7, padding=3)
        self.norm = nn.LayerNorm(dim)
        self.blocks = nn.ModuleList(ConvNeXtBlock(dim, intermediate, 1.0 / layers) for _ in range(layers))
        self.final_norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, channels * (n_fft + 2))  # log-magnitude and phase per bin and channel
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        b, _, t = z.shape
        h = self.norm(self.embed(z).transpose(1, 2)).transpose(1, 2)  # [B, dim, T]
        for block in self.blocks:
            h = block(h)
        h = self.head(self.final_norm(h.transpose(1, 2)))  # [B, T, C * (n_fft + 2)]
        h = h.float().reshape(b, t, self.channels, 2, self.n_fft // 2 + 1).permute(0, 2, 3, 4, 1)  # [B, C, 2, F, T]
        mag = torch.exp(h[:, :, 0].clamp(max=8.0))  # [B, C, F, T]
        spec = torch.polar(mag, h[:, :, 1])  # complex [B, C, F, T]
        with torch.autocast(device_type=z.device.type, enabled=False):
            wav = torch.istft(
                spec.reshape(b * self.channels, *spec.shape[-2:]),
                self.n_fft,
                self.hop,
                window=self.window,
                center=True,
                length=t * self.hop,
            )  # [B * C, T * hop]
        return wav.reshape(b, self.channels, -1)


class LogMelFrames(nn.Module):
    """Fixed log-mel frontend: `[B, C, T * hop]` -> `[B, n_mels, T]` (channels averaged), roughly unit scale."""

    def __init__(self, sample_rate: int, n_fft: int, hop: int, n_mels: int):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.register_buffer("fb", mel_filterbank(sample_rate, n_fft, n_mels), persistent=False)  # [M, F]

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        x = wav.float().mean(dim=1)  # [B, N]
        t = x.shape[-1] // self.hop
        with torch.autocast(device_type=wav.device.type, enabled=False):
            spec = torch.stft(
                x, self.n_fft, self.hop, window=self.window, center=True, return_complex=True
            )  # [B, F, T+1]
            mel = self.fb @ spec[..., :t].abs()  # [B, M, T]
        return (torch.log(mel.clamp(min=1e-5)) + 5.0) / 4.0

    def invert(self, logmel: torch.Tensor, iters: int, method: str = "griffin_lim") -> torch.Tensor:
        """`forward`'s inverse, `[B, n_mels, T]` -> `[B, T * hop]`: pseudo-inverse of the filterbank
        (clipped at zero), then a phase: `griffin_lim` (`iters` iterations from a fixed-seed random
        phase) or `pghi` (phase-gradient heap integration, then `iters` Griffin-Lim iterations)."""
        t = logmel.shape[-1]
        with torch.autocast(device_type=logmel.device.type, enabled=False):
            mel = torch.exp(logmel.float() * 4.0 - 5.0)  # [B, M, T]
            mag = (torch.linalg.pinv(self.fb) @ mel).clamp(min=0.0)  # [B, F, T]
            mag = F.pad(mag, (0, 1), mode="replicate")  # [B, F, T + 1]: the centred frame at the end
            if method == "pghi":
                from v2meow.signal.pghi import pghi  # scipy.sparse.csgraph: 0.26 s to import, only for PGHI

                return pghi(mag, self.n_fft, self.hop, t * self.hop, iters=iters)
            return griffin_lim(mag, self.n_fft, self.hop, t * self.hop, iters=iters)


class MelNetEncoder(nn.Module):
    """Log-mel frames -> ConvNeXt blocks -> `[B, latent_dim, T]` (a learned frame-rate encoder)."""

    def __init__(self, frontend: LogMelFrames, n_mels: int, dim: int, intermediate: int, layers: int, latent_dim: int):
        super().__init__()
        self.frontend = frontend
        self.embed = nn.Conv1d(n_mels, dim, 7, padding=3)
        self.blocks = nn.ModuleList(ConvNeXtBlock(dim, intermediate, 1.0 / layers) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, latent_dim)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:  # [B, C, T * hop] -> [B, latent_dim, T]
        h = self.embed(self.frontend(wav))  # [B, dim, T]
        for block in self.blocks:
            h = block(h)
        return self.out(self.norm(h.transpose(1, 2))).transpose(1, 2)


class VocosCodec(rvq.RVQCodecFields, AcousticCodec):
    """Trainable iSTFT codec: `encode`/`decode` for tokens, `forward` for training."""

    config_class = VocosCodecConfig
    config: VocosCodecConfig

    def __init__(self, config: VocosCodecConfig, *, trainable: bool = True):
        super().__init__(config)
        c = config
        if c.encoder == "conv":
            self.encoder = Encoder(
                c.channels, c.base_channels, c.channel_mults, c.strides, c.latent_dim, c.dilations, c.kernel_size
            )
            dim = c.latent_dim
        elif c.encoder == "melnet":
            self.encoder = MelNetEncoder(
                LogMelFrames(c.sample_rate, c.mel_n_fft, c.hop_length, c.n_mels),
                c.n_mels,
                c.backbone_dim,
                c.backbone_intermediate,
                c.encoder_layers,
                c.latent_dim,
            )
            dim = c.latent_dim
        else:
            self.encoder = LogMelFrames(c.sample_rate, c.mel_n_fft, c.hop_length, c.n_mels)
            dim = c.n_mels
        self.quantizer = rvq.build_rvq(dim, c, trainable)  # trainable=False: a lookup (`load_codec`)
        self.decoder = (
            ISTFTDecoder(
                dim, c.channels, c.backbone_dim, c.backbone_intermediate, c.backbone_layers, c.stft_size, c.hop_length
            )
            if c.vocoder
            else None
        )

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> VocosCodec:
        return cls(VocosCodecConfig.from_preset(name, **overrides))

    def _encode(self, wav: torch.Tensor) -> torch.Tensor:
        z = self.encoder(wav).transpose(1, 2)  # [B, T, D]
        return rvq.quantize(self.quantizer, z).transpose(1, 2)  # [B, K, T]

    def _decode(self, codes: torch.Tensor) -> torch.Tensor:
        q = rvq.dequantize(self.quantizer, codes.transpose(1, 2))  # [B, T, D]
        return self.decode_latent(q.transpose(1, 2))  # [B, C, T * hop]

    def decode_latent(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder after the quantizer: latent frames `[B, D, T]` -> audio `[B, C, T * hop]`, by the
        configured inversion. For the `mel` encoder the latent is the log-mel itself (`LogMelFrames`'
        scale), so any log-mel frames can be heard this way (`v2meow-codec sketch`)."""
        c = self.config
        if c.inversion in MEL_INVERSIONS:
            iters = c.pghi_iters if c.inversion == "pghi" else c.griffin_lim_iters
            wav = self.encoder.invert(z, iters, c.inversion)  # [B, T * hop]
            return wav[:, None].expand(-1, self.channels, -1)  # [B, C, T * hop]
        return self.decoder(z)  # [B, C, T * hop]
