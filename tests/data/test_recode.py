"""v2meow-prepare --keep-audio and v2meow-cache recode: a cache's codes re-encoded by another codec."""

from __future__ import annotations

import json

import pytest
import torch

from v2meow.cli import cache as cache_cli
from v2meow.cli import prepare as prepare_cli
from v2meow.data.cache import CacheReader
from v2meow.data.prepare import PrepareConfig, prepare
from v2meow.data.recode import recode_cache
from v2meow.errors import ConfigError
from v2meow.stages.layout import fit_frames
from v2meow.tokenizers.acoustic import load_codec

KEEP = 16000


def config(components, **kw) -> PrepareConfig:
    return PrepareConfig(
        features="motion",
        semantic=components["semantic"],
        codec=components["codec"],
        style=components["style"],
        feature_rate=5.0,
        clip_seconds=2.0,
        threads=1,
        **kw,
    )


@pytest.fixture(scope="module")
def kept(tmp_path_factory, media_dir, components):
    out = tmp_path_factory.mktemp("keep") / "cache"
    report = prepare(
        media_dir, out, config(components, keep_audio=KEEP, stretch=(1.25,)), progress=False, items_per_shard=2
    )
    assert report.new_items > 0
    return out


def test_keep_audio_stores_each_items_music(kept):
    r = CacheReader(kept)
    assert r.manifest["audio_rate"] == KEEP
    for i, rec in enumerate(r.records):
        item = r.load(i)
        assert item["audio"].dtype == torch.int16 and item["audio"].dim() == 1
        assert abs(item["audio"].numel() - rec.duration * KEEP) <= 2  # the (stretched) item's own length
        assert int(item["audio"].abs().max()) > 100  # music, not silence


def test_recode_replaces_the_codes_and_nothing_else(kept, tmp_path, components):
    out = tmp_path / "recoded"
    counts = recode_cache(kept, out, components["codec2"])
    old, new = CacheReader(kept), CacheReader(out)
    assert counts["items"] == len(old) == len(new) and counts["unchanged"] == 0
    codec = load_codec(components["codec2"])
    assert new.manifest["codec"] != old.manifest["codec"] and new.manifest["codec"].startswith(codec.codec_id)
    assert {k: v for k, v in new.manifest.items() if k != "codec"} == {
        k: v for k, v in old.manifest.items() if k != "codec"
    }
    changed = 0
    for i, rec in enumerate(new.records):
        j = [r.key for r in old.records].index(rec.key)
        a, b = old.load(j), new.load(i)
        assert set(a) == set(b) and old.records[j].caption == rec.caption and old.records[j].split == rec.split
        for name in a:
            if name != "codes":
                assert torch.equal(a[name], b[name]), name
        expected = codec.encode(b["audio"].float()[None] / 32767.0, KEEP)
        assert torch.equal(b["codes"].long(), fit_frames(expected, round(rec.duration * codec.frame_rate)).long())
        assert b["codes"].shape == a["codes"].shape
        changed += int(not torch.equal(a["codes"], b["codes"]))
    assert changed > 0  # another codec's codes
    again = recode_cache(kept, out, components["codec2"])  # resumable: every shard is already there
    assert again["shards"] == 0 and again["unchanged"] == counts["shards"]


def test_recode_refusals(kept, tmp_path, components, media_dir, capsys):
    plain = tmp_path / "plain"
    prepare(media_dir, plain, config(components), progress=False)
    with pytest.raises(ConfigError, match="no audio to recode"):
        recode_cache(plain, tmp_path / "x", components["codec2"])
    recode_cache(kept, tmp_path / "a", components["codec2"])
    with pytest.raises(ConfigError):  # the destination was made with another codec
        recode_cache(kept, tmp_path / "a", components["codec"])
    assert cache_cli.main(["recode", str(kept), "--codec", components["codec2"], "--out", str(kept)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert (
        prepare_cli.main(
            [
                "--input",
                str(media_dir),
                "--out",
                str(tmp_path / "y"),
                "--semantic",
                components["semantic"],
                "--codec",
                components["codec"],
                "--features",
                "motion",
                "--keep-audio",
                "100",
            ]
        )
        == 2
    )
    assert "--keep-audio" in capsys.readouterr().err and not (tmp_path / "y").exists()


def test_recode_cli(kept, tmp_path, components, capsys):
    out = tmp_path / "cli"
    assert cache_cli.main(["recode", str(kept), "--codec", components["codec2"], "--out", str(out)]) == 0
    assert "recoded" in capsys.readouterr().err
    assert json.loads((out / "manifest.json").read_text())["audio_rate"] == KEEP
