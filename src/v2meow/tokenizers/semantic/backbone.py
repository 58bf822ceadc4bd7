"""The semantic backbone interface, the backbone registry, and chunked feature extraction.

A backbone maps a mono waveform at `sample_rate` to one feature vector per
`hop_length` samples: `forward(wav [B, N]) -> [B, N // hop_length, dim]`. Every backbone
pads internally so that this count holds exactly, which makes chunked extraction of long
audio line up frame for frame with a single pass.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, ClassVar

import torch
from torch import nn

from v2meow.errors import ConfigError
from v2meow.tokenizers.semantic._audio import AudioTooShortError


class SemanticBackbone(nn.Module):
    """Base of the backbones: a frozen feature extractor with a fixed frame grid.

    Subclasses set `name`, `sample_rate`, `hop_length`, `dim`, implement `forward` and
    `spec()` (a JSON-friendly dict from which `from_spec` rebuilds the same architecture
    with random weights, no I/O), and may set `weights_source` when loaded from a local
    directory or a Hugging Face repo id.
    """

    name: ClassVar[str] = ""
    #: Whether the backbone has weights at all (the `mel` backbone has none).
    has_weights: ClassVar[bool] = True

    def __init__(self, sample_rate: int, hop_length: int, dim: int):
        super().__init__()
        self.sample_rate = int(sample_rate)
        self.hop_length = int(hop_length)
        self.dim = int(dim)
        self.weights_source: str | None = None  # local dir or repo id the weights came from

    @property
    def frame_rate(self) -> float:
        """Feature frames per second."""
        return self.sample_rate / self.hop_length

    @property
    def context_samples(self) -> int:
        """Samples of context added on each side of a chunk in chunked extraction (multiple of hop)."""
        return self.hop_length * max(1, round(self.frame_rate))  # about one second

    def num_frames(self, num_samples: int) -> int:
        return num_samples // self.hop_length

    def train(self, mode: bool = True) -> SemanticBackbone:
        """Backbones are frozen feature extractors: they always stay in eval mode."""
        return super().train(False)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:  # [B, N] -> [B, N // hop, dim]
        raise NotImplementedError

    def spec(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> SemanticBackbone:
        raise NotImplementedError

    @classmethod
    def load(cls, weights: str | None, layer: int | None = None, **options: Any) -> SemanticBackbone:
        """Load pretrained weights from a local directory or the HF cache (never the network)."""
        raise NotImplementedError


class WeightFreeBackbone(SemanticBackbone):
    """A backbone computed from the audio alone (`mel`, `mel-pitch`): built from its spec, no weights."""

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> WeightFreeBackbone:
        try:
            return cls(**spec)
        except TypeError as e:
            raise ConfigError(f"{cls.name} backbone: bad spec ({e})") from None

    @classmethod
    def load(cls, weights: str | None = None, layer: int | None = None, **options: Any) -> WeightFreeBackbone:
        """No weights: `weights` must be None and `layer` is ignored; `options` go to the constructor."""
        if weights is not None:
            raise ConfigError(f"the {cls.name} backbone has no weights; drop --weights")
        return cls.from_spec(options)


def min_samples(backbone: SemanticBackbone, average_frames: int = 1) -> int:
    """Fewest samples that give one output frame."""
    return backbone.hop_length * average_frames


@torch.inference_mode()
def iter_features(
    backbone: SemanticBackbone,
    wav: torch.Tensor,
    chunk_seconds: float = 30.0,
    average_frames: int = 1,
) -> Iterator[torch.Tensor]:
    """Features of a long mono waveform, chunk by chunk, so memory stays bounded.

    Each chunk is extracted with `backbone.context_samples` of real audio on both sides
    (where available) and trimmed back, so chunk edges see their neighbours.

    Args:
        backbone: the feature extractor.
        wav: `[N]` mono float audio at `backbone.sample_rate`.
        chunk_seconds: audio per backbone call (rounded to whole output frames).
        average_frames: average this many consecutive frames (2 halves the rate, as MusicLM's 25 Hz).

    Yields:
        `[t, dim]` float32 feature chunks; together `N // hop // average_frames` frames.

    Raises:
        AudioTooShortError: `wav` is shorter than one output frame.
    """
    hop, avg = backbone.hop_length, int(average_frames)
    n = wav.shape[-1]
    total = (n // hop) // avg * avg  # backbone frames that make whole output frames
    if total == 0:
        need = min_samples(backbone, avg)
        raise AudioTooShortError(
            f"audio has {n} samples ({n / backbone.sample_rate:.4f}s); one token needs at least {need} "
            f"({need / backbone.sample_rate:.4f}s at {backbone.sample_rate} Hz)"
        )
    step = max(1, round(chunk_seconds * backbone.sample_rate / (hop * avg))) * hop * avg
    ctx = math.ceil(backbone.context_samples / hop) * hop
    device = module_device(backbone)
    for start in range(0, total * hop, step):
        end = min(start + step, total * hop)
        lo, hi = max(0, start - ctx), min(n, end + ctx)
        feats = backbone(wav[lo:hi].to(device)[None])[0]  # [(hi - lo) // hop, D]
        first = (start - lo) // hop
        feats = feats[first : first + (end - start) // hop].float()  # [t, D]
        if avg > 1:
            feats = feats.reshape(-1, avg, feats.shape[-1]).mean(1)  # [t / avg, D]
        yield feats


def module_device(module: nn.Module) -> torch.device:
    """Device of a module's first parameter or buffer (CPU when it has neither)."""
    for t in module.parameters():
        return t.device
    for t in module.buffers():
        return t.device
    return torch.device("cpu")
