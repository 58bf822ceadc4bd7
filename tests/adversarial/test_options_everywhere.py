"""One set of numeric checks for the Python API, pipeline.json, the app's settings and the sampler."""

from __future__ import annotations

import math

import pytest

from v2meow.app.soundtrack import Limits, Settings, SoundtrackJob, prune
from v2meow.errors import ConfigError, MediaError
from v2meow.pipelines import V2MeowPipeline
from v2meow.pipelines.bundle import GenerationConfig
from v2meow.safety import validation
from v2meow.stages.sampling import SamplingConfig

BAD = [
    ("temperatures", (math.nan, 1, 1)),
    ("temperatures", (1, math.inf, 1)),
    ("temperatures", (-0.1, 1, 1)),
    ("temperatures", "hot"),
    ("top_k", (1.7, 0, 0)),
    ("top_k", (-1, 0, 0)),
    ("top_p", (0.0, 1, 1)),
    ("top_p", (1.5, 1, 1)),
    ("cfg", (math.nan, 1, 1)),
    ("cfg", (-1, 1, 1)),
    ("seed", 2**63),
    ("seed", -1),
    ("seed", 1.5),
    ("num_samples", validation.MAX_SAMPLES + 1),
    ("num_samples", 0),
    ("num_samples", True),
    ("context_seconds", (math.nan, 1, 1)),
    ("temperatures", (1, 1)),
]


@pytest.mark.parametrize("field,value", BAD)
def test_generation_config_refuses(field, value):
    with pytest.raises(ConfigError, match=field):
        GenerationConfig().replace(**{field: value})


@pytest.mark.parametrize(
    "sampling,field",
    [
        ([{"temperature": math.nan}, {}, {}], r"sampling\[1\]\.temperature"),
        ([{}, {"top_k": 1.7}, {}], r"sampling\[2\]\.top_k"),
        ([{}, {}, {"guidance": {"all": -1}}], r"sampling\[3\]\.guidance\.all"),
        ([{}, {}], "sampling"),
        ([{}, {}, {"temprature": 1}], "temprature"),
        ([{}, {}, {"guidance": 3}], "guidance"),
        ({"semantic": {}, "coarse": {"top_p": 0}, "fine": {}}, r"sampling\.coarse\.top_p"),
        ({"semantic": {}, "coarse": {}}, "fine missing"),
        ({"semantic": {}, "coarse": {}, "fine": {}, "finest": {}}, "unknown role finest"),
    ],
)
def test_per_stage_settings_refused_naming_the_stage(sampling, field):
    with pytest.raises(ConfigError, match=field):
        GenerationConfig(sampling=sampling)


@pytest.fixture(scope="module")
def pipe(bundle):
    return V2MeowPipeline.from_pretrained(bundle)


@pytest.mark.parametrize("field,value", BAD)
def test_pipeline_call_refuses_before_any_work(pipe, field, value, monkeypatch):
    monkeypatch.setattr(pipe, "extract_features", lambda v: pytest.fail("work started"))
    with pytest.raises(ConfigError, match=field):
        pipe("unused.mp4", **{field: value})


def test_pipeline_call_unknown_setting(pipe):
    with pytest.raises(ConfigError, match="temprature"):
        pipe("unused.mp4", temprature=(1, 1, 1))


@pytest.mark.parametrize(
    "kwargs",
    [{"temperature": math.nan}, {"top_k": 1.7}, {"top_p": 0}, {"guidance": {"all": math.inf}}, {"temperature": "1"}],
)
def test_sampling_config_refuses(kwargs):
    with pytest.raises(ConfigError):
        SamplingConfig(**kwargs)


def test_valid_values_are_kept_exactly():
    g = GenerationConfig().replace(
        top_k=(1e3, 0, 5), seed=2**63 - 1, num_samples=validation.MAX_SAMPLES, temperatures=(0, 0.5, 1)
    )
    assert [s.top_k for s in g.sampling.values()] == [1000, 0, 5] and isinstance(g.sampling["semantic"].top_k, int)
    assert g.seed == 2**63 - 1
    assert validation.parse_numbers("1,2.5,3", "--x") == (1, 2.5, 3)
    assert validation.parse_int("99999999999999999999", "--seed") == 99999999999999999999  # exact, then range-checked


@pytest.mark.parametrize(
    "settings",
    [
        Settings(temperatures=(math.nan, 1, 1)),
        Settings(temperatures=(1, 1, math.inf)),
        Settings(seed=2**64),
        Settings(seed=None),
        Settings(seed=math.nan),
        Settings(num_samples=5),
        Settings(num_samples=math.nan),
    ],
)
def test_app_settings_refused(settings):
    with pytest.raises(ConfigError):
        settings.checked()


def test_app_limits(make_video, tmp_path):
    video = make_video("clip.mp4", duration=2.0, fps=10, size=(32, 32))
    with pytest.raises(MediaError, match="upload limit of 0.001 MB"):
        SoundtrackJob(None, tmp_path, Limits(max_upload_mb=0.001)).check_video(video)
    with pytest.raises(MediaError, match="longer than this app's limit of 1 s"):
        SoundtrackJob(None, tmp_path, Limits(max_seconds=1)).check_video(video)
    assert SoundtrackJob(None, tmp_path, Limits()).check_video(video).duration == pytest.approx(2.0, abs=0.05)
    for bad in ({"max_upload_mb": 0}, {"max_seconds": math.nan}, {"keep_minutes": -1}):
        with pytest.raises(ConfigError):
            Limits(**bad)


def test_app_deletes_old_job_files(tmp_path):
    import os
    import time

    old, new = tmp_path / "run-old", tmp_path / "run-new"
    for d in (old, new):
        d.mkdir()
        (d / "clip_v2meow.mp4").write_bytes(b"x")
    upload = tmp_path / "upload.mp4"
    upload.write_bytes(b"x")
    hour_ago = time.time() - 3600
    for p in (old, upload):
        os.utime(p, (hour_ago, hour_ago))
    removed = prune(tmp_path, max_age=30 * 60)
    assert sorted(p.name for p in removed) == ["run-old", "upload.mp4"]
    assert not old.exists() and new.exists() and (new / "clip_v2meow.mp4").exists()
