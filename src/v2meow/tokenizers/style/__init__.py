"""Style embedders: captions and music in one space (docs/architecture.md).

    emb = build_style_embedder("clap")                 # laion/larger_clap_music from the HF cache
    emb = build_style_embedder("clap", debug=True)     # tiny random CLAP, no files
    emb = build_style_embedder("hashed-text")          # weight-free, text only
    emb.save_pretrained("out/style"); emb = load_style_embedder("out/style")

`embed_clip_audio(wav, sr)` is V2Meow's training target (per-10-s-segment average),
`embed_text(prompt)` its generation-time condition; both `[dim]`, unit norm.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from v2meow.components import CONFIG_NAME, read_json_config
from v2meow.errors import ConfigError, MissingWeightsError, UnknownComponentError
from v2meow.tokenizers.style.base import (
    StyleEmbedder,
    UnsupportedInputError,
    prepare_audio,
    validate_texts,
)
from v2meow.tokenizers.style.clap import (
    DEFAULT_CLAP_REPO,
    KNOWN_CLAP_REPOS,
    ClapStyleConfig,
    ClapStyleEmbedder,
)
from v2meow.tokenizers.style.hashed import HashedTextConfig, HashedTextEmbedder

#: config.json `model_type` -> class (a plain transformers CLAP directory has model_type "clap").
_BY_MODEL_TYPE: dict[str, type[StyleEmbedder]] = {
    ClapStyleConfig.model_type: ClapStyleEmbedder,
    "clap": ClapStyleEmbedder,
    HashedTextConfig.model_type: HashedTextEmbedder,
}
STYLE_EMBEDDERS = ("clap", "hashed-text")

__all__ = [
    "DEFAULT_CLAP_REPO",
    "KNOWN_CLAP_REPOS",
    "STYLE_EMBEDDERS",
    "ClapStyleConfig",
    "ClapStyleEmbedder",
    "HashedTextConfig",
    "HashedTextEmbedder",
    "StyleEmbedder",
    "UnsupportedInputError",
    "build_style_embedder",
    "list_style_embedders",
    "load_style_embedder",
    "prepare_audio",
    "validate_texts",
]


def list_style_embedders() -> list[str]:
    """Names `build_style_embedder` accepts."""
    return list(STYLE_EMBEDDERS)


def build_style_embedder(name: str, debug: bool = False, **kwargs: Any) -> StyleEmbedder:
    """Build a style embedder by name.

    Args:
        name: "clap" or "hashed-text".
        debug: for "clap", the tiny random model (no files read).
        **kwargs: "clap": `source` (repo id or directory, default `DEFAULT_CLAP_REPO`),
            `batch_size`; "hashed-text": `HashedTextConfig` fields.
    """
    if name == "clap":
        if debug:
            from v2meow.tokenizers.style.debug import debug_clap

            return debug_clap(**kwargs)
        return ClapStyleEmbedder.from_source(**kwargs)
    if name == "hashed-text":
        try:
            return HashedTextEmbedder(HashedTextConfig(**kwargs))
        except TypeError as e:
            raise ConfigError(f"hashed-text: {e}") from None
    raise UnknownComponentError(f"unknown style embedder {name!r}; known: {', '.join(STYLE_EMBEDDERS)}")


def load_style_embedder(directory: str | os.PathLike, map_location: str = "cpu") -> StyleEmbedder:
    """Load a style embedder component directory, dispatching on `model_type` in its config.json.

    A plain transformers CLAP checkpoint directory is accepted too.
    """
    path = Path(directory) / CONFIG_NAME
    if not path.is_file():
        raise MissingWeightsError(f"{directory}: not a component directory (no {CONFIG_NAME})")
    model_type = read_json_config(path).get("model_type")
    cls = _BY_MODEL_TYPE.get(model_type)
    if cls is None:
        known = ", ".join(sorted(_BY_MODEL_TYPE))
        raise UnknownComponentError(f"{directory}: model_type {model_type!r} is not a style embedder (known: {known})")
    return cls.from_pretrained(directory, map_location=map_location)
