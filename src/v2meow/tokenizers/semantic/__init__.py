"""Semantic tokens: one hidden layer of an audio backbone, quantised by k-means.

Backbones (`list_backbones()`): `w2v-bert` (w2v-BERT 2.0), `hubert` (HuBERT), `mert` (MERT), and
`mel` (weight-free log-mel; weaker, for demos and tests), `mel-pitch` (weight-free log-mel beside
chroma, pitch salience and onset strength). `fit_kmeans` fits the
centroids by streaming features; `SemanticTokenizer.encode` maps audio to `[T]` ids.
fairseq HuBERT checkpoints convert with `convert_fairseq_hubert`.
"""

from v2meow.tokenizers.semantic._audio import AudioTooShortError, BadAudioError
from v2meow.tokenizers.semantic.backbone import SemanticBackbone, iter_features
from v2meow.tokenizers.semantic.fairseq_load import convert_fairseq_hubert
from v2meow.tokenizers.semantic.frames import (
    TokenFrames,
    fit_token_frames,
    load_token_frames,
    save_token_frames,
    sketch,
)
from v2meow.tokenizers.semantic.hubert import (
    HubertBackbone,
    MertBackbone,
    tiny_hubert_config,
)
from v2meow.tokenizers.semantic.kmeans import (
    FitReport,
    KMeansResult,
    fit_centroids,
    fit_kmeans,
)
from v2meow.tokenizers.semantic.mel import MelBackbone
from v2meow.tokenizers.semantic.pitch import PitchMelBackbone
from v2meow.tokenizers.semantic.registry import (
    build_backbone,
    list_backbones,
    load_backbone,
)
from v2meow.tokenizers.semantic.tokenizer import (
    SemanticTokenizer,
    SemanticTokenizerConfig,
)
from v2meow.tokenizers.semantic.w2v_bert import W2VBertBackbone, tiny_w2v_bert_config

__all__ = [
    "AudioTooShortError",
    "BadAudioError",
    "FitReport",
    "HubertBackbone",
    "KMeansResult",
    "MelBackbone",
    "MertBackbone",
    "PitchMelBackbone",
    "SemanticBackbone",
    "SemanticTokenizer",
    "SemanticTokenizerConfig",
    "TokenFrames",
    "W2VBertBackbone",
    "build_backbone",
    "convert_fairseq_hubert",
    "fit_centroids",
    "fit_kmeans",
    "fit_token_frames",
    "iter_features",
    "list_backbones",
    "load_backbone",
    "load_token_frames",
    "save_token_frames",
    "sketch",
    "tiny_hubert_config",
    "tiny_w2v_bert_config",
]
