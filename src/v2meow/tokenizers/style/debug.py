"""A tiny random CLAP for tests and the `debug` preset, built in memory (no file is read).

It uses the real transformers classes (`ClapModel`, `ClapFeatureExtractor`, a byte-level
`RobertaTokenizer`), only small: a 2-stage HTSAT on 16 mel bins of 8 kHz audio, a
1-layer text encoder and 16-d embeddings. Its outputs mean nothing.
"""

from __future__ import annotations

import torch

from v2meow.tokenizers.style.clap import ClapStyleEmbedder

#: Architecture of the debug model (a transformers `ClapConfig` as keyword arguments).
DEBUG_CLAP_CONFIG = {
    "projection_dim": 16,
    "text_config": {
        "hidden_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "max_position_embeddings": 66,
    },
    "audio_config": {
        "spec_size": 64,  # 256 time frames x 16 mel bins, seen as a 64 x 64 image
        "num_mel_bins": 16,
        "window_size": 4,
        "depths": [1, 1],
        "num_attention_heads": [2, 2],
        "patch_embeds_hidden_size": 16,
        "hidden_size": 32,  # patch_embeds_hidden_size * 2 ** (len(depths) - 1)
    },
}
#: 10-s windows of 8 kHz audio -> 251 frames of 16 mel bins (the model reads up to 256).
DEBUG_FEATURE_EXTRACTOR = {
    "feature_size": 16,
    "sampling_rate": 8000,
    "hop_length": 320,
    "max_length_s": 10,
    "fft_window_size": 512,
    "frequency_min": 0,
    "frequency_max": 4000,
    "truncation": "rand_trunc",
    "padding": "repeatpad",
}


def debug_tokenizer():
    """A byte-level BPE `RobertaTokenizer` with no merges: one token per UTF-8 byte (261 ids)."""
    from transformers import RobertaTokenizer

    from tokenizers import pre_tokenizers

    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for ch in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[ch] = len(vocab)
    vocab["<mask>"] = len(vocab)
    return RobertaTokenizer(vocab=vocab, merges=[], model_max_length=64)


def debug_clap(seed: int = 0, batch_size: int = 8) -> ClapStyleEmbedder:
    """Build the tiny CLAP style embedder with weights drawn from `seed` (global RNG untouched)."""
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel

    tokenizer = debug_tokenizer()
    kwargs = {**DEBUG_CLAP_CONFIG, "text_config": {**DEBUG_CLAP_CONFIG["text_config"], "vocab_size": len(tokenizer)}}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = ClapModel(ClapConfig(**kwargs))
    feature_extractor = ClapFeatureExtractor(**DEBUG_FEATURE_EXTRACTOR)
    return ClapStyleEmbedder(model, feature_extractor, tokenizer, source="", batch_size=batch_size)
