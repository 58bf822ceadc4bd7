"""`w2v-bert`: one hidden layer of transformers' `Wav2Vec2BertModel` (w2v-BERT 2.0).

w2v-BERT 2.0 (`facebook/w2v-bert-2.0`, 600M parameters, 24 conformer layers, 1024-d) reads
80-bin Kaldi-style log-mel fbanks at 100 Hz, stacked in pairs (160-d at 50 Hz), made by
`SeamlessM4TFeatureExtractor`. MusicLM took its k-means tokens from layer 7 of the
original (unreleased) w2v-BERT; with 2.0, layer 7 is the default here and any layer may
be chosen.
"""

from __future__ import annotations

from typing import Any

import numpy as np
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

DEFAULT_WEIGHTS = "facebook/w2v-bert-2.0"
DEFAULT_LAYER = 7
_FBANK_WINDOW, _FBANK_HOP = 400, 160  # SeamlessM4TFeatureExtractor's fixed 25 ms / 10 ms at 16 kHz
_EXTRACTOR_KEYS = ("feature_size", "num_mel_bins", "sampling_rate", "stride", "padding_value")


def tiny_w2v_bert_config(**overrides: Any):
    """A tiny w2v-BERT (32-d, 2 conformer layers, default 160-d fbank input) for tests."""
    from transformers import Wav2Vec2BertConfig

    kw = dict(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        feature_projection_input_dim=160,
        conv_depthwise_kernel_size=3,
    )
    kw.update(overrides)
    return Wav2Vec2BertConfig(**kw)


class W2VBertBackbone(TransformersBackbone):
    """Hidden states after conformer block `layer` (1-based) of a Wav2Vec2BertModel.

    Frames: 25-ms fbank windows every 10 ms, stacked by `stride` (2) -> 50 Hz at 16 kHz.
    The waveform is zero-padded by 120 samples at each end so `N` samples give exactly
    `N // 320` frames. Fbanks are normalised per mel bin over each chunk (with its
    context), as the feature extractor does per utterance.

    Args:
        model: a `transformers.Wav2Vec2BertModel`.
        layer: 1-based block whose output is returned.
        extractor: `SeamlessM4TFeatureExtractor` keyword arguments (default: its defaults,
            80 bins, 16 kHz, stride 2).
    """

    name = "w2v-bert"
    model_class, config_class, default_layer = "Wav2Vec2BertModel", "Wav2Vec2BertConfig", DEFAULT_LAYER
    tiny_config = staticmethod(tiny_w2v_bert_config)

    def __init__(self, model, layer: int = DEFAULT_LAYER, extractor: dict[str, Any] | None = None):
        from transformers import SeamlessM4TFeatureExtractor

        extractor = {k: v for k, v in (extractor or {}).items() if k in _EXTRACTOR_KEYS}
        fe = SeamlessM4TFeatureExtractor(**extractor)
        in_dim = fe.num_mel_bins * fe.stride
        if in_dim != model.config.feature_projection_input_dim:
            raise ConfigError(
                f"w2v-bert: extractor gives {in_dim}-d frames ({fe.num_mel_bins} bins x stride {fe.stride}) "
                f"but the model reads {model.config.feature_projection_input_dim}-d"
            )
        super().__init__(fe.sampling_rate, _FBANK_HOP * fe.stride, model.config.hidden_size)
        self.extractor = fe
        truncate_layers(model, layer, self.name)
        self.model = model.eval()
        self.layer = int(layer)
        self._tap = LayerTap(model)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:  # [B, N] -> [B, N // hop, D]
        stride = self.extractor.stride
        n_frames = wav.shape[-1] // self.hop_length
        pad = (_FBANK_WINDOW - _FBANK_HOP) // 2
        # exactly stride * n_frames fbank frames
        length = _FBANK_WINDOW + _FBANK_HOP * (stride * n_frames - 1)
        x = F.pad(wav.float(), (pad, pad))[:, :length]  # [B, length]
        rows = [np.ascontiguousarray(r) for r in x.cpu().numpy()]
        fbank = self.extractor(rows, sampling_rate=self.sample_rate, return_tensors="pt", return_attention_mask=False)
        feats = fbank["input_features"].to(wav.device)  # [B, n_frames, bins * stride]
        self.model(input_features=feats)
        return self._tap.pop()[:, :n_frames]  # [B, T, D]

    def spec(self) -> dict[str, Any]:
        fe = self.extractor
        return {
            "layer": self.layer,
            "extractor": {k: getattr(fe, k) for k in _EXTRACTOR_KEYS},
            "config": config_dict(self.model.config),
        }

    @classmethod
    def load(
        cls, weights: str | None = None, layer: int | None = None, extractor: dict[str, Any] | None = None
    ) -> W2VBertBackbone:
        """Load w2v-BERT 2.0 from a local dir or the HF cache (`local_files_only`).

        Args:
            weights: directory or repo id (default `facebook/w2v-bert-2.0`).
            layer: 1-based block (default 7).
            extractor: fbank settings; default: the checkpoint's `preprocessor_config.json`.

        Raises:
            MissingWeightsError: not found locally; the message names what to download.
            ConfigError: the checkpoint does not fit Wav2Vec2BertModel, or a bad layer.
        """
        from transformers import Wav2Vec2BertConfig, Wav2Vec2BertModel

        weights = str(weights or DEFAULT_WEIGHTS)
        model, _ = load_hf(Wav2Vec2BertModel, Wav2Vec2BertConfig, weights, cls.name, DEFAULT_WEIGHTS)
        backbone = cls(
            model, layer=DEFAULT_LAYER if layer is None else layer, extractor=extractor or preprocessor_config(weights)
        )
        backbone.weights_source = weights
        return backbone
