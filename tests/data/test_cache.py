import pytest
import torch

from cachegen import CONTRACT, make_cache
from v2meow.data.cache import CacheReader, CacheWriter, ItemRecord, write_manifest
from v2meow.data.datasets import StageDataset
from v2meow.errors import ConfigError
from v2meow.stages.layout import common_grid


def test_write_read_round_trip(tmp_path):
    make_cache(tmp_path, durations=(3.0, 2.5, 1.2), audio_only=(1,))
    r = CacheReader(tmp_path)
    assert len(r) == 3 and r.keys() == {"item0", "item1", "item2"}
    assert len(list(tmp_path.glob("items-*.safetensors"))) == 2  # 2 items per shard
    item = r.load(0)
    assert (
        item["semantic"].dtype == torch.int32
        and item["codes"].dtype == torch.int16
        and item["visual"].dtype == torch.float16
    )
    assert item["codes"].shape == (4, 60) and item["visual"].shape == (15, 8)
    assert "visual" not in r.load(1) and not r.records[1].has_video


def test_old_caches_name_the_visual_stream_features_and_extra_streams_keep_their_dtype(tmp_path):
    write_manifest(tmp_path, CONTRACT)
    w = CacheWriter(tmp_path, items_per_shard=1)
    rec = ItemRecord(key="a", source="a.wav", clip_start=0.0, duration=1.0)
    w.add(rec, {"features": torch.ones(5, 8), "rhythm": torch.rand(10, 1), "chords": torch.arange(10)})
    w.flush()
    item = CacheReader(tmp_path).load(0)
    assert "features" not in item and item["visual"].shape == (5, 8)  # read under the stream's name
    assert item["rhythm"].dtype == torch.float16 and item["chords"].dtype == torch.int32
    with pytest.raises(ConfigError, match="identifiers"):
        w.add(rec, {"bad/name": torch.ones(1)})


def test_manifest_refuses_other_components(tmp_path):
    make_cache(tmp_path)
    write_manifest(tmp_path, CONTRACT)  # same contract: fine
    with pytest.raises(ConfigError, match="codec"):
        write_manifest(tmp_path, {**CONTRACT, "codec": "other-codec"})


def test_duplicate_items_read_once_and_skips_listed(tmp_path):
    make_cache(tmp_path)
    w = CacheWriter(tmp_path, tag="1of2")
    w.add(ItemRecord(key="item0", source="x", clip_start=0, duration=1.0), {"semantic": torch.zeros(10)})
    w.skip("bad", "bad.mp4", "no audio stream")
    w.flush()
    r = CacheReader(tmp_path)
    assert len(r) == 3
    assert r.skipped() == [{"key": "bad", "source": "bad.mp4", "reason": "no audio stream"}]


def test_common_grid():
    assert common_grid([10.0, 25.0, 75.0]) == pytest.approx(0.2)
    assert common_grid([1.0, 50.0]) == pytest.approx(1.0)


def test_stage_crops_are_aligned_across_rates(tmp_path):
    make_cache(tmp_path, durations=(6.0,))
    torch.manual_seed(3)
    ds = StageDataset(tmp_path, "stage1", crop_seconds=2.0)
    starts = set()
    for _ in range(8):
        ex = ds[0]
        t0_feat = ex["conditions"]["visual"].value[0, 0].item() / CONTRACT["feature_rate"]
        # semantic values are their frame index modulo the vocabulary
        assert round(t0_feat * CONTRACT["semantic_rate"]) % CONTRACT["semantic_vocab"] == ex["semantic"][0].item()
        assert (
            ex["conditions"]["visual"].value.shape == (10, 8)
            and ex["semantic"].shape == (20,)
            and ex["conditions"]["visual"].mask.all()
        )
        starts.add(t0_feat)
    assert len(starts) > 1  # crops move from one draw to the next
    ds2 = StageDataset(tmp_path, "stage2", crop_seconds=2.0, num_coarse=2)
    for _ in range(4):
        ex = ds2[0]
        assert ex["coarse"].shape == (2, 40)
        # the code frame index is twice the semantic index (20 Hz vs 10 Hz); values are index mod vocab
        assert (2 * ex["semantic"][0].item()) % 16 == ex["coarse"][0, 0].item()


def test_short_clip_is_padded_and_masked(tmp_path):
    make_cache(tmp_path, durations=(1.2,))
    ex = StageDataset(tmp_path, "stage3", crop_seconds=2.0, num_coarse=2, num_fine=2)[0]
    assert ex["coarse"].shape == (2, 40) and ex["fine"].shape == (2, 40)
    assert ex["mask"].sum() == 24 and not ex["mask"][24:].any() and (ex["fine"][:, 24:] == 0).all()


def test_audio_only_items(tmp_path):
    make_cache(tmp_path, durations=(3.0, 3.0), audio_only=(0, 1))
    assert len(StageDataset(tmp_path, "stage2", 2.0, num_coarse=2)) == 2  # stages 2/3 train without video
    with pytest.raises(ConfigError, match="no usable items"):
        StageDataset(tmp_path, "stage1", 2.0)


def test_stage1_can_read_audio_only_items_with_the_visual_stream_dropped(tmp_path):
    from v2meow.stages.conditions import Stream

    make_cache(tmp_path, durations=(3.0, 3.0), audio_only=(1,))
    streams = [Stream("visual", "features", CONTRACT["feature_dim"], CONTRACT["feature_rate"])]
    ds = StageDataset(tmp_path, "stage1", 2.0, streams=streams, visual_optional=True, random_crop=False)
    assert len(ds) == 2 and len(StageDataset(tmp_path, "stage1", 2.0, streams=streams)) == 1
    by_video = {ds.reader.records[i].has_video: ds[i] for i in range(2)}
    assert not bool(by_video[True]["conditions"]["visual"].drop) and bool(by_video[False]["conditions"]["visual"].drop)
    silent = by_video[False]["conditions"]["visual"].value
    assert silent.shape == by_video[True]["conditions"]["visual"].value.shape and not silent.any()
    assert by_video[False]["conditions"]["visual"].mask.all()  # all attendable: they are null embeddings once dropped
