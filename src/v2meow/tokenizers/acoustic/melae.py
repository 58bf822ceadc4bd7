"""A learned mel codec: fixed log-mel -> ConvNeXt encoder -> residual VQ -> ConvNeXt decoder -> log-mel -> Griffin-Lim.

The k-means `mel128` codec (`vocos.py`, preset `mel128`) quantizes raw 128-band log-mel frames: its centroids
are blurred spectra and the notes' partials are lost (docs/codec.md). Here an encoder with time context maps the
same log-mel frames to a `latent_dim` latent, a vector-quantize-pytorch `ResidualVQ` (EMA codebooks, k-means
init, dead-code replacement, quantizer dropout) is trained end to end with it, and a decoder maps the quantized
latent back to the log-mel, which the fixed front end inverts (pseudo-inverse of the filterbank + Griffin-Lim):

    wav [B, C, T*hop] -> LogMelFrames -> [B, n_mels, T] -> encoder -> [B, D, T] -> RVQ (K x V codes)
        -> decoder -> [B, n_mels, T] -> LogMelFrames.invert -> [B, C, T*hop]

Same token layout as `mel128`: 16 kHz, 50 frames/s, 8 levels x 1024 codes, the first 3 coarse. The model holds no
training code; `v2meow.training.melae` trains it on precomputed log-mel frames (`forward_mel`).

    codec = MelAECodec(MelAECodecConfig())
    codes = codec.encode(wav, sample_rate=44100)   # [K, T]
    audio = codec.decode(codes)                    # [C, T * hop_length]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from v2meow.components import ComponentConfig, build_dataclass
from v2meow.errors import ConfigError, UnknownComponentError
from v2meow.tokenizers.acoustic import rvq
from v2meow.tokenizers.acoustic.base import AcousticCodec
from v2meow.tokenizers.acoustic.vocos import MEL_INVERSIONS, ConvNeXtBlock, LogMelFrames


@dataclass
class MelAECodecConfig(ComponentConfig):
    """Architecture of a learned mel codec (every field is saved in `config.json`)."""

    model_type = "melae"
    format_version = 1

    sample_rate: int = 16000
    channels: int = 1
    hop_length: int = 320  # samples per codec frame = per log-mel frame
    n_mels: int = 128
    mel_n_fft: int = 1024
    # encoder / decoder: ConvNeXt blocks over time at the frame rate
    dim: int = 192
    intermediate: int = 576
    encoder_layers: int = 2
    decoder_layers: int = 4
    kernel_size: int = 3  # the input convolutions (the blocks' depthwise ones are 7)
    latent_dim: int = 64
    # residual VQ (fields read by `rvq.build_rvq`)
    num_quantizers: int = 8
    codebook_size: int = 1024
    codebook_dim: int | None = None
    num_coarse: int = 3
    ema_decay: float = 0.99
    kmeans_init: bool = True
    kmeans_iters: int = 10
    # an EMA count per training batch: a batch of ~1,500 frames gives each of 1,024 codes ~1.5 on average
    threshold_ema_dead_code: float = 0.1
    commitment_weight: float = 0.25
    quantizer_dropout: bool = True
    rotation_trick: bool = True
    # decoding: decoded log-mel -> pseudo-inverse magnitude -> `inversion` (as the mel codec's: Griffin-Lim
    # with a fixed seed, or PGHI then `pghi_iters` Griffin-Lim iterations; both deterministic)
    inversion: str = "griffin_lim"
    griffin_lim_iters: int = 64
    pghi_iters: int = 4

    def __post_init__(self) -> None:
        problems = []
        if self.channels not in (1, 2):
            problems.append(f"channels must be 1 or 2, got {self.channels}")
        positive = ("sample_rate", "hop_length", "n_mels", "mel_n_fft", "dim", "intermediate", "encoder_layers",
                    "decoder_layers", "kernel_size", "latent_dim", "num_quantizers", "codebook_size")  # fmt: skip
        problems += [f"{n} must be positive, got {getattr(self, n)}" for n in positive if getattr(self, n) <= 0]
        if self.kernel_size % 2 == 0:
            problems.append(f"kernel_size must be odd, got {self.kernel_size}")
        if self.mel_n_fft < self.hop_length:
            problems.append(f"mel_n_fft ({self.mel_n_fft}) must be at least hop_length ({self.hop_length})")
        if not 1 <= self.num_coarse <= self.num_quantizers:
            problems.append(f"num_coarse must be in [1, num_quantizers={self.num_quantizers}], got {self.num_coarse}")
        if not 0.0 < self.ema_decay < 1.0:
            problems.append(f"ema_decay must be in (0, 1), got {self.ema_decay}")
        if self.inversion not in MEL_INVERSIONS:
            problems.append(f"inversion must be one of {', '.join(MEL_INVERSIONS)}, got '{self.inversion}'")
        problems += [f"{n} must be >= 0, got {getattr(self, n)}" for n in ("griffin_lim_iters", "pghi_iters")
                     if getattr(self, n) < 0]  # fmt: skip
        if problems:
            raise ConfigError("melae config: " + "; ".join(problems))

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> MelAECodecConfig:
        """A named architecture (`PRESETS`), with fields overridden by keyword."""
        if name not in PRESETS:
            raise UnknownComponentError(f"unknown melae preset '{name}' (known: {', '.join(PRESETS)})")
        return build_dataclass(cls, {**PRESETS[name], **overrides}, "melae")


PRESETS: dict[str, dict[str, Any]] = {
    # Tests: 32 bands, 4 x 64 codes, a few thousand parameters.
    "debug": dict(
        n_mels=32,
        dim=32,
        intermediate=64,
        encoder_layers=1,
        decoder_layers=1,
        latent_dim=16,
        num_quantizers=4,
        codebook_size=64,
        num_coarse=2,
        ema_decay=0.8,
        kmeans_iters=5,
        threshold_ema_dead_code=0.0,
        griffin_lim_iters=16,
    ),  # fmt: skip
    # The mel128 token layout: 128 bands, 8 x 1024 codes (N_c = 3), ~1.6 M parameters + codebooks (~10.6 MB).
    "mel128": dict(),
}


class FrameNet(nn.Module):
    """`[B, D_in, T]` -> conv (k) -> ConvNeXt blocks -> LayerNorm -> linear -> `[B, D_out, T]`."""

    def __init__(self, d_in: int, d_out: int, dim: int, intermediate: int, layers: int, kernel_size: int):
        super().__init__()
        self.embed = nn.Conv1d(d_in, dim, kernel_size, padding=kernel_size // 2)
        self.norm = nn.LayerNorm(dim)
        self.blocks = nn.ModuleList(ConvNeXtBlock(dim, intermediate, 1.0 / layers) for _ in range(layers))
        self.final_norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(self.embed(x).transpose(1, 2)).transpose(1, 2)  # [B, dim, T]
        for block in self.blocks:
            h = block(h)
        return self.out(self.final_norm(h.transpose(1, 2))).transpose(1, 2)  # [B, D_out, T]


@dataclass
class MelAEOutput:
    """What the training forward pass (`forward_mel`) returns."""

    mel: torch.Tensor  # [B, n_mels, T] decoded log-mel
    codes: torch.Tensor  # [B, K, T] long; -1 where quantizer dropout skipped a level
    commit_loss: torch.Tensor  # [] sum over levels of the commitment losses
    latent: torch.Tensor  # [B, D, T] encoder output before quantization


class MelAECodec(rvq.RVQCodecFields, AcousticCodec):
    """Learned mel codec: `encode`/`decode` for tokens, `forward_mel` for training, `encode_mel`/`decode_mel` to
    work on log-mel frames directly."""

    config_class = MelAECodecConfig
    config: MelAECodecConfig

    def __init__(self, config: MelAECodecConfig, *, trainable: bool = True):
        super().__init__(config)
        c = config
        self.frontend = LogMelFrames(c.sample_rate, c.mel_n_fft, c.hop_length, c.n_mels)
        self.encoder = FrameNet(c.n_mels, c.latent_dim, c.dim, c.intermediate, c.encoder_layers, c.kernel_size)
        self.quantizer = rvq.build_rvq(c.latent_dim, c, trainable)  # trainable=False: a lookup (`load_codec`)
        self.decoder = FrameNet(c.latent_dim, c.n_mels, c.dim, c.intermediate, c.decoder_layers, c.kernel_size)
        # the decoder predicts the log-mel as a residual over the mean frame of the training music (set by training)
        self.register_buffer("mel_mean", torch.zeros(c.n_mels))

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> MelAECodec:
        return cls(MelAECodecConfig.from_preset(name, **overrides))

    # --- log-mel level ------------------------------------------------------------------
    def mel(self, wav: torch.Tensor) -> torch.Tensor:
        """`[B, C, T * hop]` -> the fixed log-mel frames `[B, n_mels, T]`."""
        return self.frontend(wav)

    def latent(self, mel: torch.Tensor) -> torch.Tensor:
        """`[B, n_mels, T]` -> `[B, latent_dim, T]`."""
        return self.encoder(mel - self.mel_mean[:, None])

    def decode_latent(self, q: torch.Tensor) -> torch.Tensor:
        """Quantized latent `[B, latent_dim, T]` -> log-mel `[B, n_mels, T]`."""
        return self.decoder(q) + self.mel_mean[:, None]

    def encode_mel(self, mel: torch.Tensor) -> torch.Tensor:
        """Log-mel `[B, n_mels, T]` -> codes `[B, K, T]` (nearest codes, no side effects)."""
        z = self.latent(mel).transpose(1, 2)  # [B, T, D]
        return rvq.quantize(self.quantizer, z).transpose(1, 2)  # [B, K, T]

    def decode_mel(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes `[B, K', T]` (K' <= K leading levels) -> log-mel `[B, n_mels, T]`."""
        q = rvq.dequantize(self.quantizer, codes.transpose(1, 2))  # [B, T, D]
        return self.decode_latent(q.transpose(1, 2))

    def forward_mel(self, mel: torch.Tensor, freeze_codebooks: bool = False) -> MelAEOutput:
        """Training forward on log-mel frames `[B, n_mels, T]` (EMA updates, k-means init, dead-code
        replacement and quantizer dropout apply in training mode)."""
        if mel.dim() != 3 or mel.shape[1] != self.config.n_mels:
            raise ConfigError(f"expected log-mel [B, {self.config.n_mels}, T], got shape {tuple(mel.shape)}")
        z = self.latent(mel)  # [B, D, T]
        q, indices, losses = self.quantizer(z.transpose(1, 2), freeze_codebook=freeze_codebooks)
        out = self.decode_latent(q.transpose(1, 2))  # [B, n_mels, T]
        return MelAEOutput(mel=out, codes=indices.transpose(1, 2), commit_loss=losses.sum(), latent=z)

    def forward(self, wav: torch.Tensor, freeze_codebooks: bool = False) -> MelAEOutput:
        """Training forward on audio `[B, C, T * hop]` (see `forward_mel`)."""
        return self.forward_mel(self.mel(wav), freeze_codebooks)

    # --- the codec contract ---------------------------------------------------------------
    def _encode(self, wav: torch.Tensor) -> torch.Tensor:
        return self.encode_mel(self.mel(wav))  # [B, K, T]

    def _decode(self, codes: torch.Tensor) -> torch.Tensor:
        mel = self.decode_mel(codes)  # [B, n_mels, T]
        c = self.config
        iters = c.pghi_iters if c.inversion == "pghi" else c.griffin_lim_iters
        wav = self.frontend.invert(mel, iters, c.inversion)  # [B, T * hop]
        return wav[:, None].expand(-1, self.channels, -1)  # [B, C, T * hop]
