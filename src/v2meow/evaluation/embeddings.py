"""Audio embedding backbones for FAD and embedding similarity.

    bb = build_backbone("mel")                                # weight-free, runs anywhere
    bb = build_backbone("vggish", weights="vggish-10086976.pth")
    bb = build_backbone("clap", weights="checkpoints/style")  # a CLAP directory or HF repo id
    frames = bb.embed(wav, sr)                                # [F, D] float64, one row per window

Only VGGish and CLAP give FAD values comparable with published ones (V2Meow reports
FAD with VGGish and TRILL). The `mel` backbone summarises log-mel statistics per 1-s
window: it needs no weights and ranks systems by spectral similarity, but its numbers
are on their own scale and the report labels them so.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np
import torch

from v2meow.errors import ConfigError, MissingWeightsError, UnknownComponentError
from v2meow.evaluation.vggish import VGGISH_URL, VGGish, vggish_examples
from v2meow.media import resample
from v2meow.signal.dsp import log_mel_spectrogram

BACKBONES = ("mel", "vggish", "clap")


class AudioBackbone(ABC):
    """Mono audio in, a sequence of embeddings out."""

    name: str = ""
    #: True when no pretrained weights are involved (numbers not comparable to published FAD)
    weight_free: bool = False

    @property
    @abstractmethod
    def sample_rate(self) -> int:
        """Rate `frames` expects."""

    @property
    def label(self) -> str:
        """How the report names this backbone."""
        return self.name

    @property
    def supports_text(self) -> bool:
        """Whether `embed_text` maps captions into the audio embedding space."""
        return False

    @abstractmethod
    def frames(self, wav: np.ndarray) -> np.ndarray:
        """Embeddings `[F, D]` (F >= 1) of mono `wav [N]` at `sample_rate`."""

    def embed(self, wav: np.ndarray, sample_rate: int) -> np.ndarray:
        """Resample mono `wav [N]` to `self.sample_rate` and embed it; returns `[F, D]` float64."""
        x = resample(np.asarray(wav, np.float32)[None], sample_rate, self.sample_rate)[0]  # [M]
        if x.size < self.sample_rate // 10:
            raise ConfigError(f"audio is too short to embed ({x.size / self.sample_rate:.3f} s < 0.1 s)")
        return np.asarray(self.frames(x), dtype=np.float64)

    def embed_text(self, texts: Sequence[str]) -> np.ndarray:
        """Caption embeddings `[B, D]` in the audio space (joint audio-text models only)."""
        raise ConfigError(f"the {self.name} backbone has no text tower")


class MelStatsBackbone(AudioBackbone):
    """Weight-free: per window, the mean, std and mean positive flux of each log-mel band.

    Args:
        n_mels: mel bands (the embedding has `3 * n_mels` dims).
        window: seconds per embedding.
        hop: seconds between embeddings.
    """

    name = "mel"
    weight_free = True

    def __init__(self, n_mels: int = 32, window: float = 1.0, hop: float = 0.5):
        self.n_mels, self.window, self.hop = n_mels, window, hop

    @property
    def sample_rate(self) -> int:
        return 16_000

    @property
    def label(self) -> str:
        return "mel-stats (weight-free; values not comparable to published FAD)"

    def frames(self, wav: np.ndarray) -> np.ndarray:
        logmel = log_mel_spectrogram(
            wav,
            self.sample_rate,
            n_fft=512,
            hop=160,
            n_mels=self.n_mels,
            fmin=50.0,
            fmax=8000.0,
            win_length=400,
            power=2.0,
            log_offset=1e-6,
            center=True,
        )  # [T, M] at 100 Hz
        w, h = max(2, round(self.window * 100)), max(1, round(self.hop * 100))
        if logmel.shape[0] < w:
            logmel = np.concatenate([logmel, np.repeat(logmel[-1:], w - logmel.shape[0], 0)])
        flux = np.maximum(0.0, np.diff(logmel, axis=0, prepend=logmel[:1]))  # [T, M]
        win = np.lib.stride_tricks.sliding_window_view(logmel, w, axis=0)[::h]  # [F, M, w]
        win_flux = np.lib.stride_tricks.sliding_window_view(flux, w, axis=0)[::h]
        return np.concatenate([win.mean(-1), win.std(-1), win_flux.mean(-1)], axis=1)  # [F, 3M]


class VGGishBackbone(AudioBackbone):
    """VGGish embeddings, one per 0.96 s (weights from a torchvggish state dict)."""

    name = "vggish"

    def __init__(self, model, device: str | torch.device = "cpu", batch_size: int = 64):
        self.model = model.to(device).eval()
        self.device, self.batch_size = torch.device(device), batch_size

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, device: str = "cpu") -> VGGishBackbone:
        return cls(VGGish.from_pretrained(path), device=device)

    @property
    def sample_rate(self) -> int:
        return 16_000

    @torch.inference_mode()
    def frames(self, wav: np.ndarray) -> np.ndarray:
        ex = torch.from_numpy(vggish_examples(wav))[:, None]  # [E, 1, 96, 64]
        out = [
            self.model(ex[i : i + self.batch_size].to(self.device)).cpu()
            for i in range(0, ex.shape[0], self.batch_size)
        ]
        return torch.cat(out).double().numpy()  # [E, 128]


class ClapBackbone(AudioBackbone):
    """CLAP audio embeddings, one per CLAP window (10 s), through a style embedder.

    Args:
        embedder: a `v2meow.tokenizers.style` embedder that supports audio.
    """

    name = "clap"

    def __init__(self, embedder):
        if not embedder.supports_audio:
            raise ConfigError(f"style embedder '{embedder.name}' cannot embed audio")
        self.embedder = embedder

    @property
    def sample_rate(self) -> int:
        return int(self.embedder.sample_rate)

    @property
    def label(self) -> str:
        return f"CLAP audio ({self.embedder.id})"

    @property
    def supports_text(self) -> bool:
        return True

    def frames(self, wav: np.ndarray) -> np.ndarray:
        from v2meow.tokenizers.style.base import segment_starts

        seg = round(self.embedder.window_seconds * self.sample_rate)
        starts = segment_starts(wav.shape[0], seg, min_samples=self.sample_rate)
        wav_t = torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32))
        return (
            torch.stack([self.embedder.embed_audio(wav_t[s : s + seg], self.sample_rate) for s in starts])
            .double()
            .numpy()
        )

    def embed_text(self, texts: Sequence[str]) -> np.ndarray:
        return self.embedder.embed_text(list(texts)).double().numpy().reshape(len(texts), -1)  # [B, D]


def load_clap_embedder(source: str | os.PathLike | None = None):
    """A CLAP style embedder from a component/transformers directory, or a repo id in the HF cache."""
    from v2meow.tokenizers.style import DEFAULT_CLAP_REPO, ClapStyleEmbedder, load_style_embedder

    if source is not None and os.path.isdir(source):
        return load_style_embedder(source)
    return ClapStyleEmbedder.from_source(DEFAULT_CLAP_REPO if source is None else str(source))


def build_backbone(name: str, weights: str | os.PathLike | None = None, device: str = "cpu") -> AudioBackbone:
    """Build an embedding backbone by name.

    Args:
        name: "mel" (weight-free), "vggish" (needs `weights`: a torchvggish state dict)
            or "clap" (`weights`: a CLAP directory or HF repo id; default the
            `laion/larger_clap_music` cache entry).
        weights: see `name`.
        device: where VGGish/CLAP run.

    Raises:
        UnknownComponentError: unknown name. MissingWeightsError: weights not found.
    """
    if name == "mel":
        if weights is not None:
            raise ConfigError("the mel backbone is weight-free; drop --weights or pick --backbone vggish/clap")
        return MelStatsBackbone()
    if name == "vggish":
        if weights is None:
            raise MissingWeightsError(
                f"the vggish backbone needs --weights PATH (a torchvggish state dict, {VGGISH_URL})"
            )
        return VGGishBackbone.from_pretrained(weights, device=device)
    if name == "clap":
        return ClapBackbone(load_clap_embedder(weights).to(device))
    raise UnknownComponentError(f"unknown embedding backbone {name!r}; known: {', '.join(BACKBONES)}")
