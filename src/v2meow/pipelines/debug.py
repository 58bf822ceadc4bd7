"""A tiny random bundle built from the real component classes (tests, the web app's tests, docs).

It generates noise-like audio, fast: every component is its `debug` size. The layout is
exactly a real bundle's, so loading, checking and generating exercise the real code.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from v2meow.pipelines.bundle import GenerationConfig, write_bundle_file
from v2meow.stages.ar_coarse import Stage2, Stage2Config
from v2meow.stages.ar_fine import Stage3, Stage3Config
from v2meow.stages.ar_semantic import Stage1, Stage1Config
from v2meow.stages.roles import KEYS

SEMANTIC_VOCAB, SEMANTIC_RATE = 32, 25.0


def build_debug_bundle(
    out: str | os.PathLike,
    feature_spec: str = "motion",
    style: bool = True,
    stage2_variant: str = "decoder",
    windows: tuple[float, float, float] = (4.0, 4.0, 2.0),
    seed: int = 0,
    stage1_fields: dict | None = None,
) -> Path:
    """Write a random debug bundle to `out` and return its path.

    Args:
        feature_spec: extractor spec; `clip`/`i3d` parts are their tiny debug versions.
        style: include a `hashed-text` style embedder (text prompts work).
        stage2_variant: "decoder" or "encdec".
        windows: window seconds of stages 1, 2, 3 (short, so windowing is exercised).
        stage1_fields: more `Stage1Config` fields (e.g. `extra_streams` with a rhythm channel).
    """
    from v2meow.features.registry import build_extractor
    from v2meow.tokenizers.acoustic.soundstream import SoundStream, SoundStreamConfig
    from v2meow.tokenizers.style import HashedTextConfig, HashedTextEmbedder

    out = Path(out)
    torch.manual_seed(seed)
    extractor = build_extractor(feature_spec, debug=True)
    codec = SoundStream(SoundStreamConfig.from_preset("debug", kmeans_init=False))
    style_model = HashedTextEmbedder(HashedTextConfig(dim=32)) if style else None
    semantic = Stage1(
        Stage1Config.preset(
            "debug",
            feature_dim=extractor.dim,
            feature_rate=extractor.rate,
            style_dim=style_model.dim if style else 0,
            semantic_vocab=SEMANTIC_VOCAB,
            semantic_rate=SEMANTIC_RATE,
            window_seconds=windows[0],
            **(stage1_fields or {}),
        )
    )
    codec_fields = dict(codebook_size=codec.codebook_size, num_coarse=codec.num_coarse, codec_rate=codec.frame_rate)
    coarse = Stage2(
        Stage2Config.preset(
            "debug",
            variant=stage2_variant,
            semantic_vocab=SEMANTIC_VOCAB,
            semantic_rate=SEMANTIC_RATE,
            feature_dim=extractor.dim if stage2_variant == "encdec" else 0,
            feature_rate=extractor.rate,
            window_seconds=windows[1],
            **codec_fields,
        )
    )
    fine = Stage3(Stage3Config.preset("debug", num_fine=codec.num_fine, window_seconds=windows[2], **codec_fields))
    components = {**dict(zip(KEYS, (semantic, coarse, fine))), "codec": codec}
    if style_model is not None:
        components["style"] = style_model
    for name, module in components.items():
        module.save_pretrained(out / name)
    generation = GenerationConfig(context_seconds=(1.0, 1.0, 0.5))
    write_bundle_file(out, {"spec": feature_spec, "options": {"debug": True}}, {n: n for n in components}, generation)
    return out
