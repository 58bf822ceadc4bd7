"""The cache contract: which components and rates made a cache (what `write_manifest` checks).

A manifest names each component by its id and a fingerprint of its files, so items made by
different components never mix in one cache; `v2meow-cache recode` swaps the codec's fields.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from v2meow.components import read_json_config

if TYPE_CHECKING:
    from v2meow.data.work import PrepareConfig


def codec_contract(codec, codec_dir: str | os.PathLike) -> dict[str, Any]:
    """The manifest fields that name a codec (as `v2meow-prepare` writes them)."""
    return {
        "codec": f"{codec.codec_id}:{component_fingerprint(str(codec_dir))}",
        "codec_rate": float(codec.frame_rate),
        "num_codebooks": int(codec.num_codebooks),
        "codebook_size": int(codec.codebook_size),
        "num_coarse": int(codec.num_coarse),
    }


def describe(cfg: PrepareConfig) -> dict[str, Any]:
    """The cache contract of these components (what `write_manifest` checks)."""
    from v2meow.data.work import components
    from v2meow.features.registry import parse_spec

    c = components(cfg)
    contract: dict[str, Any] = {
        "features": "none" if c.extractor is None else "+".join(parse_spec(cfg.features)),
        "feature_extractors": [] if c.extractor is None else list(c.extractor.part_ids),
        "feature_rate": 0.0 if c.extractor is None else float(c.extractor.rate),
        "feature_dim": 0 if c.extractor is None else int(c.extractor.dim),
        "semantic": f"{c.semantic.config.model_type}/{c.semantic.config.backbone}:{component_fingerprint(cfg.semantic)}",
        "semantic_rate": float(c.semantic.frame_rate),
        "semantic_vocab": int(c.semantic.vocab_size),
        **codec_contract(c.codec, cfg.codec),
        "style": "none" if c.style is None else f"{c.style.id}:{component_fingerprint(cfg.style)}",
        "style_dim": 0 if c.style is None else int(c.style.dim),
        "style_source": "none" if c.style is None else ("audio" if c.style.supports_audio else "caption"),
        "clip_seconds": float(cfg.clip_seconds),
        "min_seconds": float(cfg.min_seconds),
        "hash_mode": cfg.hash_mode,
    }
    if cfg.beat_weights:  # only when on, so caches made without them keep their contract
        motion = c.motion or c.extractor
        contract.update(
            beat_weights=True,
            beat_alpha=float(cfg.beat_alpha),
            beat_delta=float(cfg.beat_delta),
            beat_motion_rate=0.0 if motion is None else float(motion.rate),
        )
    for name in cfg.channels:  # likewise
        from v2meow.features.channels import channel

        contract.update(channel(name).contract(float(c.semantic.frame_rate)))
    if cfg.stretch:
        contract.update(stretch=[float(r) for r in cfg.stretch])
    if cfg.keep_audio:
        contract.update(audio_rate=int(cfg.keep_audio))
    return contract


def component_fingerprint(path: str | os.PathLike) -> str:
    """`"<config hash>.<weights hash>"` (12 hex each) of a component directory.

    The config hash covers config.json without `v2meow_version` (a package upgrade alone
    does not change a component); the weights hash covers the names and bytes of every
    other file in the directory. A path that is not a directory (a hub repo id) is
    named by its string.
    """
    p = Path(path)
    if not p.is_dir():
        return "ref-" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
    config = read_json_config(p / "config.json") if (p / "config.json").is_file() else {}
    config.pop("v2meow_version", None)
    cfg_hash = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]
    h = hashlib.sha256()
    for f in sorted(q for q in p.rglob("*") if q.is_file() and not q.name.startswith(".") and q.name != "config.json"):
        h.update(f.relative_to(p).as_posix().encode() + b"\0")
        with open(f, "rb") as fh:
            while block := fh.read(1 << 20):
                h.update(block)
    return f"{cfg_hash}.{h.hexdigest()[:12]}"
