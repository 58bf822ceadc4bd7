"""Prepared caches: a changed, truncated or out-of-range shard is named, with how to rebuild it; never clamped."""

from __future__ import annotations

import json
import stat
import struct

import pytest
import torch
from safetensors.torch import save_file

import cachegen
from v2meow.cli.cache import main
from v2meow.data.cache import CacheReader, verify_shard
from v2meow.errors import UnreadableMediaError


@pytest.fixture
def cache(tmp_path):
    return cachegen.make_cache(tmp_path / "cache")


def _overwrite_tensor_bytes(shard):
    """Same size, same header, different tensor bytes (what a bad disk or a stray write does)."""
    data = bytearray(shard.read_bytes())
    header = 8 + struct.unpack("<Q", data[:8])[0]
    data[header : header + 32] = bytes(range(1, 33))
    shard.write_bytes(bytes(data))


def test_shards_are_world_readable_like_every_output(cache):
    for shard in cache.glob("items-*.safetensors"):
        assert stat.S_IMODE(shard.stat().st_mode) == stat.S_IMODE((cache / "manifest.json").stat().st_mode)


def test_verify_names_the_changed_shard(cache, refused, capsys):
    shards = sorted(cache.glob("items-*.safetensors"))
    assert main(["info", str(cache), "--verify"]) == 0
    assert "2 shard(s) ok" in capsys.readouterr().err
    _overwrite_tensor_bytes(shards[1])
    err = refused(main, ["info", cache, "--verify"])
    assert shards[1].name in err and shards[0].name not in err and "re-run v2meow-prepare" in err


def test_old_shards_without_checksums_still_load(cache, capsys):
    shard = min(cache.glob("items-*.safetensors"))
    from safetensors import safe_open

    with safe_open(str(shard), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        meta = {k: v for k, v in f.metadata().items() if k != "checksum"}
    save_file(tensors, str(shard), metadata=meta)
    assert verify_shard(shard) == "no checksum recorded"
    assert main(["info", str(cache), "--verify"]) == 0
    assert "1 with no checksum recorded" in capsys.readouterr().err
    assert len(CacheReader(cache)) == 3


def test_truncated_shard_says_delete_and_rerun(cache, refused):
    shard = min(cache.glob("items-*.safetensors"))
    shard.write_bytes(shard.read_bytes()[:100])
    err = refused(main, ["info", cache])
    assert shard.name in err and "delete it and re-run v2meow-prepare" in err


def test_out_of_range_tokens_are_an_error_not_clamped(tmp_path, refused):
    root = tmp_path / "c"
    cachegen.make_cache(root, durations=(1.0,))
    shard = min(root.glob("items-*.safetensors"))
    from safetensors import safe_open

    with safe_open(str(shard), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        meta = dict(f.metadata())
    vocab = json.loads((root / "manifest.json").read_text())["semantic_vocab"]
    tensors["0/semantic"][3] = vocab  # one past the end
    save_file(tensors, str(shard), metadata={k: v for k, v in meta.items() if k != "checksum"})
    with pytest.raises(UnreadableMediaError, match=f"semantic id {vocab} is outside 0..{vocab - 1}"):
        CacheReader(root).load(0)
    assert "outside" in refused(main, ["info", root])
    tensors["0/semantic"][3] = 0
    tensors["0/codes"][0, 0] = -1
    save_file(tensors, str(shard), metadata={k: v for k, v in meta.items() if k != "checksum"})
    with pytest.raises(UnreadableMediaError, match="codes id -1"):
        CacheReader(root).load(0)


def test_not_a_cache(tmp_path, refused):
    refused(main, ["info", tmp_path, "--verify"])
    torch.save({}, tmp_path / "x.pt")
    refused(main, ["info", tmp_path / "x.pt"])
