"""`v2meow-cache recode`: the same cache with its acoustic codes made by another codec.

A cache prepared with `--keep-audio RATE` holds each item's (stretched) music; recoding reads
it back and encodes it with the new codec, so trying a codec costs one encode pass, not a new
`v2meow-prepare` (whose stretching and analysis dominate). Everything else of every item (visual
features, semantic tokens, rhythm, style, captions, splits) is copied unchanged; the new
manifest is the old one with the codec's fields (`codec`, `codec_rate`, `num_codebooks`,
`codebook_size`, `num_coarse`) replaced.

The destination is written shard by shard, each atomically and under its source's name, so
an interrupted recode resumes by skipping the shards already there.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import torch

from v2meow.data.cache import MANIFEST, read_manifest, read_shard, write_manifest, write_shard
from v2meow.data.contract import codec_contract
from v2meow.errors import ConfigError
from v2meow.safety.outputs import atomic_output
from v2meow.stages.layout import fit_frames


def recode_cache(
    src: str | os.PathLike,
    dest: str | os.PathLike,
    codec_dir: str | os.PathLike,
    progress: Callable[[Iterable], Iterable] = iter,
) -> dict[str, int]:
    """Write `dest`: `src` with every item's codes re-encoded by the codec in `codec_dir`.

    Returns:
        Counts: `shards` written, `items` recoded, `unchanged` shards already in `dest`.
    """
    from v2meow.tokenizers.acoustic import load_codec

    src, dest = Path(src), Path(dest)
    if src.resolve() == dest.resolve():
        raise ConfigError(f"{dest}: recode writes a new cache; --out must differ from the source")
    manifest = read_manifest(src)
    rate = manifest.get("audio_rate")
    if not rate:
        raise ConfigError(f"{src}: this cache holds no audio to recode (prepare it with --keep-audio RATE)")
    codec = load_codec(str(codec_dir)).eval()
    contract = {k: v for k, v in manifest.items() if k != "format_version"} | codec_contract(codec, codec_dir)
    write_manifest(dest, contract)  # refuses a dest made from another source or codec
    counts = {"shards": 0, "items": 0, "unchanged": 0}
    for shard in progress(sorted(src.glob("items-*.safetensors"))):
        target = dest / shard.name
        if target.exists():
            counts["unchanged"] += 1
            continue
        items = read_shard(shard)
        for record, tensors in items:
            if "audio" not in tensors:
                raise ConfigError(f"{shard}: item {record.key} has no stored audio")
            wav = tensors["audio"].float()[None] / 32767.0  # [1, N] at the stored rate
            with torch.inference_mode():
                codes = codec.encode(wav, int(rate))  # [K, T']
            tensors["codes"] = (
                fit_frames(codes, round(record.duration * codec.frame_rate)).to(torch.int16).contiguous()
            )  # [K, T_a]
        write_shard(target, items)
        counts["shards"] += 1
        counts["items"] += len(items)
    for skipped in sorted(src.glob("skipped-*.json")):
        if not (dest / skipped.name).exists():
            with atomic_output(dest / skipped.name) as tmp:
                tmp.write_text(json.dumps(json.loads(skipped.read_text()), indent=1) + "\n")
    return counts


def describe_recode(dest: str | os.PathLike) -> str:
    """One line on what a recoded cache now holds."""
    m = json.loads((Path(dest) / MANIFEST).read_text())
    return f"{dest}: codes by {m['codec']} ({m['num_codebooks']} x {m['codebook_size']} at {m['codec_rate']:g} Hz, {m['num_coarse']} coarse)"
