"""`hubert`: one hidden layer of transformers' `HubertModel` (HuBERT, and MERT-style music HuBERT).

- HuBERT Base (`facebook/hubert-base-ls960`): 16 kHz, 50 Hz, 768-d; layer 6 is the usual
  k-means layer (GSLM). fairseq `.pt` checkpoints: convert with `v2meow-convert fairseq-hubert`.
- MERT (`m-a-p/MERT-v1-95M`, `m-a-p/MERT-v1-330M`): a HuBERT trained on music at 24 kHz
  (75 Hz). Its `config.json` is HubertConfig-like (`model_type` "mert_model"), so it loads
  here when the checkpoint uses no MERT-only module: `feature_extractor_cqt`, `deepnorm`
  and `attention_relax` must be off (MERT-v1-95M's released config has them off; check the
  config of larger variants). A checkpoint that uses them, or whose weights leave any
  HubertModel tensor unfilled, is refused with a `ConfigError` rather than run with
  silently random weights. The sample rate and waveform normalisation come from the
  checkpoint's `preprocessor_config.json`. (transformers warns that a `mert_model` config
  is read as `hubert`; that is expected.)
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from v2meow.errors import ConfigError
from v2meow.tokenizers.semantic._hf import (
    LayerTap,
    TransformersBackbone,
    config_dict,
    load_hf,
    preprocessor_config,
    truncate_layers,
)

DEFAULT_WEIGHTS = "facebook/hubert-base-ls960"
DEFAULT_LAYER = 6


def tiny_hubert_config(**overrides: Any):
    """A tiny HuBERT (32-d, 2 layers, 16 kHz -> 50 Hz) for tests and the debug preset."""
    from transformers import HubertConfig

    kw = dict(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        conv_dim=(32, 32, 32, 32),
        conv_stride=(5, 4, 4, 4),
        conv_kernel=(10, 4, 4, 4),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
    )
    kw.update(overrides)
    return HubertConfig(**kw)


def receptive_field(kernels: list[int], strides: list[int]) -> tuple[int, int]:
    """`(receptive field, total stride)` in samples of a stack of 1-D convolutions."""
    field, jump = 1, 1
    for k, s in zip(kernels, strides):
        field += (k - 1) * jump
        jump *= s
    return field, jump


class HubertBackbone(TransformersBackbone):
    """Hidden states after transformer block `layer` (1-based) of a HubertModel.

    Blocks after `layer` are dropped at construction. The waveform is zero-padded by
    `receptive_field - hop` samples (split between the ends) so that `N` samples give
    exactly `N // hop` frames, frame t centred on `[t*hop, (t+1)*hop)`.

    Args:
        model: a `transformers.HubertModel` (random or pretrained).
        layer: 1-based block whose output is returned.
        sample_rate: the rate the model was trained at (16000; 24000 for MERT).
        normalize_waveform: zero-mean/unit-variance each input (per chunk) as the
            checkpoint's feature extractor does (`do_normalize`).
    """

    name = "hubert"
    model_class, config_class, default_layer = "HubertModel", "HubertConfig", DEFAULT_LAYER
    default_weights = DEFAULT_WEIGHTS
    tiny_config = staticmethod(tiny_hubert_config)

    def __init__(self, model, layer: int = DEFAULT_LAYER, sample_rate: int = 16000, normalize_waveform: bool = False):
        cfg = model.config
        for flag in ("feature_extractor_cqt", "deepnorm"):
            if getattr(cfg, flag, False):
                raise ConfigError(f"hubert: checkpoint uses MERT's '{flag}', which HubertModel does not implement")
        if (getattr(cfg, "attention_relax", -1.0) or -1.0) > 0:
            raise ConfigError("hubert: checkpoint uses MERT's 'attention_relax', which HubertModel does not implement")
        field, hop = receptive_field(list(cfg.conv_kernel), list(cfg.conv_stride))
        super().__init__(sample_rate, hop, cfg.hidden_size)
        truncate_layers(model, layer, self.name)
        self.model = model.eval()
        self.layer = int(layer)
        self.normalize_waveform = bool(normalize_waveform)
        self.pad = max(0, field - hop)
        self._tap = LayerTap(model)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:  # [B, N] -> [B, N // hop, D]
        n_frames = wav.shape[-1] // self.hop_length
        x = wav.float()
        if self.normalize_waveform:
            x = (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, keepdim=True, unbiased=False) + 1e-7)
        x = F.pad(x, (self.pad // 2, self.pad - self.pad // 2))  # [B, N + pad]
        self.model(input_values=x)
        return self._tap.pop()[:, :n_frames]  # [B, T, D]

    def spec(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "sample_rate": self.sample_rate,
            "normalize_waveform": self.normalize_waveform,
            "config": config_dict(self.model.config),
        }

    @classmethod
    def load(
        cls,
        weights: str | None = None,
        layer: int | None = None,
        sample_rate: int | None = None,
        normalize_waveform: bool | None = None,
    ) -> HubertBackbone:
        """Load a HuBERT/MERT checkpoint from a local dir or the HF cache (`local_files_only`).

        Args:
            weights: directory or repo id (default `cls.default_weights`: `facebook/hubert-base-ls960`,
                `m-a-p/MERT-v1-95M` for `mert`).
            layer: 1-based block (default `cls.default_layer`).
            sample_rate, normalize_waveform: override the checkpoint's preprocessor config.

        Raises:
            MissingWeightsError: not found locally; the message names what to download.
            ConfigError: the checkpoint does not fit HubertModel, or a bad layer.
        """
        from transformers import HubertConfig, HubertModel

        weights = str(weights or cls.default_weights)
        model, _ = load_hf(HubertModel, HubertConfig, weights, cls.name, cls.default_weights)
        pre = preprocessor_config(weights)
        backbone = cls(
            model,
            layer=cls.default_layer if layer is None else layer,
            sample_rate=sample_rate or int(pre.get("sampling_rate", 16000)),
            normalize_waveform=bool(pre.get("do_normalize", False))
            if normalize_waveform is None
            else normalize_waveform,
        )
        backbone.weights_source = weights
        return backbone


class MertBackbone(HubertBackbone):
    """`mert`: MERT (`m-a-p/MERT-v1-95M`), a HuBERT trained on music at 24 kHz (75 Hz frames),
    loaded through `HubertModel` (see the module docstring for the checkpoints that fit)."""

    name = "mert"
    default_weights = "m-a-p/MERT-v1-95M"
