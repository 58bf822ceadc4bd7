"""A new condition channel in one registration (issue: the chain as data): prepared into the cache,
read by the dataset for training, checked in a bundle and computed from the video at generation,
with no change to the package (`features.channels`; docs/extending.md)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mediagen
from v2meow.data.cache import CacheReader
from v2meow.data.datasets import StageDataset
from v2meow.data.prepare import PrepareConfig, prepare
from v2meow.features.channels import CHANNELS, Channel
from v2meow.pipelines import V2MeowPipeline
from v2meow.pipelines.checks import IncompatibleComponentsError
from v2meow.pipelines.debug import SEMANTIC_RATE, build_debug_bundle
from v2meow.stages.conditions import Stream


def loudness_music(wav: np.ndarray, sample_rate: int, frames: int, rate: float) -> np.ndarray:
    """RMS of the music in each frame -> `[frames]`."""
    hop = sample_rate / rate
    return np.array([np.sqrt(np.mean(wav[round(i * hop) : round((i + 1) * hop)] ** 2 + 1e-12)) for i in range(frames)])


def loudness_video(extractor, video, features, frames: int, rate: float) -> np.ndarray:
    """The mean of the video's features, held over each frame -> `[frames]`."""
    x = features.features.float().mean(1).numpy()  # [T_v]
    idx = np.minimum((np.arange(frames) / rate * features.rate).astype(int), len(x) - 1)
    return x[idx]


STREAM = {"name": "loudness", "kind": "features", "size": 1, "rate": SEMANTIC_RATE, "dropout": 0.2, "route": "aligned"}


@pytest.fixture
def loudness(monkeypatch):
    """The toy channel, registered for this test only."""
    made = []

    def video(*args):
        made.append(args)
        return loudness_video(*args)

    monkeypatch.setitem(CHANNELS, "loudness", Channel("loudness", 1, loudness_music, video))
    return made


def test_a_registered_channel_is_prepared_trained_on_checked_and_generated(loudness, components, tmp_path):
    mediagen.make_video(tmp_path / "v.mp4", duration=2.0, fps=10, size=(32, 48), audio_rate=16000)
    (tmp_path / "list.csv").write_text("video,audio,caption,split\nv.mp4,,,train\n")
    cfg = PrepareConfig(features="motion", semantic=components["semantic"], codec=components["codec"],
                        feature_rate=5.0, clip_seconds=2.0, threads=1, channels=("loudness",))  # fmt: skip
    prepare(tmp_path / "list.csv", tmp_path / "cache", cfg, progress=False)
    reader = CacheReader(tmp_path / "cache")
    m, item = reader.manifest, reader.load(0)
    assert m["loudness"] is True and m["loudness_rate"] == m["semantic_rate"]
    assert item["loudness"].shape == (item["semantic"].shape[0], 1) and float(item["loudness"].float().max()) > 0
    stream = Stream("loudness", "features", 1, float(m["semantic_rate"]), route="aligned")
    visual = Stream("visual", "features", int(m["feature_dim"]), float(m["feature_rate"]))
    example = StageDataset(reader, "semantic", crop_seconds=1.0, streams=[visual, stream], split=None)[0]
    assert example["conditions"]["loudness"].value.shape == (round(1.0 * m["semantic_rate"]), 1)

    pipe = V2MeowPipeline.from_pretrained(build_debug_bundle(tmp_path / "b", stage1_fields={"extra_streams": [STREAM]}))
    assert pipe.channels_read == ("loudness",) and not pipe.uses_rhythm
    video = tmp_path / "v.mp4"
    seen = []
    original = pipe.stage1.generate
    pipe.stage1.generate = lambda **kw: seen.append(kw["conditions"]["loudness"].value) or original(**kw)
    out = pipe(video, seed=0)
    assert loudness and out.audio.shape[-1] == round(2.0 * out.sample_rate)  # made from the video
    frames = round(2.0 * SEMANTIC_RATE)
    quiet = pipe(video, seed=0, channels={"loudness": torch.zeros(frames, 1)})
    loud = pipe(video, seed=0, channels={"loudness": torch.full((frames, 1), 3.0)})
    assert len(loudness) == 1 and seen[0].shape == (1, frames, 1)  # given channels are not made again
    assert not torch.equal(loud.semantic, quiet.semantic)  # stage 1 reads it
    with pytest.raises(Exception, match="no stage of this bundle reads one"):
        pipe(video, seed=0, channels={"rhythm": torch.zeros(frames, 1)})


def test_a_stage_reading_an_unregistered_channel_is_refused(tmp_path):
    with pytest.raises(IncompatibleComponentsError, match="loudness"):
        V2MeowPipeline.from_pretrained(build_debug_bundle(tmp_path / "b", stage1_fields={"extra_streams": [STREAM]}))


def test_the_rhythm_channel_records_what_caches_made_with_rhythm_hold():
    """`--channel rhythm` writes the manifest keys `--rhythm` always wrote (caches made before stay valid)."""
    assert CHANNELS["rhythm"].contract(25.0) == {
        "rhythm": True, "rhythm_rate": 25.0, "rhythm_pulse_window": 0.2, "rhythm_pulse_width": 0.04,
    }  # fmt: skip


def test_prepare_refuses_an_unknown_channel_in_one_line(tmp_path, capsys):
    from v2meow.cli.prepare import main

    (tmp_path / "list.csv").write_text("video,audio,caption,split\nv.mp4,,,train\n")
    argv = ["--input", str(tmp_path / "list.csv"), "--out", str(tmp_path / "c"), "--features", "motion",
            "--semantic", "s", "--codec", "c", "--channel", "lyrics"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown channel 'lyrics'" in err and "rhythm" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "c").exists()
