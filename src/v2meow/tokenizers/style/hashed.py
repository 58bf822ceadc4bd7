"""`hashed-text`: a weight-free, text-only style embedder for captioned data.

For machines and bundles with no pretrained weights (the demo bundle, tests), where
each clip has a caption made of genre and tempo words ("fast", "slow", "ambient",
"drum and bass"). The same embedder is used at training (the clip's caption) and at
generation (the prompt), so the two meet in one space without any learned text tower.

A caption is lower-cased (Unicode case folding, NFKC) and split into words (runs of
letters/digits) and punctuation marks. Its features are the words, adjacent word pairs
and the character trigrams of each word (so "drum" and "drums" share most of theirs).
Each feature is hashed (BLAKE2b, stable across runs and machines) to one of
`num_buckets` buckets with a sign; the weighted bucket counts are multiplied by a fixed
random Gaussian projection `[num_buckets, dim]` drawn from `seed`, and the result is
scaled to unit norm. Captions that share words therefore have a high cosine
similarity, and unrelated ones are near orthogonal.

The projection is stored in `model.safetensors`, so a saved embedder gives identical
embeddings even if the random generator ever changes. It has no audio tower:
`embed_audio` raises `UnsupportedInputError`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import unicodedata

import torch

from v2meow.components import ComponentConfig
from v2meow.errors import ConfigError
from v2meow.tokenizers.style.base import StyleEmbedder

_TOKEN = re.compile(r"\w+|[^\w\s]")


@dataclasses.dataclass
class HashedTextConfig(ComponentConfig):
    """Settings of `HashedTextEmbedder` (every field changes its output).

    Args:
        dim: embedding size.
        num_buckets: hash buckets (rows of the projection).
        seed: seed of the projection and of the hash.
        char_ngram: character n-gram length (0 disables character features).
        word_weight: weight of each word.
        pair_weight: weight of each adjacent word pair.
        char_weight: total weight of one word's character n-grams.
    """

    model_type = "hashed-text"

    dim: int = 128
    num_buckets: int = 4096
    seed: int = 0
    char_ngram: int = 3
    word_weight: float = 1.0
    pair_weight: float = 0.5
    char_weight: float = 0.5

    def __post_init__(self) -> None:
        if self.dim < 1 or self.num_buckets < 1:
            raise ConfigError(f"hashed-text: dim and num_buckets must be >= 1, got {self.dim}, {self.num_buckets}")
        if not 0 <= self.seed < 2**63:
            raise ConfigError(f"hashed-text: seed must be in [0, 2**63), got {self.seed}")
        if not self.word_weight > 0:
            raise ConfigError(f"hashed-text: word_weight must be > 0, got {self.word_weight}")
        if self.char_ngram < 0:
            raise ConfigError(f"hashed-text: char_ngram must be >= 0, got {self.char_ngram}")


class HashedTextEmbedder(StyleEmbedder):
    """Bag of hashed word, word-pair and character n-gram features, randomly projected.

    Args:
        config: the settings; default `HashedTextConfig()` (128-d).
    """

    name = "hashed-text"
    config_class = HashedTextConfig
    config: HashedTextConfig

    def __init__(self, config: HashedTextConfig | None = None):
        super().__init__(config or HashedTextConfig())
        gen = torch.Generator().manual_seed(self.config.seed)
        projection = torch.randn(
            self.config.num_buckets, self.config.dim, generator=gen, device="cpu"
        )  # [K, D] from the CPU generator
        self.register_buffer("projection", projection / self.config.dim**0.5)

    @property
    def dim(self) -> int:
        return self.config.dim

    @property
    def id(self) -> str:
        c = self.config
        return f"hashed-text:d{c.dim}-k{c.num_buckets}-s{c.seed}-n{c.char_ngram}"

    def features(self, text: str) -> dict[str, float]:
        """The weighted features of one caption (useful to see why two captions are close)."""
        c = self.config
        words = _TOKEN.findall(unicodedata.normalize("NFKC", text).casefold())
        feats: dict[str, float] = {}

        def add(key: str, w: float) -> None:
            feats[key] = feats.get(key, 0.0) + w

        for w in words:
            add("w:" + w, c.word_weight)
            if c.char_ngram and c.char_weight:
                padded = f"<{w}>"
                grams = [padded[i : i + c.char_ngram] for i in range(max(1, len(padded) - c.char_ngram + 1))]
                for g in grams:
                    add("c:" + g, c.char_weight / len(grams))
        for a, b in zip(words, words[1:]):
            add(f"p:{a} {b}", c.pair_weight)
        return feats

    def _bucket(self, key: str) -> tuple[int, float]:
        digest = hashlib.blake2b(
            key.encode("utf-8"), digest_size=8, salt=self.config.seed.to_bytes(8, "little")
        ).digest()
        h = int.from_bytes(digest, "little")
        return (h >> 1) % self.config.num_buckets, 1.0 if h & 1 else -1.0

    def _embed_texts(self, texts: list[str]) -> torch.Tensor:
        counts = torch.zeros(len(texts), self.config.num_buckets)  # [B, K]
        for i, text in enumerate(texts):
            for key, weight in self.features(text).items():
                bucket, sign = self._bucket(key)
                counts[i, bucket] += sign * weight
        counts = counts.to(self.projection)
        # Row by row: a batched matmul may sum in another order (other kernels for other batch
        # sizes), and a text must embed to the same bits whatever batch it comes in.
        return torch.stack([row @ self.projection for row in counts])  # [B, D]

    def _embed_windows(self, windows: list[torch.Tensor]) -> torch.Tensor:  # pragma: no cover - guarded
        raise AssertionError("text-only embedder")
