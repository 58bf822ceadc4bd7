"""Inputs of v2meow-prepare: folder and CSV listing, keys, hashes, clips, shard assignment; writer extras."""

from __future__ import annotations

import json
import time

import pytest
import torch

from v2meow.data.cache import CacheReader, CacheWriter, ItemRecord, write_manifest
from v2meow.data.sources import (
    Source,
    clip_spans,
    content_hash,
    in_shard,
    list_sources,
    parse_shard,
    split_clip_key,
)
from v2meow.errors import ConfigError, UnreadableMediaError


def test_clip_spans():
    assert clip_spans(65.0, 30.0, 1.0) == [(0.0, 30.0), (30.0, 30.0), (60.0, 5.0)]
    assert clip_spans(60.5, 30.0, 1.0) == [(0.0, 30.0), (30.0, 30.0)]  # 0.5-s tail dropped
    assert clip_spans(60.0, 30.0, 1.0) == [(0.0, 30.0), (30.0, 30.0)]
    assert clip_spans(0.5, 30.0, 1.0) == [] and clip_spans(0.0, 30.0, 0.0) == []
    assert clip_spans(7200.0, 30.0, 1.0)[-1] == (7170.0, 30.0) and len(clip_spans(7200.0, 30.0, 1.0)) == 240


def test_parse_shard_and_assignment():
    assert parse_shard(None) == (0, 1) and parse_shard("3/8") == (3, 8)
    for bad in ("8/8", "-1/2", "a/b", "1", "1/0"):
        with pytest.raises(ConfigError, match="--shard"):
            parse_shard(bad)
    sources = [Source(rel=f"v{i:03d}.mp4", video="x", audio="x") for i in range(200)]
    owners = [[i for i in range(4) if in_shard(s, i, 4)] for s in sources]
    assert all(len(o) == 1 for o in owners)  # every source in exactly one shard
    assert all(len([o for o in owners if o == [i]]) > 20 for i in range(4))  # roughly balanced


def test_folder_listing(tmp_path):
    for name in ("b.mp4", "a/x.MKV", "a/song.flac", "notes.txt", ".hidden.mp4", "c.opus"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    sources = list_sources(tmp_path, split="valid")
    assert [(s.rel, s.video is not None) for s in sources] == [
        ("a/song.flac", False),
        ("a/x.MKV", True),
        ("b.mp4", True),
        ("c.opus", False),
    ]
    assert all(s.split == "valid" for s in sources)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no video or audio files"):
        list_sources(tmp_path / "empty")


def test_manifest_listing_and_errors(tmp_path):
    (tmp_path / "m.csv").write_text("video,audio,caption,split\nv.mp4,music/a.wav,calm piano,valid\n,b.wav,,\n")
    s1, s2 = list_sources(tmp_path / "m.csv")
    assert (s1.rel, s1.video, s1.audio, s1.caption, s1.split) == (
        "v.mp4+music/a.wav",
        str(tmp_path / "v.mp4"),
        str(tmp_path / "music" / "a.wav"),
        "calm piano",
        "valid",
    )
    assert (s2.rel, s2.video, s2.audio, s2.split) == ("b.wav", None, str(tmp_path / "b.wav"), "train")
    (tmp_path / "bad.csv").write_text("path,label\nx.mp4,1\n")
    with pytest.raises(ConfigError, match="needs a 'video' and/or an 'audio' column"):
        list_sources(tmp_path / "bad.csv")
    (tmp_path / "dup.csv").write_text("video\nx.mp4\nx.mp4\n")
    with pytest.raises(ConfigError, match="listed more than once"):
        list_sources(tmp_path / "dup.csv")
    (tmp_path / "hole.csv").write_text("video,audio\nx.mp4,\n,\n")
    with pytest.raises(ConfigError, match="hole.csv:3: row has neither"):
        list_sources(tmp_path / "hole.csv")
    with pytest.raises(ConfigError, match="no such input"):
        list_sources(tmp_path / "nope")


def test_content_hash_modes_and_keys(tmp_path):
    big = tmp_path / "big.bin"
    data = bytearray(
        torch.randint(0, 256, (3 << 20,), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
        .numpy()
        .tobytes()
    )
    big.write_bytes(bytes(data))
    quick, full = content_hash([str(big)], "quick"), content_hash([str(big)], "full")
    data[len(data) // 2] ^= 1  # an in-place edit in the middle: only the full hash sees it
    big.write_bytes(bytes(data))
    assert content_hash([str(big)], "quick") == quick and content_hash([str(big)], "full") != full
    big.write_bytes(bytes(data[:-1]))  # any size change is seen by both
    assert content_hash([str(big)], "quick") != quick
    with pytest.raises(UnreadableMediaError, match="no such file"):
        content_hash([str(tmp_path / "missing.mp4")])
    assert split_clip_key("dir/a.mp4@0123456789abcdef#12") == ("dir/a.mp4@0123456789abcdef", 12)
    assert split_clip_key("dir/a.mp4@0123456789abcdef") is None


def test_writer_time_flush_and_skip_extras(tmp_path):
    write_manifest(tmp_path, {"semantic_rate": 50.0, "codec_rate": 50.0})
    w = CacheWriter(tmp_path, tag="t", items_per_shard=100, flush_seconds=0.05)
    w.add(ItemRecord(key="k0", source="s", clip_start=0, duration=1.0), {"semantic": torch.zeros(50)})
    assert w.pending == 1 and not list(tmp_path.glob("items-*"))
    time.sleep(0.06)
    w.skip("k1", "s", "bad", num_clips=3)  # the oldest entry is old enough: both are flushed
    assert w.pending == 0 and len(list(tmp_path.glob("items-*"))) == 1
    r = CacheReader(tmp_path)
    assert r.keys() == {"k0"} and r.skipped() == [{"key": "k1", "source": "s", "reason": "bad", "num_clips": 3}]
    assert json.loads((tmp_path / "manifest.json").read_text())["format_version"] == 1
