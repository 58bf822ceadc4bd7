"""v2meow-generate under bad inputs, bad outputs and bad numbers: exit 2, one line, nothing written, input intact."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from v2meow.cli.generate import main


def _run(bundle, video, out, *extra):
    return ["--video", video, "--bundle", bundle, "--out", out, "--quiet", *extra]


# ---- bad videos (already handled before this suite; kept so none regresses) ----------------


def test_bad_videos(bundle, make_video, make_audio, tmp_path, refused):
    (tmp_path / "zero.mp4").write_bytes(b"")
    (tmp_path / "text.mp4").write_text("not a video\n" * 100)
    good = make_video("good.mp4", duration=2.0, size=(64, 64))
    data = good.read_bytes()
    (tmp_path / "trunc.mp4").write_bytes(data[: len(data) // 2])
    make_audio("song.mp3", duration=0.5)
    for name in ("zero.mp4", "text.mp4", "trunc.mp4", "song.mp3", "missing.mp4"):
        out = tmp_path / f"{name}.out.mp4"
        err = refused(main, _run(bundle, tmp_path / name, out), out)
        assert name in err


# ---- outputs: checked before the model loads ------------------------------------------------


def test_out_is_the_input_in_every_disguise(bundle, video, tmp_path, refused, no_model):
    link = tmp_path / "link.mp4"
    link.symlink_to(video)
    hard = tmp_path / "hard.mp4"
    os.link(video, hard)
    sub = tmp_path / "sub"
    sub.mkdir()
    for out in (video, link, hard, sub / ".." / video.name, f"./{os.path.relpath(video)}"):
        err = refused(main, _run(bundle, video, out), video)
        assert "is the input" in err, err


def test_a_later_candidate_would_overwrite_the_input(bundle, make_video, tmp_path, refused, no_model):
    video = make_video("o-2.mp4", duration=1.0, fps=10, size=(32, 32))  # candidate 2 of o.mp4 is o-2.mp4
    out = tmp_path / "o.mp4"
    assert "is the input" in refused(main, _run(bundle, video, out, "--num-samples", "2"), out, video)


def test_batch_output_that_is_an_input(bundle, make_video, tmp_path, refused, no_model):
    folder = tmp_path / "videos"
    folder.mkdir()
    make_video("videos/a.mp4", duration=1.0, fps=10, size=(32, 32))
    clash = make_video("videos/a_v2meow.mp4", duration=1.0, fps=10, size=(32, 32))  # what a's output would be
    argv = ["--video-dir", folder, "--out-dir", folder, "--bundle", bundle, "--quiet"]
    assert "is the input" in refused(main, argv, clash)


@pytest.mark.parametrize("name", ["missing/o.mp4", "o.txt", "o.m4v", "o.avi", "o.gif", "o"])
def test_unusable_output_paths(bundle, video, tmp_path, refused, no_model, name):
    out = tmp_path / name
    refused(main, _run(bundle, video, out), out)


def test_container_that_cannot_hold_the_codec(bundle, video, tmp_path, refused, no_model):
    out = tmp_path / "o.webm"  # an H.264 video cannot be copied into WebM
    err = refused(main, _run(bundle, video, out), out)
    assert "h264" in err and ".webm" in err


def test_unwritable_folder(bundle, video, unwritable_dir, refused, no_model):
    for name in ("o.mp4", "o.wav"):
        err = refused(main, _run(bundle, video, unwritable_dir / name), unwritable_dir / name)
        assert "cannot write" in err, err


# ---- numbers: one check for the CLI, checked before the model loads ---------------------------


@pytest.mark.parametrize(
    "option,value",
    [
        ("--temperatures", "nan"),
        ("--temperatures", "inf"),
        ("--temperatures", "-1"),
        ("--temperatures", "hot"),
        ("--temperatures", "1,2"),
        ("--top-k", "1.7"),
        ("--top-k", "-1"),
        ("--top-p", "0"),
        ("--top-p", "1.5"),
        ("--top-p", "nan"),
        ("--cfg", "nan"),
        ("--cfg", "-1"),
        ("--guidance", "semantic.all=nan"),
        ("--guidance", "semantic.style=-1"),
        ("--guidance", "semantic.style"),
        ("--guidance", "=2"),
        ("--seed", "99999999999999999999999"),
        ("--seed", "-1"),
        ("--seed", "1.5"),
        ("--num-samples", "1000"),
        ("--num-samples", "0"),
        ("--num-samples", "2.5"),
    ],
)
def test_bad_numbers(bundle, video, tmp_path, refused, no_model, option, value):
    out = tmp_path / "o.wav"
    err = refused(main, _run(bundle, video, out, option, value), out)
    assert option in err, err


def test_cfg_for_a_stage_with_nothing_to_guide(bundle, video, tmp_path, refused):
    out = tmp_path / "o.wav"
    err = refused(main, _run(bundle, video, out, "--cfg", "1,1,2"), out)
    assert "stage 3" in err


def test_guidance_is_spelled_as_in_the_bundle(bundle, video, tmp_path, refused):
    from v2meow.cli.generate import _overrides, parse_args

    def overrides(*argv):
        return _overrides(parse_args(["--video", "v.mp4", *argv]))["guidance"]

    assert overrides("--guidance", "semantic.style=3", "--guidance", "semantic=2") == {
        "semantic": {"style": 3, "all": 2}
    }
    assert overrides("--guidance", "semantic.rhythm=8") == overrides("--cfg-rhythm", "8")  # the shortcut
    out = tmp_path / "o.wav"
    err = refused(main, _run(bundle, video, out, "--guidance", "fine.style=2"), out)
    assert "stage 3" in err  # nothing to guide there, before any work
    err = refused(main, _run(bundle, video, out, "--guidance", "semantic.rhythm=2", "--cfg-rhythm", "2"), out)
    assert "give one of them" in err


def test_one_cfg_value_guides_only_stages_that_can_be(bundle, video, tmp_path, capsys):
    out = tmp_path / "o.wav"
    assert main([str(a) for a in _run(bundle, video, out, "--cfg", "2")]) == 0
    assert out.exists()


# ---- bundles ------------------------------------------------------------------------------------


def _broken_bundle(bundle, tmp_path, name, change):
    copy = tmp_path / name
    shutil.copytree(bundle, copy)
    change(copy)
    return copy


def _edit_json(path, edit):
    data = json.loads(path.read_text())
    path.write_text(json.dumps(edit(data)))


@pytest.mark.parametrize(
    "name,change,expected",
    [
        ("missing", lambda b: shutil.rmtree(b), "not found"),
        ("corrupt", lambda b: (b / "stage2" / "model.safetensors").write_bytes(b"\0" * 64), "stage2"),
        ("list", lambda b: (b / "pipeline.json").write_text("[1, 2]"), "JSON object"),
        (
            "hot",
            lambda b: _edit_json(
                b / "pipeline.json", lambda d: {**d, "format_version": 1, "generation": {"temperatures": "hot"}}
            ),
            "generation.temperatures",
        ),  # a format-1 file: checked while it is migrated
        (
            "nan",
            lambda b: _edit_json(
                b / "pipeline.json", lambda d: {**d, "format_version": 1, "generation": {"cfg": [1, 1, float("nan")]}}
            ),
            "generation.cfg[3]",
        ),
        (
            "hot2",
            lambda b: _edit_json(
                b / "pipeline.json",
                lambda d: {**d, "format_version": 2, "generation": {"stages": [{"temperature": "hot"}, {}, {}]}},
            ),
            "generation.stages[1].temperature",
        ),  # a format-2 file: checked while it is migrated
        (
            "nan3",
            lambda b: _edit_json(
                b / "pipeline.json",
                lambda d: {
                    **d,
                    "generation": {
                        "sampling": {"semantic": {}, "coarse": {}, "fine": {"guidance": {"all": float("nan")}}}
                    },
                },
            ),
            "generation.sampling.fine.guidance.all",
        ),
        (
            "unknown",
            lambda b: _edit_json(b / "pipeline.json", lambda d: {**d, "generation": {"temprature": [1, 1, 1]}}),
            "temprature",
        ),
        (
            "vocab",
            lambda b: _edit_json(b / "stage1" / "config.json", lambda d: {**d, "semantic_vocab": "256x"}),
            "semantic_vocab",
        ),
        ("notjson", lambda b: (b / "pipeline.json").write_bytes(b"\xff\xfe{"), "pipeline.json"),
    ],
)
def test_broken_bundles(bundle, video, tmp_path, refused, name, change, expected):
    broken = _broken_bundle(bundle, tmp_path, name, change)
    out = tmp_path / "o.wav"
    err = refused(main, ["--video", video, "--bundle", broken, "--out", out, "--quiet"], out)
    assert expected in err, err


def test_bad_prompts(bundle, video, tmp_path, refused):
    out = tmp_path / "o.wav"
    for text in ("   ", "caf\udce9"):  # blank; non-UTF-8 bytes on the command line
        refused(main, _run(bundle, video, out, "--text", text), out)
