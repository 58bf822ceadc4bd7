"""The acoustic codec interface: waveform <-> residual-VQ codes, plus the coarse/fine split.

Shapes (B batch, C audio channels, N samples, K codebooks, T codec frames):

    encode: [B, C, N] -> [B, K, T]     (batched in, batched out)
            [C, N] or [N] -> [K, T]    (unbatched in, unbatched out)
    decode: [B, K', T] -> [B, C, T * hop_length]
            [K', T] -> [C, T * hop_length]      (K' <= K: leading codebooks only)

`T = ceil(N / hop_length)`: the input is zero-padded on the right to a whole number of
frames, so decoding returns up to `hop_length - 1` extra samples; pass `length=N` to trim.
The first `num_coarse` codebooks are the coarse tokens (stage 2), the rest the fine ones
(stage 3).
"""

from __future__ import annotations

import math
from abc import ABCMeta, abstractmethod

import numpy as np
import torch
import torch.nn.functional as F

from v2meow.components import Component
from v2meow.errors import ConfigError, MediaError
from v2meow.media import resample


class InvalidAudioError(MediaError, ValueError):
    """Audio given to a codec cannot be encoded: NaN/inf samples, bad shape, or too short."""


class AcousticCodec(Component, metaclass=ABCMeta):
    """Abstract codec (cf. audiocraft's `CompressionModel`); subclasses implement `_encode`/`_decode`."""

    # --- properties every codec defines -------------------------------------------------
    @property
    @abstractmethod
    def sample_rate(self) -> int:
        """Audio rate the codec works at (input at other rates is resampled)."""

    @property
    @abstractmethod
    def channels(self) -> int:
        """Audio channels the codec works with (1 = mono)."""

    @property
    @abstractmethod
    def hop_length(self) -> int:
        """Samples per codec frame."""

    @property
    @abstractmethod
    def num_codebooks(self) -> int:
        """K: residual-VQ levels produced by `encode`."""

    @property
    @abstractmethod
    def codebook_size(self) -> int:
        """Vocabulary of every codebook: codes lie in [0, codebook_size)."""

    @property
    @abstractmethod
    def num_coarse(self) -> int:
        """N_c: leading codebooks modelled by stage 2."""

    @abstractmethod
    def _encode(self, wav: torch.Tensor) -> torch.Tensor:
        """`[B, C, T * hop]` float at `sample_rate` -> `[B, K, T]` long."""

    @abstractmethod
    def _decode(self, codes: torch.Tensor) -> torch.Tensor:
        """`[B, K', T]` long (K' <= K) -> `[B, C, T * hop]` float."""

    # --- derived ------------------------------------------------------------------------
    @property
    def frame_rate(self) -> float:
        """Codec frames per second (`sample_rate / hop_length`)."""
        return self.sample_rate / self.hop_length

    @property
    def num_fine(self) -> int:
        """N_f: codebooks after the coarse ones (stage 3)."""
        return self.num_codebooks - self.num_coarse

    @property
    def codec_id(self) -> str:
        """A short description of the token contract, stored next to encoded codes."""
        return f"{self.config.model_type}/{self.sample_rate}Hz/{self.frame_rate:g}fps/{self.num_codebooks}x{self.codebook_size}"

    def num_frames(self, num_samples: int) -> int:
        """Codec frames produced for `num_samples` samples at `sample_rate`."""
        return math.ceil(num_samples / self.hop_length)

    @property
    def device(self) -> torch.device:
        for t in self.parameters():
            return t.device
        for t in self.buffers():
            return t.device
        return torch.device("cpu")

    # --- public API -----------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, wav: torch.Tensor | np.ndarray, sample_rate: int | None = None) -> torch.Tensor:
        """Encode audio to codes.

        Args:
            wav: `[B, C, N]`, `[C, N]` or `[N]` float audio in [-1, 1]. Channels are
                downmixed to mono (or mono duplicated to stereo) to match `channels`.
            sample_rate: rate of `wav`; None means it is already at `sample_rate`.

        Returns:
            `[B, K, T]` long codes for batched input, `[K, T]` for unbatched input,
            with `T = ceil(N' / hop_length)`, N' the length after resampling.

        Raises:
            InvalidAudioError: NaN/inf samples, a bad shape, or fewer samples than one frame.
        """
        x, batched = self.prepare_audio(wav, sample_rate)  # [B, C, N]
        n = x.shape[-1]
        x = F.pad(x, (0, self.num_frames(n) * self.hop_length - n))  # [B, C, T * hop]
        codes = self._encode(x.to(self.device))  # [B, K, T]
        return codes if batched else codes[0]

    @torch.no_grad()
    def decode(self, codes: torch.Tensor, length: int | None = None) -> torch.Tensor:
        """Decode codes to audio at `sample_rate`.

        Args:
            codes: `[B, K', T]` or `[K', T]` integer codes, K' <= K leading codebooks
                (fewer than K decodes a coarser approximation).
            length: trim the output to this many samples (e.g. the encoded input's length), a
                positive integer; more than `T * hop_length` returns all `T * hop_length`.

        Returns:
            `[B, C, N]` (or `[C, N]` for unbatched codes) float audio, N = T * hop_length
            or `length`.
        """
        codes, batched = self.check_codes(codes)  # [B, K', T]
        if length is not None:
            length = check_length(length)
        wav = self._decode(codes.to(self.device))  # [B, C, T * hop]
        if length is not None:
            wav = wav[..., :length]
        return wav if batched else wav[0]

    def split(self, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`[..., K, T]` -> coarse `[..., N_c, T]`, fine `[..., N_f, T]`."""
        if codes.shape[-2] != self.num_codebooks:
            raise ConfigError(f"split expects {self.num_codebooks} codebooks, got {codes.shape[-2]}")
        return codes[..., : self.num_coarse, :], codes[..., self.num_coarse :, :]

    def merge(self, coarse: torch.Tensor, fine: torch.Tensor) -> torch.Tensor:
        """Inverse of `split`: `[..., N_c, T]` + `[..., N_f, T]` -> `[..., K, T]`."""
        if coarse.shape[-2] != self.num_coarse or fine.shape[-2] != self.num_fine:
            raise ConfigError(
                f"merge expects {self.num_coarse} coarse + {self.num_fine} fine codebooks, "
                f"got {coarse.shape[-2]} + {fine.shape[-2]}"
            )
        return torch.cat([coarse, fine], dim=-2)

    # --- input checks ---------------------------------------------------------------------
    def prepare_audio(
        self, wav: torch.Tensor | np.ndarray, sample_rate: int | None = None
    ) -> tuple[torch.Tensor, bool]:
        """Validate, resample and channel-match audio; returns `([B, C, N] float32, batched)`.

        The tensor stays on its device (resampling runs on the CPU and moves back)."""
        x = torch.as_tensor(wav)
        if not x.is_floating_point():
            raise InvalidAudioError(f"audio must be a real float tensor in [-1, 1], got dtype {x.dtype}")
        x = x.detach().float()
        batched = x.dim() == 3
        if x.dim() == 1:
            x = x[None, None]
        elif x.dim() == 2:
            x = x[None]
        elif x.dim() != 3:
            raise InvalidAudioError(f"audio must be [N], [C, N] or [B, C, N], got shape {tuple(x.shape)}")
        if x.shape[0] == 0 or x.shape[1] == 0:
            raise InvalidAudioError(f"audio has no batch items or channels: shape {tuple(x.shape)}")
        if not torch.isfinite(x).all():
            raise InvalidAudioError("audio contains NaN or inf samples")
        x = self._match_channels(x)
        if sample_rate is not None and int(sample_rate) != self.sample_rate:
            if sample_rate <= 0:
                raise InvalidAudioError(f"sample rate must be positive, got {sample_rate}")
            b, c, n = x.shape
            flat = resample(x.reshape(b * c, n).cpu().numpy(), int(sample_rate), self.sample_rate)  # [B*C, M]
            x = torch.from_numpy(flat).reshape(b, c, -1).to(x.device)
        if x.shape[-1] < self.hop_length:
            raise InvalidAudioError(
                f"audio of {x.shape[-1]} samples at {self.sample_rate} Hz is shorter than one codec frame "
                f"({self.hop_length} samples = {1000 * self.hop_length / self.sample_rate:.1f} ms)"
            )
        return x, batched

    def _match_channels(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        if c == self.channels:
            return x
        if self.channels == 1:
            return x.mean(dim=1, keepdim=True)  # downmix
        if c == 1:
            return x.expand(-1, self.channels, -1).contiguous()  # mono -> all channels
        raise InvalidAudioError(f"cannot map {c}-channel audio to this {self.channels}-channel codec")

    def check_codes(self, codes: torch.Tensor) -> tuple[torch.Tensor, bool]:
        """Validate codes; returns `([B, K', T] long, batched)` or raises `ConfigError`."""
        codes = torch.as_tensor(codes)
        if codes.is_floating_point() or codes.is_complex() or codes.dtype == torch.bool:
            raise ConfigError(f"codes must be integers, got dtype {codes.dtype}")
        batched = codes.dim() == 3
        if codes.dim() == 2:
            codes = codes[None]
        elif codes.dim() != 3:
            raise ConfigError(f"codes must be [K, T] or [B, K, T], got shape {tuple(codes.shape)}")
        b, k, t = codes.shape
        if b == 0 or t == 0 or k == 0:
            raise ConfigError(f"codes are empty: shape {tuple(codes.shape)}")
        if k > self.num_codebooks:
            raise ConfigError(f"codes have {k} codebooks, this codec has {self.num_codebooks}")
        lo, hi = int(codes.min()), int(codes.max())
        if lo < 0 or hi >= self.codebook_size:
            raise ConfigError(f"codes must lie in [0, {self.codebook_size}), got values in [{lo}, {hi}]")
        return codes.long(), batched


def check_length(length) -> int:
    """A number of samples to trim to: a positive integer (not a bool, not a float), else `ConfigError`."""
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)):
        raise ConfigError(f"length must be a whole number of samples, got {length!r}")
    if length < 1:
        raise ConfigError(f"length must be at least 1 sample, got {length}")
    return int(length)
