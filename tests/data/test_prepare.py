"""v2meow-prepare end to end on generated media with tiny weight-free components."""

from __future__ import annotations

import json
import math
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import mediagen
from v2meow.cli import cache as cache_cli
from v2meow.cli import prepare as prepare_cli
from v2meow.data.cache import CacheReader, merge_caches
from v2meow.data.datasets import StageDataset
from v2meow.data.prepare import PrepareConfig, prepare
from v2meow.errors import ConfigError

CLIP = 1.0  # seconds per clip: a (2.0 s) -> 2 clips, sub/b (3.5 s) -> 3, music (2.5 s) -> 2; broken skipped
EXPECTED = {"a.mp4": 2, "sub/b.mp4": 3, "music.wav": 2}


def config(components, codec="codec", **kw) -> PrepareConfig:
    kw.setdefault("clip_seconds", CLIP)
    kw.setdefault("threads", 1)  # identical arithmetic in every run (and no oversubscription)
    return PrepareConfig(
        features="motion", semantic=components["semantic"], codec=components[codec], style=components["style"], **kw
    )


def content(root) -> dict:
    """key -> (record fields without shard position, tensors): what two equal caches share."""
    r = CacheReader(root)
    out = {}
    for i, rec in enumerate(r.records):
        fields = {k: v for k, v in rec.__dict__.items() if k not in ("shard", "index")}
        out[rec.key] = (fields, r.load(i))
    return out


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert a[key][0] == b[key][0], key
        assert a[key][1].keys() == b[key][1].keys(), key
        for name, t in a[key][1].items():
            assert torch.equal(t, b[key][1][name]), (key, name)


def cli_args(media, out, components, codec="codec") -> list[str]:
    return [
        "--input",
        str(media),
        "--out",
        str(out),
        "--features",
        "motion",
        "--semantic",
        components["semantic"],
        "--codec",
        components[codec],
        "--style",
        components["style"],
        "--clip-seconds",
        str(CLIP),
        "--threads",
        "1",
        "--quiet",
    ]


@pytest.fixture(scope="session")
def reference(tmp_path_factory, media_dir, components) -> Path:
    """An uninterrupted, unsharded run over the media folder."""
    out = tmp_path_factory.mktemp("ref") / "cache"
    report = prepare(media_dir, out, config(components), progress=False, items_per_shard=3)
    assert report.new_items == 7 and len(report.skipped) == 1
    return out


def test_counts_shapes_and_corrupt_file(reference, media_dir):
    r = CacheReader(reference)
    m = r.manifest
    per_source: dict[str, int] = {}
    for i, rec in enumerate(r.records):
        per_source[rec.source] = per_source.get(rec.source, 0) + 1
        item = r.load(i)
        assert item["semantic"].shape == (round(rec.duration * m["semantic_rate"]),)
        assert item["codes"].shape == (m["num_codebooks"], round(rec.duration * m["codec_rate"]))
        assert int(item["semantic"].max()) < m["semantic_vocab"] and int(item["codes"].max()) < m["codebook_size"]
        assert rec.extra["num_clips"] == EXPECTED[rec.source] and rec.content_hash
        if rec.source.endswith(".mp4"):
            assert rec.has_video and item["visual"].shape == (
                math.ceil(rec.duration * m["feature_rate"]),
                m["feature_dim"],
            )
        else:
            assert not rec.has_video and "visual" not in item
        assert "style" not in item  # text-only embedder, and a folder has no captions
    assert per_source == EXPECTED
    assert {rec.duration for rec in r.records} == {1.0}
    skipped = r.skipped()
    assert [s["source"] for s in skipped] == ["broken.mp4"] and "not a readable media file" in skipped[0]["reason"]
    assert m["feature_rate"] == 1.0 and m["semantic_rate"] == 50.0 and m["codec_rate"] == 50.0
    assert m["codec"].startswith("soundstream/16000Hz/50fps/4x64:") and m["style_source"] == "caption"
    assert (
        m["clip_seconds"] == CLIP and m["hash_mode"] == "quick" and m["feature_extractors"] == ["motion-r1-f10-64x64"]
    )


def test_rerun_does_no_work(reference, media_dir, components, tmp_path):
    out = tmp_path / "cache"
    shutil.copytree(reference, out)
    files = sorted(p.name for p in out.iterdir())
    report = prepare(media_dir, out, config(components), progress=False)
    assert (report.new_items, report.cached_items, report.previously_skipped, report.skipped) == (0, 7, 1, [])
    assert sorted(p.name for p in out.iterdir()) == files
    assert report.lines()[0].startswith("0 new item(s)")


def test_other_codec_refuses_to_mix(reference, media_dir, components, tmp_path, capsys):
    out = tmp_path / "cache"
    shutil.copytree(reference, out)
    with pytest.raises(ConfigError, match="codec.*use a new --out"):
        prepare(media_dir, out, config(components, codec="codec2"), progress=False)
    assert prepare_cli.main(cli_args(media_dir, out, components, codec="codec2")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "use a new --out directory" in err[0]


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_cache(reference, media_dir, components, tmp_path):
    out = tmp_path / "cache"
    cmd = [sys.executable, "-m", "v2meow.cli.prepare", *cli_args(media_dir, out, components), "--items-per-shard", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not list(out.glob("items-*.safetensors")) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    partial = len(CacheReader(out))
    assert 1 <= partial < 7  # killed mid-way
    report = prepare(media_dir, out, config(components), progress=False)  # the same command, resumed
    assert report.new_items == 7 - partial and report.cached_items == partial
    assert_same(content(out), content(reference))
    assert len(CacheReader(out).skipped()) == 1  # the broken file is recorded once (before or after the kill)


def test_shards_union_equals_unsharded(reference, media_dir, components, tmp_path):
    parts = []
    for i in range(2):
        part = tmp_path / f"part{i}"
        prepare(media_dir, part, config(components), shard=f"{i}/2", progress=False)
        parts.append(part)
    assert content(parts[0]).keys().isdisjoint(content(parts[1]).keys())
    assert cache_cli.main(["merge", str(parts[0]), str(parts[1]), "--out", str(tmp_path / "merged")]) == 0
    assert_same(content(tmp_path / "merged"), content(reference))
    assert merge_caches(parts, tmp_path / "merged")["unchanged"] > 0  # re-running a merge copies nothing
    bad = tmp_path / "bad"  # a shard made with another codec
    shutil.copytree(parts[1], bad)
    manifest = json.loads((bad / "manifest.json").read_text())
    (bad / "manifest.json").write_text(json.dumps({**manifest, "codec": manifest["codec"] + "-other"}))
    with pytest.raises(ConfigError, match="cannot merge .*bad.*codec"):
        merge_caches([parts[0], bad], tmp_path / "mixed")
    # shard runs that share one output directory add up as well
    shared = tmp_path / "shared"
    for i in range(2):
        prepare(media_dir, shared, config(components), shard=f"{i}/2", progress=False)
    assert_same(content(shared), content(reference))


def test_audio_only_items_train_stages_2_and_3_only(reference):
    r = CacheReader(reference)
    audio_only = [rec for rec in r.records if not rec.has_video]
    assert len(audio_only) == 2
    s2 = StageDataset(reference, "stage2", crop_seconds=1.0, num_coarse=2)
    s3 = StageDataset(reference, "stage3", crop_seconds=0.5, num_coarse=2, num_fine=2)
    s1 = StageDataset(reference, "stage1", crop_seconds=1.0)
    assert len(s2) == len(s3) == 7 and len(s1) == 5
    assert all(not rec.has_video for rec in s2.reader.records if rec.source == "music.wav")
    ex = s2[[i for i, rec in enumerate(s2.reader.records) if rec.source == "music.wav"][0]]
    assert ex["coarse"].shape == (2, 50) and ex["semantic"].shape == (50,) and "conditions" not in ex
    assert s3[0]["fine"].shape == (2, 25) and s1[0]["conditions"]["visual"].value.shape == (1, 16)


def test_manifest_csv_separate_audio_captions_splits(media_dir, components, tmp_path):
    mediagen.make_video(tmp_path / "silent.mp4", duration=2.0, fps=10, size=(32, 48))  # no audio track
    csv = tmp_path / "list.csv"
    csv.write_text(
        "video,audio,caption,split\n"
        f"silent.mp4,{media_dir / 'music.wav'},slow ambient piano,train\n"  # separate music: min(2.0, 2.5) s
        f",{media_dir / 'music.wav'},fast drum and bass,valid\n"  # audio-only row
        f"{media_dir / 'a.mp4'},,,\n"  # own track, no caption, default split
        "missing.mp4,,x,train\n"
    )
    report = prepare(csv, tmp_path / "cache", config(components, clip_seconds=2.0), progress=False)
    r = CacheReader(tmp_path / "cache")
    by_source = {rec.source: (rec, r.load(i)) for i, rec in enumerate(r.records)}
    assert set(by_source) == {
        f"silent.mp4+{media_dir / 'music.wav'}",
        str(media_dir / "music.wav"),
        str(media_dir / "a.mp4"),
    }
    rec, item = by_source[f"silent.mp4+{media_dir / 'music.wav'}"]
    assert (
        rec.has_video and rec.duration == 2.0 and item["style"].shape == (16,) and rec.caption == "slow ambient piano"
    )
    rec, item = by_source[str(media_dir / "music.wav")]
    assert not rec.has_video and rec.split == "valid" and "style" in item
    rec, item = by_source[str(media_dir / "a.mp4")]
    assert rec.split == "train" and "style" not in item
    assert [s["source"] for s in report.skipped] == ["missing.mp4"] and "no such file" in report.skipped[0]["reason"]


def test_bad_files_are_skipped_with_one_line_each(components, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    mediagen.make_video(src / "silent.mp4", duration=1.5)  # no audio track
    mediagen.make_audio(src / "short.wav", duration=0.4)
    (src / "empty.mp3").write_bytes(b"")
    full = mediagen.make_video(tmp_path / "full.mkv", duration=4.0, fps=10, size=(32, 48), audio_rate=16000)
    (src / "cut.mkv").write_bytes(full.read_bytes()[: full.stat().st_size // 2])  # decodes, then stops mid-stream
    report = prepare(src, tmp_path / "cache", config(components), progress=False)
    reasons = {}
    for s in report.skipped:
        reasons.setdefault(s["source"], []).append(s["reason"])
    assert reasons["silent.mp4"] == ["has no audio track (the music is needed for the tokens)"]
    assert reasons["short.wav"] == ["too short (0.40 s < --min-seconds 1)"]
    assert reasons["empty.mp3"] == ["file is empty (0 bytes)"]
    assert 1 <= len(reasons["cut.mkv"]) <= 3 and all(r.startswith("clip ") for r in reasons["cut.mkv"])
    assert report.new_items == 4 - len(reasons["cut.mkv"]) >= 1  # the clips before the cut are kept
    assert all("\n" not in line for line in report.lines())


def test_info_cli(reference, capsys):
    assert cache_cli.main(["info", str(reference)]) == 0
    out = capsys.readouterr().out
    assert "items: 7 (0.00 h) from 3 source(s): 5 with video, 2 audio-only" in out
    assert "splits: train 7" in out and "1 x not a readable media file" in out and "codebook usage:" in out
    assert cache_cli.main(["info", str(reference), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["items"] == 7 and info["tokens"]["semantic"]["tokens"] == 350 and len(info["tokens"]["codebooks"]) == 4
    assert cache_cli.main(["skipped", str(reference)]) == 0
    assert capsys.readouterr().out.startswith("broken.mp4\t")


@pytest.mark.slow
def test_worker_pool_gives_the_same_cache(reference, media_dir, components, tmp_path):
    report = prepare(media_dir, tmp_path / "cache", config(components), workers=2, progress=False)
    assert report.new_items == 7 and len(report.skipped) == 1
    assert_same(content(tmp_path / "cache"), content(reference))


@pytest.mark.slow
def test_audio_style_embedder(media_dir, components, tmp_path):
    from v2meow.tokenizers.style import build_style_embedder

    build_style_embedder("clap", debug=True).save_pretrained(tmp_path / "clap")
    cfg = PrepareConfig(
        features="motion",
        semantic=components["semantic"],
        codec=components["codec"],
        style=str(tmp_path / "clap"),
        clip_seconds=2.0,
    )
    prepare(media_dir, tmp_path / "cache", cfg, progress=False)
    r = CacheReader(tmp_path / "cache")
    assert r.manifest["style_source"] == "audio" and r.manifest["style_dim"] == 16
    for i in range(len(r)):
        style = r.load(i)["style"]
        assert style.shape == (16,) and abs(float(style.norm()) - 1) < 1e-3


@pytest.mark.slow
def test_audio_only_cache_trains_stages_2_and_3(components, tmp_path):
    from v2meow.training.runner import load_run_config, set_value
    from v2meow.training.stage_train import train_stage

    (tmp_path / "music").mkdir()
    for i in range(3):
        mediagen.make_audio(tmp_path / "music" / f"m{i}.flac", duration=3.0, rate=16000, freq=300.0 + 100 * i)
    prepare(tmp_path / "music", tmp_path / "cache", config(components, clip_seconds=3.0), progress=False)
    assert not any(rec.has_video for rec in CacheReader(tmp_path / "cache").records)
    configs = Path(__file__).parents[2] / "configs"
    for stage, window in (("stage2", 2.0), ("stage3", 1.0)):
        cfg = load_run_config(configs / f"{stage}.yaml")
        for key, value in {
            "out": str(tmp_path / stage),
            "data.cache": str(tmp_path / "cache"),
            "data.batch_size": 2,
            "data.num_workers": 0,
            "data.val_split": None,
            "model.preset": "debug",
            "model.warmup_steps": 2,
            "model.fields.window_seconds": window,
            "trainer.accelerator": "cpu",
            "trainer.devices": 1,
            "trainer.enable_progress_bar": False,
            "trainer.fast_dev_run": True,
        }.items():
            set_value(cfg, key, value)
        assert (train_stage(stage, cfg) / "model.safetensors").is_file()


def test_audio_only_cache_without_visual_features(media_dir, components, tmp_path):
    """--features none: every source's music, no visual stream, a manifest with feature_rate 0 that
    prepare resumes and stage 2 (which reads no pictures) trains from."""
    cfg = PrepareConfig(
        features="none", semantic=components["semantic"], codec=components["codec"], clip_seconds=CLIP, threads=1
    )
    out = tmp_path / "cache"
    report = prepare(media_dir, out, cfg, progress=False)
    assert report.new_items == 7
    r = CacheReader(out)
    assert r.manifest["feature_rate"] == 0.0 and r.manifest["features"] == "none"
    assert all("visual" not in r.load(i) for i in range(len(r.records)))
    assert prepare(media_dir, out, cfg, progress=False).new_items == 0  # the manifest reads back
    ds = StageDataset(out, "stage2", crop_seconds=CLIP, num_coarse=2, split=None)
    assert len(ds) == 7 and all(key != "visual" for key in ds[0])
