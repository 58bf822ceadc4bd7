"""v2meow-prepare --stretch (tempo augmentation) and --rhythm (the rhythm channel), and the stage 1 rhythm stream."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch

import mediagen
from v2meow.cli import cache as cache_cli
from v2meow.cli import prepare as prepare_cli
from v2meow.data.cache import CacheReader, merge_caches
from v2meow.data.datasets import StageDataset
from v2meow.data.prepare import PrepareConfig, prepare
from v2meow.data.sources import parse_item_key
from v2meow.errors import ConfigError
from v2meow.features.motion import MOTION_FEATURES
from v2meow.stages.ar_semantic import Stage1Config

FACTORS = (0.8, 1.25)
CLICKS = (0.25, 0.75, 1.25, 1.75)  # seconds: the click times of clicks.wav
CUT = 1.0  # seconds: the hard cut of cut.mp4
FEATURE_RATE = 5.0
RHYTHM = {"name": "rhythm", "kind": "features", "size": 1, "rate": 50.0, "dropout": 0.3, "route": "aligned"}


def config(components, **kw) -> PrepareConfig:
    return PrepareConfig(
        features="motion",
        semantic=components["semantic"],
        codec=components["codec"],
        style=components["style"],
        feature_rate=FEATURE_RATE,
        clip_seconds=2.0,
        threads=1,
        **kw,
    )


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A CSV of a 2-s video with a cut at 1 s (train) and 2 s of clicks (valid, audio-only, captioned)."""
    root = tmp_path_factory.mktemp("stretch-media")
    mediagen.make_video(root / "cut.mp4", duration=2.0, fps=10, size=(32, 48), pattern="cut", audio_rate=16000)
    sr = 16000
    wav = 1e-3 * np.random.default_rng(0).standard_normal(2 * sr)
    tt = np.arange(round(0.03 * sr)) / sr
    for t in CLICKS:
        i = round(t * sr)
        wav[i : i + tt.size] += 0.8 * np.sin(2 * np.pi * 1500 * tt) * np.exp(-tt / 0.006)
    sf.write(str(root / "clicks.wav"), wav.astype(np.float32), sr)
    csv = root / "list.csv"
    csv.write_text("video,audio,caption,split\ncut.mp4,,,train\n,clicks.wav,fast clicks,valid\n")
    return csv


@pytest.fixture(scope="module")
def stretched(tmp_path_factory, inputs, components):
    out = tmp_path_factory.mktemp("stretch") / "cache"
    report = prepare(
        inputs,
        out,
        config(components, stretch=FACTORS, channels=("rhythm",), beat_weights=True),
        progress=False,
        items_per_shard=1,
    )
    assert report.new_items == 2 * (1 + len(FACTORS)) and not report.skipped
    return out


def by_key(root) -> dict:
    r = CacheReader(root)
    return {rec.key: (rec, r.load(i)) for i, rec in enumerate(r.records)}


def test_items_keys_shapes_and_splits(stretched):
    r = CacheReader(stretched)
    m = r.manifest
    assert m["stretch"] == list(FACTORS) and m["rhythm"] is True and m["rhythm_rate"] == m["semantic_rate"] == 50.0
    assert m["rhythm_pulse_window"] == 0.2 and m["rhythm_pulse_width"] == 0.04
    items = by_key(stretched)
    clips = {parse_item_key(k)[0] + "#0" for k in items}
    assert len(clips) == 2
    for clip in clips:  # the clip itself keeps its plain key; its copies are "<key>@x<factor>"
        assert {k for k in items if k.startswith(clip)} == {clip, clip + "@x0.8", clip + "@x1.25"}
    for key, (rec, item) in items.items():
        factor = parse_item_key(key)[2]
        assert rec.extra["stretch"] == factor and rec.clip_start == 0.0
        assert rec.duration == pytest.approx(2.0 / factor)
        assert rec.split == ("valid" if rec.source == "clicks.wav" else "train")  # a copy keeps its clip's split
        t_s = round(rec.duration * m["semantic_rate"])
        assert item["semantic"].shape == (t_s,) and item["beats"].shape == (t_s,)
        assert item["rhythm"].shape == (t_s, 1) and item["rhythm"].dtype == torch.float16
        assert item["codes"].shape == (m["num_codebooks"], round(rec.duration * m["codec_rate"]))
        if rec.has_video:
            assert item["visual"].shape == (math.ceil(rec.duration * FEATURE_RATE - 1e-9), m["feature_dim"])
        else:
            assert "visual" not in item and item["style"].shape == (16,)  # caption style on every copy


def test_copies_are_stretched_in_time(stretched):
    for key, (rec, item) in by_key(stretched).items():
        factor = parse_item_key(key)[2]
        if rec.has_video:  # the cut's motion spike moves from 1 s to 1 / factor s
            energy = item["visual"][:, MOTION_FEATURES.index("motion_mean")].float()
            assert abs(int(energy.argmax()) / FEATURE_RATE - CUT / factor) <= 1.0 / FEATURE_RATE + 1e-9, key
        else:  # the rhythm pulses of the clicks move from t to t / factor
            pulses = item["rhythm"][:, 0].float().numpy()
            peaks = [
                i
                for i in range(1, len(pulses) - 1)
                if pulses[i] > 0.5 and pulses[i] >= pulses[i - 1] and pulses[i] > pulses[i + 1]
            ]
            assert np.allclose(np.array(peaks) / 50.0, np.array(CLICKS) / factor, atol=0.03), (key, peaks)


def test_rerun_and_lost_items_resume_per_factor(stretched, inputs, components, tmp_path):
    out = tmp_path / "cache"
    shutil.copytree(stretched, out)
    cfg = config(components, stretch=FACTORS, channels=("rhythm",), beat_weights=True)
    report = prepare(inputs, out, cfg, progress=False)
    assert (report.new_items, report.cached_items, report.skipped) == (0, 6, [])
    lost = out / next(rec.shard for rec in CacheReader(out).records if rec.key.endswith("@x1.25"))  # one item per shard
    lost.unlink()  # as if the run had been killed before that item was flushed
    report = prepare(inputs, out, cfg, progress=False)
    assert (report.new_items, report.cached_items) == (1, 5)
    before, after = by_key(stretched), by_key(out)
    assert before.keys() == after.keys()
    for key in before:
        for name, t in before[key][1].items():
            assert torch.equal(t, after[key][1][name]), (key, name)
    with pytest.raises(ConfigError, match="stretch"):  # another factor list is another cache
        prepare(
            inputs, out, config(components, stretch=(0.9,), channels=("rhythm",), beat_weights=True), progress=False
        )
    with pytest.raises(ConfigError, match="rhythm"):
        prepare(inputs, out, config(components, stretch=FACTORS, beat_weights=True), progress=False)


def test_stretched_and_plain_caches_merge(stretched, inputs, components, tmp_path):
    plain = tmp_path / "plain"
    prepare(inputs, plain, config(components, stretch=(0.9,), channels=("rhythm",), beat_weights=True), progress=False)
    merged = tmp_path / "merged"
    assert cache_cli.main(["merge", str(stretched), str(plain), "--out", str(merged)]) == 0
    r = CacheReader(merged)
    assert r.manifest["stretch"] == [0.8, 0.9, 1.25]  # every factor of its sources; items keep their own
    first = r.records[0].key.split("@")[0]
    assert sorted(rec.extra["stretch"] for rec in r.records if rec.key.split("@")[0] == first) == [0.8, 0.9, 1.0, 1.25]
    assert len(r.records) == 6 + 2  # the clips themselves are in both: the first copy of a key is kept
    other = tmp_path / "other"
    prepare(inputs, other, config(components, beat_weights=True), progress=False)
    with pytest.raises(ConfigError, match="cannot merge .*rhythm"):  # components and channels must still match
        merge_caches([merged, other], tmp_path / "m2")


def test_info_mentions_rhythm_and_stretch(stretched, capsys):
    assert cache_cli.main(["info", str(stretched), "--max-items", "0"]) == 0
    out = capsys.readouterr().out
    assert "rhythm: music onset pulses at 50 Hz" in out
    assert "stretch: x0.8, x1.25 (items per factor: x0.8 2, x1 2, x1.25 2)" in out


@pytest.mark.parametrize("value", ["0", "-1", "abc", "2.5", "0.8,,1.1", "nan", "inf"])
def test_bad_stretch_is_one_line_and_exit_2(value, components, inputs, tmp_path, capsys):
    out = tmp_path / "cache"
    argv = [
        "--input",
        str(inputs),
        "--out",
        str(out),
        "--features",
        "motion",
        "--semantic",
        components["semantic"],
        "--codec",
        components["codec"],
        f"--stretch={value}",
        "--quiet",
    ]
    assert prepare_cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--stretch expects comma-separated speed factors in [0.5, 2]" in err[0]
    assert not out.exists()


def test_stage1_rhythm_stream_is_cropped_with_the_semantic_tokens(stretched):
    m = CacheReader(stretched).manifest
    streams = Stage1Config(
        feature_dim=m["feature_dim"],
        feature_rate=FEATURE_RATE,
        style_dim=16,
        semantic_rate=50.0,
        extra_streams=[RHYTHM],
    ).streams()
    ds = StageDataset(stretched, "stage1", crop_seconds=1.0, streams=streams, split=None, random_crop=False)
    assert len(ds) == 3  # the video's clip and its two copies
    for i in range(len(ds.reader.records)):
        ex = ds[i]
        rhythm = ds.reader.load(i)["rhythm"].float()
        assert ex["conditions"]["rhythm"].value.shape == (50, 1) and ex["conditions"]["rhythm"].mask.all()
        assert torch.equal(ex["conditions"]["rhythm"].value, rhythm[:50])
    with pytest.raises(ConfigError, match="rhythm has rate 25 but .* stores it at 50 Hz"):
        StageDataset(
            stretched,
            "stage1",
            crop_seconds=1.0,
            split=None,
            streams=Stage1Config(
                feature_dim=m["feature_dim"], feature_rate=FEATURE_RATE, extra_streams=[{**RHYTHM, "rate": 25.0}]
            ).streams(),
        )


@pytest.mark.parametrize("shape", ["2d", "1d"])
def test_rhythm_crop_is_aligned_with_a_random_window(tmp_path, shape):
    from cachegen import CONTRACT, make_cache

    root = make_cache(tmp_path / "c", durations=(6.0, 4.5), rhythm=shape)
    streams = Stage1Config(
        feature_dim=CONTRACT["feature_dim"],
        feature_rate=CONTRACT["feature_rate"],
        style_dim=6,
        semantic_rate=10.0,
        extra_streams=[{**RHYTHM, "rate": 10.0}],
    ).streams()
    ds = StageDataset(root, "stage1", crop_seconds=2.0, streams=streams)
    torch.manual_seed(0)
    starts = set()
    for _ in range(12):
        ex = ds[0]
        rhythm = ex["conditions"]["rhythm"].value  # [T, 1]: the semantic frame index, as cachegen writes it
        assert rhythm.shape == (20, 1) and ex["conditions"]["rhythm"].mask.all()
        frames = rhythm[:, 0].long()  # [20]
        assert torch.equal(frames, torch.arange(20) + frames[0])
        assert torch.equal(frames % CONTRACT["semantic_vocab"], ex["semantic"])  # the same frames as the tokens
        assert int(ex["conditions"]["visual"].value[0, 0]) == int(frames[0]) // 2  # and the video (5 Hz)
        starts.add(int(frames[0]))
    assert len(starts) > 1  # the windows moved


def test_disagreeing_items_pair_a_stretched_copys_music_and_caption_with_its_clips_picture(tmp_path):
    """`disagree`: a stretched copy read with its clip's own picture and rhythm (same crop times),
    keeping its own music and caption; never for the clip itself, and only for stage 1."""
    import pytest
    import torch

    from cachegen import make_cache
    from v2meow.data.cache import CacheReader
    from v2meow.data.datasets import StageDataset, default_streams
    from v2meow.errors import ConfigError
    from v2meow.stages.conditions import Stream

    cache = make_cache(tmp_path / "c", durations=(3.0, 3.75, 3.0), rhythm="2d", keys=["clip", "clip@x0.8", "other"])
    reader = CacheReader(cache)
    rhythm = Stream("rhythm", "features", 1, float(reader.manifest["semantic_rate"]), route="aligned")
    streams = [*default_streams(reader.manifest), rhythm]
    items = [reader.load(i) for i in range(3)]

    def example(disagree, i, seed=7):
        ds = StageDataset(cache, "stage1", crop_seconds=2.0, streams=streams, split=None, disagree=disagree)
        return ds[(i, seed)]["conditions"]

    mixed, plain = example(1.0, 1), example(0.0, 1)
    n = mixed["visual"].value.shape[0]
    for got, src in ((mixed, items[0]), (plain, items[1])):  # the picture: the clip's, or the copy's own
        assert any(torch.equal(got["visual"].value, src["visual"][s : s + n].float()) for s in range(0, 20))
    assert torch.equal(mixed["style"].value, items[1]["style"].float())  # the copy's own caption
    assert not torch.equal(mixed["style"].value, items[0]["style"].float())
    assert torch.equal(example(1.0, 2)["visual"].value, example(0.0, 2)["visual"].value)  # no copy: as it is

    def from_clip(seed):
        v = example(0.5, 1, seed)["visual"].value
        return any(torch.equal(v, items[0]["visual"][s : s + n].float()) for s in range(0, 20))

    assert 4 <= sum(from_clip(seed) for seed in range(20)) <= 16  # about half, by each example's own draw
    with pytest.raises(ConfigError, match="stage 1"):
        StageDataset(cache, "stage2", crop_seconds=2.0, num_coarse=2, split=None, disagree=0.5)
