"""Build small synthetic prepare caches for dataset and training tests."""

from __future__ import annotations

from pathlib import Path

import torch

from v2meow.data.cache import CacheWriter, ItemRecord, write_manifest

CONTRACT = dict(
    feature_rate=5.0,
    feature_dim=8,
    semantic_rate=10.0,
    semantic_vocab=24,
    codec_rate=20.0,
    num_codebooks=4,
    codebook_size=16,
    style_dim=6,
    features="test-features",
    semantic="test-semantic",
    codec="test-codec",
    style="test-style",
)


BEAT_ALPHA = 0.05


def beat_pattern(t_s: int) -> torch.Tensor:
    """The `beats` of a `make_cache(beats=True)` item: 1 on every 5th semantic step, alpha elsewhere."""
    return torch.where(torch.arange(t_s) % 5 == 0, 1.0, BEAT_ALPHA)


def make_cache(
    root: Path,
    durations=(3.0, 2.5, 1.2),
    audio_only=(),
    splits=None,
    seed=0,
    items_per_shard=2,
    beats: bool = False,
    rhythm: str = "",
    contract: dict | None = None,
    keys=None,
) -> Path:
    """Items whose streams are deterministic functions of time, so crops can be checked.

    `beats=True` also stores VMAs beat weights (`beat_pattern`), as `v2meow-prepare --beat-weights` does;
    `rhythm="2d"` (`[T_s, 1]`, as `v2meow-prepare --rhythm` writes) or `"1d"` (`[T_s]`) stores a `rhythm`
    stream at the semantic rate whose value is the semantic frame index;
    `contract` adds or replaces manifest fields (e.g. `num_coarse`, which real caches carry, or the sizes);
    `keys` names the items (default `item<i>`; e.g. `"item0@x1.25"` for a stretched copy of item0).
    """
    c = {**CONTRACT, **(contract or {})}
    extra = dict(beat_weights=True, beat_alpha=BEAT_ALPHA, beat_delta=0.2, beat_motion_rate=10.0) if beats else {}
    if rhythm:
        extra.update(rhythm=True, rhythm_rate=c["semantic_rate"], rhythm_pulse_window=0.2, rhythm_pulse_width=0.04)
    write_manifest(root, {**c, **extra})
    w = CacheWriter(root, items_per_shard=items_per_shard)
    g = torch.Generator().manual_seed(seed)
    for i, dur in enumerate(durations):
        t_v, t_s, t_a = round(dur * c["feature_rate"]), round(dur * c["semantic_rate"]), round(dur * c["codec_rate"])
        tensors = {
            # column 0 of features and the semantic / code values encode the frame index
            "visual": torch.cat(
                [torch.arange(t_v, dtype=torch.float32)[:, None], torch.randn(t_v, c["feature_dim"] - 1, generator=g)],
                1,
            ),
            "semantic": torch.arange(t_s) % c["semantic_vocab"],
            "codes": (torch.arange(t_a)[None] + torch.arange(c["num_codebooks"])[:, None]) % c["codebook_size"],
            "style": torch.randn(c["style_dim"], generator=g),
        }
        if beats:
            tensors["beats"] = beat_pattern(t_s)
        if rhythm:
            frames = torch.arange(t_s, dtype=torch.float32)  # [T_s] exact in float16 below 2048
            tensors["rhythm"] = frames[:, None] if rhythm == "2d" else frames
        has_video = i not in audio_only
        if not has_video:
            del tensors["visual"]
        split = splits[i] if splits else "train"
        w.add(
            ItemRecord(
                key=keys[i] if keys else f"item{i}",
                source=f"item{i}.mp4",
                clip_start=0.0,
                duration=dur,
                split=split,
                has_video=has_video,
            ),
            tensors,
        )
    w.flush()
    return root
