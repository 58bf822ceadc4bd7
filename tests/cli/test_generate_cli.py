import os

import av
import pytest

from v2meow import media
from v2meow.cli.generate import main
from v2meow.pipelines.debug import build_debug_bundle


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return build_debug_bundle(tmp_path_factory.mktemp("b") / "debug")


def _durations(path):
    with av.open(str(path)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        return float(v.duration * v.time_base), float(a.duration * a.time_base)


def test_mp4_and_wav_outputs(bundle, make_video, tmp_path, capsys):
    video = make_video(duration=2.5, fps=10, size=(32, 48))
    out = tmp_path / "out.mp4"
    assert main(["--video", str(video), "--bundle", str(bundle), "--out", str(out), "--quiet"]) == 0
    vd, ad = _durations(out)
    assert ad == pytest.approx(vd, abs=0.03)
    outdir = tmp_path / "both"
    outdir.mkdir()
    args = [
        "--video",
        str(video),
        "--bundle",
        str(bundle),
        "--out",
        str(outdir),
        "--text",
        "fast drums",
        "--num-samples",
        "2",
        "--quiet",
    ]
    assert main(args) == 0
    names = sorted(p.name for p in outdir.iterdir())
    assert names == ["v_v2meow-2.mp4", "v_v2meow-2.wav", "v_v2meow.mp4", "v_v2meow.wav"]
    wav, sr = media.read_audio(outdir / "v_v2meow.wav")
    assert wav.shape[1] == round(2.5 * sr)


def test_same_seed_same_audio(bundle, make_video, tmp_path):
    video = make_video(duration=1.5, fps=10, size=(32, 32))
    for name in ("a.wav", "b.wav"):
        assert (
            main(
                [
                    "--video",
                    str(video),
                    "--bundle",
                    str(bundle),
                    "--out",
                    str(tmp_path / name),
                    "--seed",
                    "7",
                    "--quiet",
                ]
            )
            == 0
        )
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()


@pytest.mark.parametrize("fps,size", [(7, (32, 32)), (59.94, (32, 32)), (25, (96, 54))])  # odd rates, portrait
def test_valid_odd_videos(bundle, make_video, tmp_path, fps, size):
    video = make_video(duration=1.0, fps=fps, size=size)
    out = tmp_path / "o.mp4"
    assert main(["--video", str(video), "--bundle", str(bundle), "--out", str(out), "--quiet"]) == 0
    assert media.probe(out).has_audio


def test_one_frame_video(bundle, make_video, tmp_path):
    video = make_video(duration=0.04, fps=25)
    assert main(["--video", str(video), "--bundle", str(bundle), "--out", str(tmp_path / "o.wav"), "--quiet"]) == 0


def _bad_inputs(tmp_path, make_video, make_audio):
    (tmp_path / "zero.mp4").write_bytes(b"")
    (tmp_path / "text.mp4").write_text("not a video\n" * 100)
    good = make_video("good.mp4", duration=3.0, size=(128, 128))
    data = good.read_bytes()
    (tmp_path / "trunc.mp4").write_bytes(data[: len(data) // 2])
    make_audio("song.mp3", duration=0.5)
    return [tmp_path / n for n in ("zero.mp4", "text.mp4", "trunc.mp4", "song.mp3")]


def test_bad_videos_one_line_exit_2_no_output(bundle, make_video, make_audio, tmp_path, capsys):
    for video in _bad_inputs(tmp_path, make_video, make_audio):
        out = tmp_path / f"{video.stem}_out.mp4"
        assert main(["--video", str(video), "--bundle", str(bundle), "--out", str(out), "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and video.name in err, err
        assert not out.exists()
    assert not [p for p in os.listdir(tmp_path) if ".tmp" in p]


def test_bad_bundles_and_arguments(bundle, make_video, tmp_path, capsys):
    import shutil

    video = make_video(duration=1.0)
    cases = [
        ["--bundle", str(tmp_path / "nobundle")],
        ["--bundle", str(bundle), "--text", "   "],
        ["--bundle", str(bundle), "--text", "caf\udce9"],  # non-UTF-8 bytes on the command line
        ["--bundle", str(bundle), "--out", str(tmp_path / "missing" / "o.mp4")],
        ["--bundle", str(bundle), "--out", str(tmp_path / "o.txt")],
        ["--bundle", str(bundle), "--temperatures", "1,2"],
        ["--bundle", str(bundle), "--cuda-graphs"],  # CUDA graphs without --device cuda
        ["--bundle", str(bundle), "--dtype", "bf16"],  # bf16 stage weights without --device cuda
        ["--bundle", str(bundle), "--cfg", "1,1,3"],  # guidance for stage 3, which has no condition
    ]
    corrupt = tmp_path / "corrupt"
    shutil.copytree(bundle, corrupt)
    (corrupt / "stage2" / "model.safetensors").write_bytes(b"\x00" * 64)
    cases.append(["--bundle", str(corrupt)])
    for extra in cases:
        code = main(["--video", str(video), "--quiet", *extra])
        err = capsys.readouterr().err.strip()
        assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, (extra, err)


def test_unwritable_directory(bundle, make_video, unwritable_dir, capsys):
    video = make_video(duration=1.0)
    for out in (str(unwritable_dir / "o.mp4"), str(unwritable_dir) + os.sep):  # a file in it, or the folder for both
        assert main(["--video", str(video), "--bundle", str(bundle), "--out", out, "--quiet"]) == 2
        assert "cannot write" in capsys.readouterr().err
        assert not (unwritable_dir.is_dir() and any(unwritable_dir.iterdir()))


def test_folder_mode_skips_bad_and_resumes(bundle, make_video, tmp_path, capsys):
    src = tmp_path / "videos"
    src.mkdir()
    for name in ("a.mp4", "b.mp4"):
        make_video(f"videos/{name}", duration=1.0, size=(32, 32))
    (src / "bad.mp4").write_text("nope")
    dst = tmp_path / "out"
    assert main(["--video-dir", str(src), "--out-dir", str(dst), "--bundle", str(bundle), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "bad.mp4" in err and "2 generated" in err
    assert sorted(p.name for p in dst.iterdir()) == ["a_v2meow.mp4", "a_v2meow.wav", "b_v2meow.mp4", "b_v2meow.wav"]
    assert main(["--video-dir", str(src), "--out-dir", str(dst), "--bundle", str(bundle), "--quiet"]) == 0
    assert "0 generated, 2 already done" in capsys.readouterr().err
