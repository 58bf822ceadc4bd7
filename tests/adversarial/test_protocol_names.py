"""Files named like FFmpeg protocol URLs are read as the local files they are: no socket opens,
no other file is read in their place, for every command that reads media."""

from __future__ import annotations

import os
import shutil
import socket

import pytest

from v2meow import media
from v2meow.errors import MediaError


@pytest.fixture
def listener():
    """A listening socket on 127.0.0.1; `listener.connected()` says whether anything connected."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    srv.setblocking(False)

    class Listener:
        port = srv.getsockname()[1]

        @staticmethod
        def connected() -> bool:
            try:
                conn, _ = srv.accept()
            except BlockingIOError:
                return False
            conn.close()
            return True

    yield Listener
    srv.close()


@pytest.fixture
def planted(make_video, tmp_path, listener, monkeypatch):
    """In the working directory: a.mp4 (1 s), b.mp4 (2 s), and protocol-named copies of a 3 s video."""
    monkeypatch.chdir(tmp_path)
    make_video("a.mp4", duration=1.0, fps=10, size=(32, 32))
    make_video("b.mp4", duration=2.0, fps=10, size=(32, 32))
    local = make_video("local.mp4", duration=3.0, fps=10, size=(32, 32))
    names = [
        f"tcp:127.0.0.1:{listener.port}",
        "concat:a.mp4|b.mp4",
        "subfile:,,start,0,end,0,,:a.mp4",
        f"http:127.0.0.1:{listener.port}",
        "file:a.mp4",
        "pipe:0",
        "data:video",
    ]
    for name in names:
        shutil.copy(local, tmp_path / name)
    return names


def test_media_reads_the_local_file(planted, listener):
    for name in planted:
        assert media.probe(name).duration == pytest.approx(3.0, abs=0.05), name
        assert media.probe(f"./{name}").duration == pytest.approx(3.0, abs=0.05), name
        assert media.read_frames(name, rate=2.0).frames.shape[0] == 6
        assert media.video_codec(name) == "h264"
    assert not listener.connected()


def test_missing_protocol_named_file_is_not_a_url(tmp_path, listener, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MediaError, match="no such file"):
        media.probe(f"tcp:127.0.0.1:{listener.port}")
    assert not listener.connected()


def test_audio_and_mux_with_protocol_names(planted, make_audio, tmp_path, listener):
    import torch

    make_audio("song.wav", duration=0.5)
    shutil.copy(tmp_path / "song.wav", tmp_path / f"tcp:127.0.0.1:{listener.port}.wav")
    wav, rate = media.read_audio(f"tcp:127.0.0.1:{listener.port}.wav")
    assert wav.shape[-1] == pytest.approx(0.5 * rate, abs=rate * 0.05)
    out = media.mux_audio(planted[0], torch.zeros(1, 16000), 16000, "concat:o.mp4")
    assert (tmp_path / "concat:o.mp4").is_file() and media.probe(out).duration == pytest.approx(3.0, abs=0.05)
    assert not listener.connected()


def test_generate_with_protocol_named_video(planted, bundle, tmp_path, listener):
    from v2meow.cli.generate import main

    for name in (planted[0], planted[1]):
        out = tmp_path / f"{name.split(':')[0]}.out.mp4"
        assert main(["--video", name, "--bundle", str(bundle), "--out", str(out), "--quiet"]) == 0
        assert media.probe(out).duration == pytest.approx(3.0, abs=0.05)  # the local file's, not a.mp4's
    assert not listener.connected()


def test_features_and_eval_with_protocol_named_video(planted, tmp_path, listener):
    from v2meow.cli.features import main

    out = tmp_path / "f.safetensors"
    assert main(["--video", planted[0], "--extractors", "motion", "--out", str(out)]) == 0
    assert out.is_file()
    assert not listener.connected()


def test_no_media_open_bypasses_local_url():
    """Every FFmpeg open in the package goes through `media` (the recipes, outside it, write their own files)."""
    import pathlib
    import re

    root = pathlib.Path(media.__file__).parents[1]  # the package v2meow, media included
    bad = []
    for path in root.rglob("*.py"):
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\bav\.open\(", line) and "local_url" not in line and "BytesIO" not in line:
                bad.append(f"{path.relative_to(root)}:{i}")
    assert not bad, bad
    assert os.path.basename(media.local_url("tcp:1:2")) == "tcp:1:2" and media.local_url("x").startswith("file:/")
