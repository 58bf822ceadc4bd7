"""`cache_info`: what a prepared cache holds: items, hours, splits, and token statistics.

Token statistics (how many of the vocabulary's tokens occur, their perplexity, the most
common ones) are computed over at most `max_items` items spread evenly over the cache,
so `v2meow-cache info` stays fast on a 100k-item cache.
"""

from __future__ import annotations

import os
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import torch

from v2meow.data.cache import REBUILD, CacheReader, verify_shard
from v2meow.errors import UnreadableMediaError


def cache_info(root: str | os.PathLike, max_items: int = 2000, top: int = 5) -> dict[str, Any]:
    """Summary of a cache as a JSON-friendly dict.

    Args:
        root: the cache directory.
        max_items: items read for the token histograms (0: none).
        top: most common semantic tokens listed.
    """
    reader = CacheReader(root)
    m = reader.manifest
    splits: dict[str, dict[str, float]] = defaultdict(lambda: {"items": 0, "hours": 0.0})
    for r in reader.records:
        splits[r.split]["items"] += 1
        splits[r.split]["hours"] += r.duration / 3600
    shards = sorted(Path(root).glob("items-*.safetensors"))
    skipped = {s["key"]: s for s in reader.skipped()}
    keys = reader.keys()
    reasons = Counter(_reason_kind(s["reason"]) for k, s in skipped.items() if k not in keys)
    info: dict[str, Any] = {
        "root": str(root),
        "format_version": m.get("format_version"),
        "items": len(reader),
        "hours": round(sum(r.duration for r in reader.records) / 3600, 4),
        "video_items": sum(r.has_video for r in reader.records),
        "audio_only_items": sum(not r.has_video for r in reader.records),
        "sources": len({r.extra.get("source_key", r.source) for r in reader.records}),
        "shards": len(shards),
        "duplicates": reader.duplicates,
        "skipped": sum(reasons.values()),
        "skip_reasons": dict(reasons.most_common()),
        "splits": {k: {"items": v["items"], "hours": round(v["hours"], 4)} for k, v in sorted(splits.items())},
        "contract": {k: v for k, v in sorted(m.items()) if k != "format_version"},
    }
    if m.get("stretch"):  # items per speed factor (1: the clips themselves)
        factors = Counter(float(r.extra.get("stretch", 1.0)) for r in reader.records)
        info["stretch_items"] = {f"{k:g}": n for k, n in sorted(factors.items())}
    if max_items > 0 and len(reader):
        info["tokens"] = _token_stats(reader, m, max_items, top)
    return info


def verify_cache(root: str | os.PathLike) -> dict[str, str]:
    """Each shard's `verify_shard` verdict, by file name."""
    return {shard.name: verify_shard(shard) for shard in sorted(Path(root).glob("items-*.safetensors"))}


def check_verdicts(root: str | os.PathLike, verdicts: dict[str, str]) -> str:
    """One summary line; `UnreadableMediaError` naming every bad shard (and how to rebuild) when any is bad."""
    bad = {name: v for name, v in verdicts.items() if v not in ("ok", "no checksum recorded")}
    if bad:
        listed = "; ".join(f"{name}: {v}" for name, v in bad.items())
        raise UnreadableMediaError(f"{root}: {len(bad)} bad shard(s): {listed}; for each, {REBUILD}")
    old = sum(v == "no checksum recorded" for v in verdicts.values())
    return f"verify: {len(verdicts) - old} shard(s) ok" + (
        f", {old} with no checksum recorded (written before checksums)" if old else ""
    )


def _reason_kind(reason: str) -> str:
    """A reason without its clip, file name, details and numbers, to group skips: 'not a readable media file'."""
    text = re.sub(r"^clip \d+ \([^)]*\): ", "", reason)
    text = re.sub(r"^\S+\.\w+: ", "", text)  # "<file>: <problem>"
    text = text.split(" (")[0]
    return re.sub(r"\d+(\.\d+)?", "#", text).strip() or "unknown"


def _token_stats(reader: CacheReader, manifest: dict[str, Any], max_items: int, top: int) -> dict[str, Any]:
    n = len(reader)
    picks = sorted({round(i * (n - 1) / max(1, min(n, max_items) - 1)) for i in range(min(n, max_items))})
    vocab = int(manifest.get("semantic_vocab") or 0)
    k, size = int(manifest.get("num_codebooks") or 0), int(manifest.get("codebook_size") or 0)
    sem = torch.zeros(max(vocab, 1), dtype=torch.long)
    codes = torch.zeros(max(k, 1), max(size, 1), dtype=torch.long)  # [K, V]
    for i in picks:
        item = reader.load(i)
        if "semantic" in item and vocab:
            sem += torch.bincount(item["semantic"].long(), minlength=vocab)  # ids checked by reader.load
        if "codes" in item and k and size:
            c = item["codes"].long()  # [K, T], ids checked by reader.load
            for j in range(min(k, c.shape[0])):
                codes[j] += torch.bincount(c[j], minlength=size)
    total = int(sem.sum())
    most = torch.argsort(sem, descending=True)[:top].tolist() if total else []
    return {
        "items_read": len(picks),
        "semantic": {
            "tokens": total,
            "used": int((sem > 0).sum()),
            "vocab": vocab,
            "usage_pct": round(100 * int((sem > 0).sum()) / max(vocab, 1), 1),
            "perplexity": round(_perplexity(sem), 1),
            "most_common": [[t, round(100 * int(sem[t]) / max(total, 1), 2)] for t in most],
        },
        "codebooks": [
            {
                "used": int((row > 0).sum()),
                "usage_pct": round(100 * int((row > 0).sum()) / max(size, 1), 1),
                "perplexity": round(_perplexity(row), 1),
            }
            for row in codes[:k]
        ],
    }


def _perplexity(counts: torch.Tensor) -> float:
    total = counts.sum()
    if total == 0:
        return 0.0
    p = counts[counts > 0].double() / total
    return float(torch.exp(-(p * p.log()).sum()))


def format_info(info: dict[str, Any]) -> list[str]:
    """Human-readable lines of a `cache_info` dict."""
    c = info["contract"]
    lines = [
        f"{info['root']}: v2meow cache, format {info['format_version']}",
        f"items: {info['items']} ({info['hours']:.2f} h) from {info['sources']} source(s): "
        f"{info['video_items']} with video, {info['audio_only_items']} audio-only; "
        f"{info['shards']} shard(s)"
        + (f", {info['duplicates']} duplicate copies ignored" if info["duplicates"] else ""),
        "splits: " + (", ".join(f"{k} {v['items']} ({v['hours']:.2f} h)" for k, v in info["splits"].items()) or "none"),
        f"skipped: {info['skipped']}" + ("".join(f"\n  {n} x {r}" for r, n in info["skip_reasons"].items())),
        f"features: {c.get('features')} {c.get('feature_extractors')} at {c.get('feature_rate', 0):g} Hz, dim {c.get('feature_dim')}",
        f"semantic: {c.get('semantic')} at {c.get('semantic_rate', 0):g} Hz, vocab {c.get('semantic_vocab')}",
        f"codec: {c.get('codec')} at {c.get('codec_rate', 0):g} Hz, {c.get('num_codebooks')} x {c.get('codebook_size')}",
        f"style: {c.get('style')} (dim {c.get('style_dim')}, from {c.get('style_source', '?')})",
        f"clips: {c.get('clip_seconds', 0):g} s (last >= {c.get('min_seconds', 0):g} s), hash {c.get('hash_mode')}",
    ]
    if c.get("beat_weights"):
        lines.append(
            f"beat weights: alpha {c.get('beat_alpha'):g}, delta {c.get('beat_delta'):g} s, "
            f"video beats from motion at {c.get('beat_motion_rate', 0):g} Hz"
        )
    if c.get("rhythm"):
        lines.append(
            f"rhythm: music onset pulses at {c.get('rhythm_rate', 0):g} Hz ([T, 1] 'rhythm'; one per "
            f"+-{c.get('rhythm_pulse_window', 0):g} s, width {c.get('rhythm_pulse_width', 0):g} s)"
        )
    if c.get("stretch"):
        per = info.get("stretch_items", {})
        lines.append(
            "stretch: x"
            + ", x".join(f"{r:g}" for r in c["stretch"])
            + " (items per factor: "
            + ", ".join(f"x{k} {n}" for k, n in per.items())
            + ")"
        )
    t = info.get("tokens")
    if t:
        s = t["semantic"]
        common = ", ".join(f"{tok} ({pct:.1f}%)" for tok, pct in s["most_common"])
        lines.append(
            f"semantic tokens ({t['items_read']} items, {s['tokens']} tokens): {s['used']}/{s['vocab']} used "
            f"({s['usage_pct']:.1f}%), perplexity {s['perplexity']:.1f}; most common: {common}"
        )
        books = ", ".join(f"{b['usage_pct']:.0f}% (ppl {b['perplexity']:.0f})" for b in t["codebooks"])
        lines.append(f"codebook usage: {books}")
    return lines
