"""Each hostile finding fixed by its class: text arguments of every CLI, the duration policy of every
entry point, count messages, component paths that leave the bundle, muxed durations in every container."""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import shutil
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from v2meow import media
from v2meow.app.soundtrack import Limits, SoundtrackJob
from v2meow.cli.generate import main as generate
from v2meow.errors import ConfigError, MediaError
from v2meow.media.duration import music_length, uncovered
from v2meow.pipelines import V2MeowPipeline
from v2meow.pipelines.bundle import read_bundle
from v2meow.safety import validation

# ---- 1. text: every text option of every CLI, checked before any work -------------------------

# A command line each CLI parses (placeholders: nothing runs before the check).
BASES = {
    "generate": [["--video", "v.mp4"]],
    "features": [["--video", "v.mp4", "--out", "o.safetensors"]],
    "app": [[]],
    "bundle": [
        ["inspect", "b"],
        [
            "create",
            *[x for n in ("stage1", "stage2", "stage3", "codec", "semantic") for x in (f"--{n}", n)],
            "--out",
            "o",
        ],
    ],
    "cache": [["info", "c"], ["merge", "a", "--out", "o"], ["recode", "c", "--codec", "k", "--out", "o"]],
    "codec": [
        ["encode", "i.wav", "o.safetensors", "--codec", "k"],
        ["fit-mel", "--audio", "a", "--out", "o"],
        ["sketch", "i.wav", "o.wav", "--bundle", "b"],
    ],
    "convert": [["fairseq-hubert", "in.pt", "out"]],
    "eval": [["--generated", "g", "--reference", "r", "--out", "o"]],
    "export": [["run.ckpt", "out"]],
    "prepare": [["--input", "i", "--out", "o", "--features", "motion", "--semantic", "s", "--codec", "k"]],
    "tokenizer": [
        ["fit-kmeans", "--audio", "a", "--backbone", "mel", "--out", "o"],
        ["encode", "i.wav", "--tokenizer", "t", "--out", "o"],
        ["frames", "--tokenizer", "t", "--codec", "k", "--audio", "a"],
    ],
    "train": [["codec"]],
}


def _parses(module, argv) -> object:
    with (
        contextlib.redirect_stderr(io.StringIO()),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.suppress(SystemExit),
    ):
        return module.parse_args(argv)
    return None


def _text_options():
    """(cli, argv before the option, option): every option that takes free text, found by parsing "x"."""
    cases = []
    for cli, bases in BASES.items():
        module = importlib.import_module(f"v2meow.cli.{cli}")
        for base in bases:
            args = _parses(module, base)
            assert args is not None, (cli, base)
            for dest, flag in args._names.items():
                if not flag.startswith("--") or dest == "help":  # an option in `base` again: the last one counts
                    continue
                parsed = _parses(module, [*base, flag, "x"])
                value = getattr(parsed, dest, None) if parsed is not None else None
                if value == "x" or value == ["x"]:
                    cases.append((cli, base, flag))
    return cases


TEXT_OPTIONS = _text_options()
BLANKS = {"empty": "", "spaces": "   ", "zero-width": "\u200b\u2003\u3000", "controls": "\t\x00\u2028"}


def test_every_cli_has_text_options_checked():
    assert {c for c, _, _ in TEXT_OPTIONS} == set(BASES) - {"export", "convert"}  # those two: positionals only
    assert len(TEXT_OPTIONS) >= 60, len(TEXT_OPTIONS)


@pytest.mark.parametrize("blank", list(BLANKS), ids=list(BLANKS))
@pytest.mark.parametrize(
    "cli,base,flag",
    TEXT_OPTIONS,
    ids=[f"{c}-{b[0] if b and not b[0].startswith('-') else ''}{f}" for c, b, f in TEXT_OPTIONS],
)
def test_blank_text_refused_naming_the_option(cli, base, flag, blank, refused, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    main = importlib.import_module(f"v2meow.cli.{cli}").main
    err = refused(main, [*base, flag, BLANKS[blank]])
    assert f"{flag} is empty" in err, err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("cli,base,flag", TEXT_OPTIONS[::3], ids=[f"{c}{f}" for c, _, f in TEXT_OPTIONS[::3]])
def test_undecodable_text_refused_naming_the_option(cli, base, flag, refused, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    main = importlib.import_module(f"v2meow.cli.{cli}").main
    err = refused(main, [*base, flag, "caf\udce9"])  # the byte 0xE9 of a Latin-1 command line
    assert f"{flag} is not valid UTF-8" in err, err


@pytest.mark.parametrize(
    "cli,argv,name",
    [
        ("export", ["", "out"], "ckpt is empty"),
        ("export", ["run.ckpt", "\u200b"], "out_dir is empty"),
        ("codec", ["encode", "i.wav", " ", "--codec", "k"], "output is empty"),
        ("cache", ["merge", "a", "\ufeff", "--out", "o"], "sources is empty"),
        ("bundle", ["inspect", "\u3164"], "bundle is empty"),  # a Hangul filler: drawn blank
        ("convert", ["fairseq-hubert", "in\udcff.pt", "out"], "input is not valid UTF-8"),
    ],
)
def test_positional_text_refused(cli, argv, name, refused, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert name in refused(importlib.import_module(f"v2meow.cli.{cli}").main, argv)


def test_empty_out_writes_nothing_here(bundle, video, tmp_path, refused, no_model, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = sorted(tmp_path.iterdir())
    assert "--out is empty" in refused(generate, ["--video", video, "--bundle", bundle, "--out", "", "--quiet"])
    assert sorted(tmp_path.iterdir()) == before


@pytest.mark.parametrize("text", ["\u200b", "\u2003\u3000", "caf\udce9", "\u2800\u180e"])
def test_bad_prompt_refused_before_the_model_loads(bundle, video, tmp_path, refused, no_model, text):
    out = tmp_path / "o.wav"
    assert "--text" in refused(generate, ["--video", video, "--bundle", bundle, "--out", out, "--text", text], out)


@pytest.mark.parametrize("text", ["a", "\u200bé", " drum and bass ", "日本", "🎵"])
def test_visible_text_accepted(text):
    assert validation.text(text, "--text") == text


# ---- 4. count messages -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,count,message",
    [
        ("1,2,3", 1, "expects one value, got 3"),
        ("1,2", 1, "expects one value, got 2"),
        ("1,2", 3, "expects 1 or 3 values, got 2"),
        ("1,2,3,4", 3, "expects 1 or 3 values, got 4"),
        ("1,2,3", 2, "expects 1 or 2 values, got 3"),
    ],
)
def test_count_messages(text, count, message):
    with pytest.raises(ConfigError, match=message):
        validation.parse_numbers(text, "--x", count=count)


def test_cfg_rhythm_count_message(bundle, video, tmp_path, refused, no_model):
    out = tmp_path / "o.wav"
    err = refused(generate, ["--video", video, "--bundle", bundle, "--out", out, "--cfg-rhythm", "1,2,3"], out)
    assert "--cfg-rhythm expects one value, got 3" in err, err


# ---- 1. duration policy -------------------------------------------------------------------------


def crafted(path, last: float = 21600.0, hold: bool = False):
    """3 tiny frames whose timeline ends at `last` s: the last frame there, or (`hold`) at 0.08 s, held to `last`."""
    tb = Fraction(1, 1000)
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=25)
        v.width = v.height = 16
        v.pix_fmt = "yuv420p"
        v.codec_context.time_base = tb
        times = [0, 40, 80] if hold else [0, 40, int(last * 1000)]
        for i, t in enumerate(times):
            frame = av.VideoFrame.from_ndarray(np.full((16, 16, 3), 60 * i, np.uint8), format="rgb24")
            frame.pts, frame.time_base = t, tb
            for p in v.encode(frame):
                c.mux(p)
        for p in v.encode(None):
            if hold and p.pts == 80:
                p.duration = int(last * 1000)
            c.mux(p)
    return path


CRAFTED = [(s, h) for s in (".mp4", ".mkv", ".mov") for h in (False, True)]


@pytest.mark.parametrize("suffix,hold", CRAFTED)
def test_six_hour_timeline_refused_before_the_model_loads(bundle, tmp_path, refused, no_model, suffix, hold):
    video = crafted(tmp_path / f"six{suffix}", hold=hold)
    assert video.stat().st_size < 10_000
    out = tmp_path / "o.wav"
    err = refused(generate, ["--video", video, "--bundle", bundle, "--out", out, "--quiet"], out)
    assert "6.0 h" in err and "--max-seconds" in err and "do not cover" in err and "3 video frames" in err, err


@pytest.mark.parametrize("limit", ["0.5", "0.99"])
def test_max_seconds_refuses_a_longer_video(bundle, video, tmp_path, refused, no_model, limit):
    out = tmp_path / "o.wav"
    err = refused(generate, ["--video", video, "--bundle", bundle, "--out", out, "--max-seconds", limit], out)
    assert "1.0 s is longer than the --max-seconds limit" in err and "--max-seconds 0 lifts" in err, err


@pytest.mark.parametrize("value", ["-1", "abc", "nan", "inf", "1,2"])
def test_bad_max_seconds(bundle, video, tmp_path, refused, no_model, value):
    out = tmp_path / "o.wav"
    assert "--max-seconds" in refused(
        generate, ["--video", video, "--bundle", bundle, "--out", out, "--max-seconds", value], out
    )


@pytest.mark.parametrize(
    "value,expected", [(None, None), (0, None), ("none", None), ("off", None), ("0", None), (600, 600.0), ("2.5", 2.5)]
)
def test_max_seconds_values(value, expected):
    assert validation.max_seconds(value) == expected


class _Stop(Exception):
    pass


@pytest.fixture
def stop_at_load(monkeypatch):
    """Stop where the model would load (a V2MeowError: exit 2), after what the CLI says first."""
    from v2meow.errors import V2MeowError

    def load(*args, **kwargs):
        raise V2MeowError("stopped at load")

    monkeypatch.setattr(V2MeowPipeline, "from_pretrained", classmethod(load))


@pytest.mark.parametrize("limit", ["600", "0", "none"])
def test_length_said_up_front_and_sparse_frames_warned(bundle, tmp_path, capsys, stop_at_load, limit):
    video = crafted(tmp_path / "sparse.mp4", last=30.0)
    out = tmp_path / "o.wav"
    assert generate([str(a) for a in ["--video", video, "--bundle", bundle, "--out", out, "--max-seconds", limit]]) == 2
    err = capsys.readouterr().err.splitlines()
    assert any("warning" in line and "do not cover" in line and "30.0 s" in line for line in err), err
    assert f"v2meow-generate: {video}: 30.0 s of music" in err, err


def test_quiet_says_no_length(bundle, video, tmp_path, capsys, stop_at_load):
    generate([str(a) for a in ["--video", video, "--bundle", bundle, "--out", tmp_path / "o.wav", "--quiet"]])
    assert capsys.readouterr().err.strip() == "v2meow-generate: error: stopped at load"


def test_folder_mode_skips_a_long_video(bundle, make_video, tmp_path, capsys):
    src = tmp_path / "videos"
    src.mkdir()
    make_video("videos/a.mp4", duration=1.0, fps=10, size=(32, 32))
    crafted(src / "long.mkv")
    dst = tmp_path / "out"
    assert generate(["--video-dir", str(src), "--out-dir", str(dst), "--bundle", str(bundle), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "skipped: " in err and "long.mkv: 6.0 h" in err and "1 generated" in err and "1 skipped" in err, err
    assert sorted(p.name for p in dst.iterdir()) == ["a_v2meow.mp4", "a_v2meow.wav"]


@pytest.mark.parametrize("hold", [False, True])
def test_one_check_for_cli_api_and_app(bundle, tmp_path, hold, monkeypatch):
    video = crafted(tmp_path / "six.mkv", hold=hold)
    seconds, note = music_length(video, None, "x", "y")  # no limit: the length and the note
    assert seconds == pytest.approx(21600, abs=0.1) and "3 video frames" in note
    with pytest.raises(MediaError, match="longer than this app's limit of 600 s .*do not cover"):
        SoundtrackJob(None, tmp_path, Limits(max_seconds=600)).check_video(video)
    pipe = V2MeowPipeline.from_pretrained(bundle)
    monkeypatch.setattr(pipe, "extract_features", lambda v: pytest.fail("work started"))
    with pytest.raises(MediaError, match="max_seconds limit of 60 s .*max_seconds=None lifts it"):
        pipe(video, max_seconds=60)
    with pytest.raises(ConfigError, match="text is empty"):
        pipe(video, text="\u200b")


@pytest.mark.parametrize("fps,seconds", [(10, 1.0), (1, 5.0), (25, 2.0)])
def test_regular_videos_are_covered(make_video, fps, seconds):
    video = make_video(f"r{fps}.mp4", duration=seconds, fps=fps, size=(16, 16))
    assert uncovered(video, media.probe(video).duration) == ""


# ---- 5. component paths stay inside the bundle ----------------------------------------------------


def _repointed(bundle, tmp_path, value_for):
    copy = tmp_path / "b"
    shutil.copytree(bundle, copy)
    outside = tmp_path / "elsewhere"
    shutil.copytree(bundle / "codec", outside / "codec")
    spec = json.loads((copy / "pipeline.json").read_text())
    spec["components"]["codec"] = value_for(copy, outside)
    (copy / "pipeline.json").write_text(json.dumps(spec))
    return copy


def _link(copy, target, name="linked"):
    (copy / name).symlink_to(target, target_is_directory=True)
    return name


OUTSIDE = {
    "absolute": lambda b, o: str(o / "codec"),
    "dotdot": lambda b, o: "../elsewhere/codec",
    "inner-dotdot": lambda b, o: "stage1/../../elsewhere/codec",
    "symlink-out": lambda b, o: _link(b, o / "codec"),
    "symlink-dir-out": lambda b, o: _link(b, o) + "/codec",
}


@pytest.mark.parametrize("case", list(OUTSIDE))
def test_component_outside_the_bundle_refused(bundle, video, tmp_path, refused, no_model, case):
    copy = _repointed(bundle, tmp_path, OUTSIDE[case])
    with pytest.raises(ConfigError, match="components.codec .* leads outside the bundle"):
        read_bundle(copy)
    out = tmp_path / "o.wav"
    err = refused(generate, ["--video", video, "--bundle", copy, "--out", out, "--quiet"], out)
    assert "outside the bundle" in err and "--allow-outside-bundle" in err
    from v2meow.cli.bundle import main as bundle_cli

    assert "outside the bundle" in refused(bundle_cli, ["inspect", copy])


@pytest.mark.parametrize("case", list(OUTSIDE))
def test_outside_allowed_when_asked(bundle, tmp_path, case):
    copy = _repointed(bundle, tmp_path, OUTSIDE[case])
    spec = read_bundle(copy, allow_outside=True)
    assert (Path(spec["components"]["codec"]) / "config.json").is_file()
    assert V2MeowPipeline.from_pretrained(copy, allow_outside=True).codec is not None


INSIDE = {
    "plain": lambda b, o: "codec",
    "dot-slash": lambda b, o: "./codec",
    "symlink-in": lambda b, o: _link(b, b / "codec"),
    "down-and-up": lambda b, o: "stage1/../codec",
}


@pytest.mark.parametrize("case", list(INSIDE))
def test_component_inside_the_bundle_accepted(bundle, tmp_path, case):
    copy = _repointed(bundle, tmp_path, INSIDE[case])
    assert V2MeowPipeline.from_pretrained(copy).codec is not None


# ---- 6. muxed output exactly as long as the video, every container ---------------------------------


def odd_video(path, codec: str, pix: str, size: int, seconds: float, vfr: bool):
    tb = Fraction(1, 1000)
    with av.open(str(path), "w") as c:
        v = c.add_stream(codec, rate=12)
        v.width = v.height = size
        v.pix_fmt = pix
        v.codec_context.time_base = tb
        t = i = 0
        while t < seconds * 1000 - 1:
            frame = av.VideoFrame.from_ndarray(np.full((size, size, 3), 9 * i % 240, np.uint8), format="rgb24")
            frame.pts, frame.time_base = t, tb
            for p in v.encode(frame):
                c.mux(p)
            t += (50 if i % 2 else 117) if vfr else 83
            i += 1
        for p in v.encode(None):
            c.mux(p)
    return path


ODD = {  # name -> (suffix, encoder, pixel format, size, seconds, variable frame rate)
    "1x1-gray-vfr-2.0": (".mkv", "libx264", "gray", 1, 2.0, True),
    "1x1-gray16-ffv1-vfr-2.0": (".mkv", "ffv1", "gray16le", 1, 2.0, True),
    "16px-cfr-1.37": (".mp4", "libx264", "yuv420p", 16, 1.37, False),
    "vp9-vfr-2.0": (".webm", "libvpx-vp9", "yuv420p", 16, 2.0, True),
    "mpeg4-odd-1.37": (".mov", "mpeg4", "yuv420p", 16, 1.37, True),
}
DECODER = {"libx264": "h264", "ffv1": "ffv1", "libvpx-vp9": "vp9", "mpeg4": "mpeg4"}
MUX_CASES = [  # the pairs a container holds by copy (the others are refused before any work)
    (name, out) for name in ODD for out in sorted(media.OUTPUT_CONTAINERS) if media.can_hold(out, DECODER[ODD[name][1]])
]


def _audio_end(path) -> float:
    with av.open(str(path)) as c:
        a = c.streams.audio[0]
        return max(float((p.pts + (p.duration or 0)) * p.time_base) for p in c.demux(a) if p.pts is not None)


@pytest.mark.parametrize("rate", [16000, 24000])
@pytest.mark.parametrize("name,out_suffix", MUX_CASES, ids=[f"{n}-to-{o[1:]}" for n, o in MUX_CASES])
def test_muxed_output_as_long_as_the_video(tmp_path, name, out_suffix, rate):
    suffix, codec, pix, size, seconds, vfr = ODD[name]
    src = odd_video(tmp_path / f"in{suffix}", codec, pix, size, seconds, vfr)
    out = tmp_path / f"out{out_suffix}"
    media.mux_audio(src, 0.1 * torch.randn(2, rate * 3), rate, out)  # longer than the video: trimmed
    want = media.probe(src).duration
    with av.open(str(out)) as c:
        container = c.duration / av.time_base
        a = c.streams.audio[0]
        frame = (a.codec_context.frame_size or 1024) / a.rate
    assert media.probe(out).duration == pytest.approx(want, abs=0.002)  # Matroska counts in milliseconds
    assert container == pytest.approx(want, abs=0.002)
    assert want - frame - 0.002 <= _audio_end(out) <= want + 0.002
