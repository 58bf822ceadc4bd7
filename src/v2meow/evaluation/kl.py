"""KL divergence between classifier label distributions of reference and generated audio.

V2Meow runs a LEAF AudioSet classifier on both clips and reports KL(reference ||
generated) of the predicted label distributions (AudioGen and MusicGen do the same with
PaSST). The classifier is pluggable: any `AudioClassifier`, or a local Hugging Face
audio-classification checkpoint (e.g. an AudioSet AST) through `HFAudioClassifier`.
Without one, KL is skipped and the report says so.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np
import torch

from v2meow.errors import ConfigError, MissingWeightsError
from v2meow.media import resample

ACTIVATIONS = ("auto", "softmax", "sigmoid")


class AudioClassifier(ABC):
    """Mono audio in, one probability per label out."""

    name: str = "classifier"

    @property
    @abstractmethod
    def sample_rate(self) -> int:
        """Rate `probabilities` expects."""

    @property
    @abstractmethod
    def labels(self) -> list[str]:
        """Label names, in output order."""

    @abstractmethod
    def probabilities(self, wav: np.ndarray) -> np.ndarray:
        """Label probabilities `[L]` of mono `wav [N]` at `sample_rate`."""

    def predict(self, wav: np.ndarray, sample_rate: int) -> np.ndarray:
        """Resample mono `wav [N]` and classify it; returns `[L]` float64."""
        x = resample(np.asarray(wav, np.float32)[None], sample_rate, self.sample_rate)[0]
        return np.asarray(self.probabilities(x), dtype=np.float64)


def kl_divergence(target: np.ndarray, candidate: np.ndarray, eps: float = 1e-6) -> float:
    """KL(target || candidate) of two label-probability vectors `[L]`, each scaled to sum 1.

    Multi-label (sigmoid) outputs are thus read as a distribution over labels. `eps`
    keeps labels the candidate gives zero probability from making the value infinite.
    """
    p = np.asarray(target, np.float64)
    q = np.asarray(candidate, np.float64)
    if p.shape != q.shape or p.ndim != 1:
        raise ValueError(f"label vectors differ in shape: {p.shape} vs {q.shape}")
    p = p / max(p.sum(), 1e-12)
    q = q / max(q.sum(), 1e-12)
    return float(np.sum(p * (np.log(p + eps) - np.log(q + eps))))


class HFAudioClassifier(AudioClassifier):
    """A transformers audio-classification model; long audio is averaged over windows.

    Args:
        model: an `AutoModelForAudioClassification` model.
        feature_extractor: its feature extractor.
        activation: "softmax" (single-label) or "sigmoid" (multi-label, e.g. AudioSet).
        window_seconds: audio per forward pass.
        source: where it was loaded from.
    """

    def __init__(self, model, feature_extractor, activation: str, window_seconds: float, source: str = ""):
        if activation not in ("softmax", "sigmoid"):
            raise ConfigError(f"activation must be softmax or sigmoid, got {activation!r}")
        self.model = model.eval()
        self.feature_extractor = feature_extractor
        self.activation, self.window_seconds = activation, float(window_seconds)
        self.name = f"hf:{source or type(model).__name__}"

    @classmethod
    def from_pretrained(
        cls, path: str | os.PathLike, activation: str = "auto", device: str = "cpu"
    ) -> HFAudioClassifier:
        """Load a local checkpoint directory (never the network).

        Args:
            activation: "auto" picks sigmoid when the config's `problem_type` is
                multi-label, softmax otherwise.

        Raises:
            MissingWeightsError: no such directory or not a complete checkpoint.
        """
        from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

        if activation not in ACTIVATIONS:
            raise ConfigError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
        path = Path(path).expanduser()
        if not path.is_dir():
            raise MissingWeightsError(
                f"classifier {path}: no such directory; download an audio-classification checkpoint "
                "(e.g. an AudioSet AST such as MIT/ast-finetuned-audioset-10-10-0.4593) and pass its directory"
            )
        try:
            model = AutoModelForAudioClassification.from_pretrained(str(path), local_files_only=True)
            fe = AutoFeatureExtractor.from_pretrained(str(path), local_files_only=True)
        except (OSError, ValueError, KeyError) as e:
            raise MissingWeightsError(
                f"classifier {path}: not a usable audio-classification checkpoint ({str(e).splitlines()[0][:200]})"
            ) from None
        if activation == "auto":
            activation = "sigmoid" if model.config.problem_type == "multi_label_classification" else "softmax"
        return cls(model.to(device), fe, activation, _window_seconds(fe), source=str(path))

    @property
    def sample_rate(self) -> int:
        return int(self.feature_extractor.sampling_rate)

    @property
    def labels(self) -> list[str]:
        id2label = self.model.config.id2label
        return [str(id2label[i]) for i in range(len(id2label))]

    @torch.inference_mode()
    def probabilities(self, wav: np.ndarray) -> np.ndarray:
        seg = max(1, round(self.window_seconds * self.sample_rate))
        windows = [wav[s : s + seg] for s in range(0, max(1, wav.shape[0] - seg // 10), seg)] or [wav]
        inputs = self.feature_extractor(windows, sampling_rate=self.sample_rate, return_tensors="pt")
        device = next(self.model.parameters()).device
        logits = self.model(**{k: v.to(device) for k, v in inputs.items()}).logits.float()  # [W, L]
        probs = torch.sigmoid(logits) if self.activation == "sigmoid" else torch.softmax(logits, -1)
        return probs.mean(0).cpu().double().numpy()  # [L]


def _window_seconds(fe) -> float:
    """Audio one forward pass of the classifier reads, from its feature extractor."""
    for attr in ("max_length_s", "chunk_length"):
        if getattr(fe, attr, None):
            return float(getattr(fe, attr))
    if type(fe).__name__ == "ASTFeatureExtractor":  # max_length frames of 10 ms
        return fe.max_length / 100.0
    return 10.0
