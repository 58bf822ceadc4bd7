"""Generated audio is normalised to a target loudness (default -14 LUFS) under a -1 dBTP ceiling,
through the Python API, pipeline.json and v2meow-generate; `none` turns it off."""

import json
import shutil

import pytest
import soundfile as sf
import torch

from v2meow.errors import ConfigError
from v2meow.pipelines import V2MeowPipeline
from v2meow.pipelines.bundle import GenerationConfig, read_bundle
from v2meow.pipelines.debug import build_debug_bundle
from v2meow.safety import validation
from v2meow.signal.loudness import integrated_loudness, true_peak


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return build_debug_bundle(tmp_path_factory.mktemp("bundle") / "debug")


@pytest.fixture(scope="module")
def pipe(bundle):
    return V2MeowPipeline.from_pretrained(bundle)


def test_loudness_values_are_checked_once_in_validation():
    assert (
        validation.loudness(-14) == -14.0 and validation.loudness(None) is None and validation.loudness("None") is None
    )
    assert validation.parse_loudness("-23.5") == -23.5 and validation.parse_loudness("none") is None
    for bad in (5.0, -71.0, float("nan"), float("inf"), True, "loud"):
        with pytest.raises(ConfigError, match="loudness"):
            validation.loudness(bad)
    with pytest.raises(ConfigError, match="--loudness"):
        validation.parse_loudness("loud")


def test_generation_config_default_and_pipeline_json(bundle, tmp_path):
    assert (
        GenerationConfig().loudness == -14.0 and read_bundle(bundle)["generation"].loudness == -14.0
    )  # key absent: default
    assert GenerationConfig().replace(loudness="none").loudness is None
    assert (
        GenerationConfig().replace(loudness=-20).loudness == -20.0
        and GenerationConfig().replace(loudness=None).loudness == -14.0
    )
    copy = tmp_path / "b"
    shutil.copytree(bundle, copy)
    spec = json.loads((copy / "pipeline.json").read_text())
    for value, expected in ((None, None), (-18.0, -18.0)):
        spec["generation"]["loudness"] = value
        (copy / "pipeline.json").write_text(json.dumps(spec))
        assert read_bundle(copy)["generation"].loudness == expected
    spec["generation"]["loudness"] = 3
    (copy / "pipeline.json").write_text(json.dumps(spec))
    with pytest.raises(ConfigError, match="generation.loudness"):
        read_bundle(copy)


def test_pipeline_output_is_normalised_and_none_leaves_it(pipe, make_video):
    video = make_video(duration=3.0, fps=10, size=(32, 32))
    raw = pipe(video, seed=2, loudness="none")
    out = pipe(video, seed=2)
    assert torch.equal(raw.fine, out.fine)  # same music, only louder or softer
    sr = out.sample_rate
    before = integrated_loudness(raw.audio[0].numpy(), sr)
    assert before > -70  # the debug codec makes sound
    assert abs(integrated_loudness(out.audio[0].numpy(), sr) - -14.0) <= 1.0 and true_peak(out.audio[0].numpy()) <= -1.0
    quiet = pipe(video, seed=2, loudness=-30)
    assert abs(integrated_loudness(quiet.audio[0].numpy(), sr) - -30.0) <= 1.0


def test_generate_cli_loudness(bundle, make_video, tmp_path, capsys):
    from v2meow.cli.generate import main

    video = make_video(duration=2.0, fps=10, size=(32, 32))
    for value, target in (("-20", -20.0), ("none", None)):
        out = tmp_path / f"o{value}.wav"
        assert (
            main(["--video", str(video), "--bundle", str(bundle), "--out", str(out), "--quiet", "--loudness", value])
            == 0
        )
        wav, sr = sf.read(str(out), dtype="float32")
        if target is not None:
            assert abs(integrated_loudness(wav, sr) - target) <= 1.0 and true_peak(wav) <= -1.0 + 1e-3
    for bad in ("5", "loud"):
        assert (
            main(["--video", str(video), "--bundle", str(bundle), "--out", str(tmp_path / "x.wav"), "--loudness", bad])
            == 2
        )
        err = capsys.readouterr().err.strip()
        assert "--loudness" in err and len(err.splitlines()) == 1 and not (tmp_path / "x.wav").exists()
