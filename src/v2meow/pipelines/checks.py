"""Fail early when the components of a pipeline disagree, naming the one that does."""

from __future__ import annotations

from v2meow.errors import ConfigError


class IncompatibleComponentsError(ConfigError):
    """Two components of a bundle disagree (vocabulary, rate, codebooks, dims)."""


def _same(a_name: str, a, b_name: str, b) -> list[str]:
    if isinstance(a, float) or isinstance(b, float):
        equal = abs(float(a) - float(b)) < 1e-6
    else:
        equal = a == b
    return [] if equal else [f"{a_name}={a} but {b_name}={b}"]


def check_components(extractor, stage1, stage2, stage3, codec, style=None, semantic_info: dict | None = None) -> None:
    """Raise `IncompatibleComponentsError` listing every disagreement between components."""
    c1, c2, c3 = stage1.config, stage2.config, stage3.config
    bad: list[str] = []
    bad += _same("features.dim", extractor.dim, "stage1.feature_dim", c1.feature_dim)
    if c2.variant == "encdec":
        bad += _same("features.dim", extractor.dim, "stage2.feature_dim", c2.feature_dim)
    bad += _same("stage1.semantic_vocab", c1.semantic_vocab, "stage2.semantic_vocab", c2.semantic_vocab)
    bad += _same("stage1.semantic_rate", c1.semantic_rate, "stage2.semantic_rate", c2.semantic_rate)
    if semantic_info is not None:
        vocab = semantic_info.get("vocab_size", semantic_info.get("k", semantic_info.get("num_clusters")))
        rate = semantic_info.get("frame_rate")
        if vocab is not None:
            bad += _same("semantic.vocab_size", vocab, "stage1.semantic_vocab", c1.semantic_vocab)
        if rate is not None:
            bad += _same("semantic.frame_rate", float(rate), "stage1.semantic_rate", c1.semantic_rate)
    bad += _same("codec.codebook_size", codec.codebook_size, "stage2.codebook_size", c2.codebook_size)
    bad += _same("codec.codebook_size", codec.codebook_size, "stage3.codebook_size", c3.codebook_size)
    bad += _same("stage2.num_coarse", c2.num_coarse, "stage3.num_coarse", c3.num_coarse)
    bad += _same("codec.num_coarse", codec.num_coarse, "stage2.num_coarse", c2.num_coarse)
    bad += _same("codec.num_codebooks", codec.num_codebooks, "stage3 coarse + fine", c3.num_coarse + c3.num_fine)
    bad += _same("codec.frame_rate", float(codec.frame_rate), "stage2.codec_rate", c2.codec_rate)
    bad += _same("codec.frame_rate", float(codec.frame_rate), "stage3.codec_rate", c3.codec_rate)
    for st in getattr(
        stage2, "streams", []
    ):  # a coarse stage's extra conditions: the pipeline computes the rhythm alone
        if st.name == "rhythm":
            bad += _same("stage2.rhythm rate", st.rate, "stage2.semantic_rate", c2.semantic_rate)
        elif st.name not in ("semantic", "visual"):
            bad.append(f"stage2 reads a condition '{st.name}' that generation does not compute (it computes: rhythm)")
    if style is not None and c1.style_dim:
        bad += _same("style.dim", style.dim, "stage1.style_dim", c1.style_dim)
    if bad:
        raise IncompatibleComponentsError("bundle components disagree: " + "; ".join(bad))
