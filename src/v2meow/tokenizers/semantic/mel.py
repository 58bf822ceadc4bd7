"""`mel`: a weight-free log-mel backbone (with optional delta features).

Weaker than the self-supervised backbones: log-mel frames describe timbre and pitch
locally but carry none of the long-range, phonetic/musical abstraction that w2v-BERT or
HuBERT layers learn, so k-means tokens of mel frames are closer to acoustic tokens than
to semantic ones. It needs no pretrained weights, so it drives the demo bundle and the
tests on machines with no network.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from v2meow.errors import ConfigError
from v2meow.signal import dsp
from v2meow.tokenizers.semantic.backbone import WeightFreeBackbone


def mel_filterbank(
    n_fft: int, n_mels: int, sample_rate: int, f_min: float = 0.0, f_max: float | None = None
) -> torch.Tensor:
    """Triangular filters, equally spaced on the HTK mel scale, each normalised to unit area
    (`v2meow.signal.dsp.mel_filterbank(norm="slaney")`).

    Returns:
        `[n_fft // 2 + 1, n_mels]` float32: power spectrum `@` filterbank gives mel energies.
    """
    try:
        fb = dsp.mel_filterbank(sample_rate, n_fft, n_mels, f_min, f_max, norm="slaney")  # [F, M] float64
    except ValueError as e:
        raise ConfigError(f"mel: {e}") from None
    return torch.from_numpy(fb.astype(np.float32))


class MelBackbone(WeightFreeBackbone):
    """Log-mel frames on a fixed grid: frame t summarises samples around `[t*hop, (t+1)*hop)`.

    Args:
        sample_rate: input rate (16000 default).
        hop_length: samples per frame (320 at 16 kHz = 50 Hz).
        n_fft: FFT and Hann window length.
        n_mels: mel bands (64 default).
        f_min: lowest band edge in Hz.
        f_max: highest band edge in Hz (default: Nyquist).
        deltas: append first-order time differences, doubling `dim`.
        log_floor: energies are clamped to this before the log (silence -> log(log_floor)).
    """

    name = "mel"
    has_weights = False

    def __init__(
        self,
        sample_rate: int = 16000,
        hop_length: int = 320,
        n_fft: int = 1024,
        n_mels: int = 64,
        f_min: float = 0.0,
        f_max: float | None = None,
        deltas: bool = True,
        log_floor: float = 1e-5,
    ):
        if min(sample_rate, hop_length, n_fft, n_mels) <= 0 or log_floor <= 0:
            raise ConfigError("mel: sample_rate, hop_length, n_fft, n_mels and log_floor must be positive")
        if n_fft < hop_length:
            raise ConfigError(f"mel: n_fft ({n_fft}) must be at least hop_length ({hop_length})")
        super().__init__(sample_rate, hop_length, n_mels * (2 if deltas else 1))
        self.n_fft, self.n_mels = int(n_fft), int(n_mels)
        self.f_min, self.f_max = float(f_min), (None if f_max is None else float(f_max))
        self.deltas, self.log_floor = bool(deltas), float(log_floor)
        # Non-persistent: rebuilt from the spec, so the state dict of this backbone is empty.
        self.register_buffer("window", torch.hann_window(n_fft, periodic=True), persistent=False)  # [n_fft]
        self.register_buffer("filters", mel_filterbank(n_fft, n_mels, sample_rate, f_min, f_max), persistent=False)

    @property
    def context_samples(self) -> int:
        # half a window of padding plus the delta's neighbour frame
        return self.hop_length * (math.ceil((self.n_fft - self.hop_length) / 2 / self.hop_length) + 1)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:  # [B, N] -> [B, N // hop, dim]
        n_frames = wav.shape[-1] // self.hop_length
        pad = self.n_fft - self.hop_length  # centres each window on its hop span
        x = F.pad(wav.float(), (pad // 2, pad - pad // 2))  # [B, N + pad]
        spec = torch.stft(x, self.n_fft, self.hop_length, window=self.window, center=False, return_complex=True)
        power = spec.real.square() + spec.imag.square()  # [B, F, T]
        mel = power.transpose(1, 2) @ self.filters  # [B, T, M]
        feats = mel[:, :n_frames].clamp_min(self.log_floor).log()  # [B, T, M]
        if self.deltas:
            padded = F.pad(feats.transpose(1, 2), (1, 1), mode="replicate").transpose(1, 2)  # [B, T + 2, M]
            delta = (padded[:, 2:] - padded[:, :-2]) / 2  # [B, T, M]
            feats = torch.cat([feats, delta], dim=-1)  # [B, T, 2M]
        return feats

    def spec(self) -> dict[str, Any]:
        return {
            "sample_rate": self.sample_rate,
            "hop_length": self.hop_length,
            "n_fft": self.n_fft,
            "n_mels": self.n_mels,
            "f_min": self.f_min,
            "f_max": self.f_max,
            "deltas": self.deltas,
            "log_floor": self.log_floor,
        }
