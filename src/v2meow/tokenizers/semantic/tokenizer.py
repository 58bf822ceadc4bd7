"""`SemanticTokenizer`: a backbone layer + nearest-centroid k-means, saved as a component directory.

Where the backbone weights live is a choice recorded in `config.json`:

- `backbone_weights: null` — inline: the backbone's tensors go into `model.safetensors`
  next to the centroids. Used for the weight-free `mel` backbone (nothing to store), tiny
  debug backbones and anything small or trained in-house.
- `backbone_weights: "facebook/w2v-bert-2.0"` (or a local directory) — referenced: only the
  centroids are stored; the pretrained model (hundreds of MB, under its own licence) is
  loaded from that directory or the Hugging Face cache with `local_files_only=True`. The
  architecture (`backbone_spec`) is still recorded, so the contract (dims, rates, layer)
  is checked when the weights are loaded. `from_pretrained(dir, backbone_weights=...)`
  points a moved tokenizer at another copy of the same weights.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

from v2meow.components import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    Component,
    ComponentConfig,
    load_state_strict,
    read_weights,
)
from v2meow.errors import ConfigError, MissingWeightsError
from v2meow.safety.outputs import atomic_output
from v2meow.tokenizers.semantic._audio import prepare_waveform
from v2meow.tokenizers.semantic.backbone import (
    SemanticBackbone,
    iter_features,
    module_device,
)
from v2meow.tokenizers.semantic.registry import build_backbone, load_backbone


@dataclasses.dataclass
class SemanticTokenizerConfig(ComponentConfig):
    """Architecture and contract of a semantic tokenizer.

    Attributes:
        backbone: `mel`, `hubert` or `w2v-bert`.
        backbone_spec: what rebuilds the backbone architecture (its `spec()`: layer,
            rates, the transformers config dict, ...).
        backbone_weights: None (weights inline in model.safetensors) or the local
            directory / HF repo id the pretrained backbone is loaded from.
        num_clusters: k-means K, the vocabulary size.
        dim: feature dimension (the backbone's).
        sample_rate: input rate in Hz; other rates are resampled.
        frame_rate: tokens per second (backbone frame rate / average_frames).
        average_frames: consecutive backbone frames averaged into one token (1 or 2).
        normalize: features are standardised with the stored mean/std before assignment.
        chunk_seconds: audio per backbone call when encoding (bounds memory).
    """

    model_type: ClassVar[str] = "semantic_tokenizer"

    backbone: str = "mel"
    backbone_spec: dict[str, Any] = dataclasses.field(default_factory=dict)
    backbone_weights: str | None = None
    num_clusters: int = 1024
    dim: int = 128
    sample_rate: int = 16000
    frame_rate: float = 50.0
    average_frames: int = 1
    normalize: bool = False
    chunk_seconds: float = 30.0

    def __post_init__(self):
        if self.num_clusters < 1 or self.dim < 1:
            raise ConfigError(
                f"semantic_tokenizer: num_clusters and dim must be positive ({self.num_clusters}, {self.dim})"
            )
        if self.average_frames < 1:
            raise ConfigError(f"semantic_tokenizer: average_frames must be >= 1, got {self.average_frames}")
        if not self.chunk_seconds > 0:
            raise ConfigError(f"semantic_tokenizer: chunk_seconds must be positive, got {self.chunk_seconds}")


class SemanticTokenizer(Component):
    """Audio -> semantic token ids `[T]` at `frame_rate`, vocabulary `vocab_size`.

    Args:
        config: the architecture and contract.
        backbone: an already built (e.g. pretrained) backbone; default: built from
            `config.backbone_spec` with random weights (no I/O).
    """

    config_class = SemanticTokenizerConfig
    config: SemanticTokenizerConfig

    def __init__(self, config: SemanticTokenizerConfig, backbone: SemanticBackbone | None = None):
        super().__init__(config)
        backbone = backbone if backbone is not None else build_backbone(config.backbone, config.backbone_spec)
        _check_contract(config, backbone)
        self.backbone = backbone
        self.quantizer = Centroids(config.num_clusters, config.dim)

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def frame_rate(self) -> float:
        return self.config.frame_rate

    @property
    def vocab_size(self) -> int:
        return self.config.num_clusters

    @classmethod
    def from_backbone(
        cls,
        backbone: SemanticBackbone,
        centroids: torch.Tensor | np.ndarray,
        mean: torch.Tensor | np.ndarray | None = None,
        std: torch.Tensor | np.ndarray | None = None,
        average_frames: int = 1,
        chunk_seconds: float = 30.0,
        backbone_weights: str | None = None,
    ) -> SemanticTokenizer:
        """Assemble a tokenizer from a backbone and fitted centroids `[K, dim]` (+ mean/std `[dim]`)."""
        centroids = torch.as_tensor(np.asarray(centroids), dtype=torch.float32)
        if centroids.dim() != 2 or centroids.shape[1] != backbone.dim:
            raise ConfigError(f"centroids must be [K, {backbone.dim}], got {tuple(centroids.shape)}")
        config = SemanticTokenizerConfig(
            backbone=backbone.name,
            backbone_spec=backbone.spec(),
            backbone_weights=backbone_weights,
            num_clusters=centroids.shape[0],
            dim=backbone.dim,
            sample_rate=backbone.sample_rate,
            frame_rate=backbone.frame_rate / average_frames,
            average_frames=average_frames,
            normalize=mean is not None,
            chunk_seconds=chunk_seconds,
        )
        tok = cls(config, backbone=backbone)
        tok.quantizer.set(centroids, mean, std)
        return tok.to(module_device(backbone))

    @torch.inference_mode()
    def features(self, wav: torch.Tensor | np.ndarray, sample_rate: int | None) -> torch.Tensor:
        """Backbone features `[T, dim]` (frame-averaged, not normalised) of `[N]` or `[C, N]` audio."""
        wav = prepare_waveform(wav, sample_rate, self.sample_rate)
        chunks = iter_features(self.backbone, wav, self.config.chunk_seconds, self.config.average_frames)
        return torch.cat(list(chunks)).cpu()

    @torch.inference_mode()
    def encode(self, wav: torch.Tensor | np.ndarray, sample_rate: int | None) -> torch.Tensor:
        """Token ids of `[N]` or `[C, N]` audio (channels averaged, resampled to `sample_rate`).

        Long audio is processed in `chunk_seconds` pieces, each with about a second of
        context on both sides, so memory does not grow with the length.

        Args:
            wav: float audio.
            sample_rate: rate of `wav` (None: already at `self.sample_rate`).

        Returns:
            LongTensor `[T]`, `T = N' // hop // average_frames` for `N'` resampled samples.

        Raises:
            BadAudioError: NaN/inf samples or a bad shape.
            AudioTooShortError: shorter than one token.
        """
        wav = prepare_waveform(wav, sample_rate, self.sample_rate)
        chunks = iter_features(self.backbone, wav, self.config.chunk_seconds, self.config.average_frames)
        return torch.cat([self.quantizer.assign(f) for f in chunks]).cpu()

    def save_pretrained(self, directory: str | os.PathLike) -> Path:
        """Write config.json + model.safetensors; a referenced backbone's weights are not copied."""
        if self.config.backbone_weights is None:
            return super().save_pretrained(directory)
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.config.save(directory / CONFIG_NAME)
        state = {f"quantizer.{k}": v.detach().contiguous().cpu() for k, v in self.quantizer.state_dict().items()}
        with atomic_output(directory / WEIGHTS_NAME) as tmp:
            save_file(state, str(tmp), metadata={"model_type": self.config.model_type})
        return directory

    @classmethod
    def from_pretrained(
        cls,
        directory: str | os.PathLike,
        map_location: str | torch.device = "cpu",
        backbone_weights: str | None = None,
    ) -> SemanticTokenizer:
        """Load a tokenizer directory; a referenced backbone comes from `backbone_weights` or the config's.

        Raises:
            MissingWeightsError: no such directory, or the referenced backbone is not local.
            ConfigError: config and weights disagree (names the tensors).
        """
        directory = Path(directory)
        if not (directory / CONFIG_NAME).is_file():
            raise MissingWeightsError(f"{directory}: not a semantic tokenizer directory (no {CONFIG_NAME})")
        config = SemanticTokenizerConfig.load(directory / CONFIG_NAME)
        source = backbone_weights or config.backbone_weights
        if source is None:
            return super().from_pretrained(directory, map_location=map_location)
        spec = dict(config.backbone_spec)
        spec.pop("config", None)
        layer = spec.pop("layer", None)
        backbone = load_backbone(config.backbone, source, layer=layer, **spec)
        tok = cls(config, backbone=backbone)
        path = directory / WEIGHTS_NAME
        state = read_weights(path, map_location)
        own = {k.removeprefix("quantizer."): v for k, v in state.items() if k.startswith("quantizer.")}
        extra = sorted(k for k in state if not k.startswith("quantizer."))
        if extra:
            raise ConfigError(f"{path}: weights do not match the config: unexpected {', '.join(extra[:3])}")
        load_state_strict(tok.quantizer, own, source=str(path))
        return tok.to(map_location)


class Centroids(nn.Module):
    """k-means centroids `[K, D]` with the feature mean/std `[D]` they were fitted on."""

    def __init__(self, num_clusters: int, dim: int):
        super().__init__()
        self.register_buffer("centroids", torch.zeros(num_clusters, dim))  # [K, D], in normalised space
        self.register_buffer("mean", torch.zeros(dim))  # [D]
        self.register_buffer("std", torch.ones(dim))  # [D]

    def set(self, centroids: torch.Tensor, mean: Any = None, std: Any = None) -> None:
        self.centroids.copy_(torch.as_tensor(np.asarray(centroids), dtype=torch.float32))
        if mean is not None:
            self.mean.copy_(torch.as_tensor(np.asarray(mean), dtype=torch.float32))
        if std is not None:
            self.std.copy_(torch.as_tensor(np.asarray(std), dtype=torch.float32))

    def assign(self, feats: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
        """Nearest centroid (squared Euclidean) of each row of `feats` `[T, D]` -> `[T]` int64."""
        c = self.centroids  # [K, D]
        c_sq = c.square().sum(1)  # [K]
        out = []
        for x in feats.to(c.device).float().split(chunk):
            x = (x - self.mean) / self.std  # [t, D]
            out.append(torch.addmm(c_sq, x, c.T, alpha=-2.0).argmin(1))  # ||c||^2 - 2 x.c : [t, K] -> [t]
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.long, device=c.device)


def _check_contract(config: SemanticTokenizerConfig, backbone: SemanticBackbone) -> None:
    problems = []
    if backbone.name != config.backbone:
        problems.append(f"backbone {backbone.name!r} vs {config.backbone!r}")
    if backbone.dim != config.dim:
        problems.append(f"dim {backbone.dim} vs {config.dim}")
    if backbone.sample_rate != config.sample_rate:
        problems.append(f"sample_rate {backbone.sample_rate} vs {config.sample_rate}")
    if not math.isclose(backbone.frame_rate / config.average_frames, config.frame_rate, rel_tol=1e-6):
        problems.append(f"frame_rate {backbone.frame_rate / config.average_frames:g} vs {config.frame_rate:g}")
    if problems:
        raise ConfigError("semantic tokenizer: backbone does not match the config: " + "; ".join(problems))
