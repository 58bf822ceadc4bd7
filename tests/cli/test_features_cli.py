import subprocess
import sys

import torch

from v2meow.cli.features import main
from v2meow.features.storage import load_features


def test_motion_features_file(make_video, tmp_path):
    video = make_video(duration=2.0, fps=25)
    out = tmp_path / "f.safetensors"
    assert main(["--video", str(video), "--extractors", "motion", "--out", str(out)]) == 0
    feats = load_features(out)
    assert feats.features.shape == (20, 16) and feats.rate == 10.0 and feats.dims == [16]
    assert feats.extractor_ids[0].startswith("motion")


def test_fused_debug_features(make_video, tmp_path):
    video = make_video(duration=2.0, fps=25)
    out = tmp_path / "f.safetensors"
    assert main(["--video", str(video), "--extractors", "motion+clip", "--debug", "--out", str(out)]) == 0
    feats = load_features(out)
    assert feats.features.shape[1] == sum(feats.dims) and len(feats.dims) == 2
    assert torch.isfinite(feats.features).all()


def _bad_files(tmp_path, make_video, make_audio):
    (tmp_path / "zero.mp4").write_bytes(b"")
    (tmp_path / "text.mp4").write_text("hello, I am text\n" * 100)
    good = make_video("good.mp4", duration=3.0, size=(128, 128))
    data = good.read_bytes()
    (tmp_path / "trunc.mp4").write_bytes(data[: len(data) // 2])
    make_audio("song.mp3", duration=0.5)
    return ["zero.mp4", "text.mp4", "trunc.mp4", "song.mp3", "missing.mp4"]


def test_bad_inputs_give_one_line_and_exit_2(tmp_path, make_video, make_audio, capsys):
    for name in _bad_files(tmp_path, make_video, make_audio):
        out = tmp_path / f"{name}.safetensors"
        code = main(["--video", str(tmp_path / name), "--out", str(out)])
        err = capsys.readouterr().err.strip()
        assert code == 2, name
        assert len(err.splitlines()) == 1 and name in err and "Traceback" not in err
        assert not out.exists()
    video = make_video("ok.mp4", duration=1.0)
    assert main(["--video", str(video), "--extractors", "motion,sift", "--out", str(tmp_path / "x.safetensors")]) == 2
    assert "sift" in capsys.readouterr().err
    assert main(["--video", str(video), "--out", str(tmp_path / "nodir" / "x.safetensors")]) == 2
    assert main(["--video", str(video), "--out", str(tmp_path / "x.npy")]) == 2
    assert not list(tmp_path.glob("*.safetensors"))


def test_console_script_help():
    r = subprocess.run([sys.executable, "-m", "v2meow.cli.features", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--extractors" in r.stdout and "motion" in r.stdout


def test_missing_weights_message(make_video, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HOME", str(tmp_path))
    video = make_video(duration=1.0)
    assert main(["--video", str(video), "--extractors", "i3d", "--out", str(tmp_path / "x.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "I3D_8x8_R50.pyth" in err and len(err.strip().splitlines()) == 1
