"""The web app's request handling, through its Python functions (no browser).

Oversized and wrong-type uploads are refused with a message naming the file (never its upload
folder) and leave nothing in the outputs; uploads handled at the same time (threads, as Gradio
runs them) get their own folders and the same soundtracks as when handled one at a time.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import mediagen
from v2meow import media
from v2meow.app.soundtrack import Limits, Settings, SoundtrackJob
from v2meow.errors import V2MeowError
from v2meow.pipelines import V2MeowPipeline


@pytest.fixture(scope="module")
def pipe(bundle):
    return V2MeowPipeline.from_pretrained(bundle)


@pytest.fixture
def job(pipe, tmp_path):
    (tmp_path / "out").mkdir()
    return SoundtrackJob(pipe, tmp_path / "out")


@pytest.fixture
def uploads(tmp_path):
    folder = tmp_path / "gradio" / "3f2a9c"  # like Gradio's cache: a folder users never see
    folder.mkdir(parents=True)
    return folder


def _png(path: Path) -> Path:
    from PIL import Image

    Image.fromarray((np.random.default_rng(0).random((32, 32, 3)) * 255).astype("uint8")).save(path, format="PNG")
    return path


def _gif(path: Path) -> Path:
    from PIL import Image

    frames = [Image.new("RGB", (32, 32), (i * 60, 0, 0)) for i in range(4)]
    frames[0].save(path, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return path


WRONG = {  # upload name -> (make it, words the refusal says)
    "notes.mp4": (lambda p: p.write_text("not a video\n") and p, "not a readable media file"),
    "empty.mp4": (lambda p: p.write_bytes(b"") or p, "empty"),
    "photo.png": (_png, "image, not a video"),
    "photo.mp4": (_png, "image, not a video"),  # a picture renamed
    "anim.gif": (_gif, "image, not a video"),
    "song.m4a": (lambda p: mediagen.make_audio(p, duration=1.0) is not None and p, "no video stream"),
    "song.wav": (lambda p: sf.write(p, np.zeros(1600), 16000) or p, "no video stream"),
}


@pytest.mark.parametrize("name", list(WRONG))
def test_wrong_type_uploads_refused(job, uploads, name):
    make, words = WRONG[name]
    upload = make(uploads / name)
    with pytest.raises(V2MeowError) as e:
        job.run(upload, Settings())
    msg = str(e.value)
    assert words in msg and name in msg and str(uploads) not in msg, msg
    assert list(job.out_dir.iterdir()) == []


def test_oversized_upload_refused_before_reading(pipe, uploads, tmp_path, monkeypatch):
    video = mediagen.make_video(uploads / "big.mp4", duration=1.0, fps=10, size=(32, 32))
    limit = video.stat().st_size / 1e6 / 2  # half the file's size
    job = SoundtrackJob(pipe, tmp_path, Limits(max_upload_mb=limit))
    monkeypatch.setattr(media, "probe", lambda *a: pytest.fail("an oversized upload was opened"))
    with pytest.raises(V2MeowError, match="upload limit") as e:
        job.run(video, Settings())
    assert "big.mp4" in str(e.value) and str(uploads) not in str(e.value)
    assert [p.name for p in tmp_path.iterdir()] == ["gradio"]


def test_handler_shows_the_refusal_in_the_page(job, uploads):
    gr = pytest.importorskip("gradio")
    from v2meow.app.ui import make_handler

    handler = make_handler(job)
    upload = _png(uploads / "photo.mp4")
    with pytest.raises(gr.Error) as e:
        handler(str(upload), "", 0, 1.0, 0.95, 0.4, 1, progress=lambda *a, **k: None)
    assert "image, not a video" in e.value.message and str(uploads) not in e.value.message


def _run_all(job, videos, seeds, parallel: bool):
    results, errors = [None] * len(videos), []

    def one(i):
        try:
            results[i] = job.run(videos[i], Settings(seed=seeds[i]))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    if parallel:
        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(videos))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    else:
        for i in range(len(videos)):
            one(i)
    assert not errors, errors
    return results


@pytest.mark.slow
def test_parallel_uploads_do_not_collide(job, uploads):
    """Three uploads at once, two with the same name: separate folders, each the soundtrack it gets alone."""
    (uploads / "a").mkdir()
    (uploads / "b").mkdir()
    videos = [
        mediagen.make_video(uploads / "a" / "clip.mp4", duration=1.0, fps=10, size=(32, 32)),
        mediagen.make_video(uploads / "b" / "clip.mp4", duration=1.6, fps=10, size=(32, 32), pattern="cut"),
        mediagen.make_video(uploads / "other.mp4", duration=0.6, fps=10, size=(32, 32)),
    ]
    seeds = [1, 2, 1]
    alone = _run_all(job, videos, seeds, parallel=False)
    together = _run_all(job, videos, seeds, parallel=True)
    folders = {c.video.parent for r in alone + together for c in r.candidates}
    assert len(folders) == 6 and all(f.parent == job.out_dir for f in folders)
    for video, a, b in zip(videos, alone, together):
        ca, cb = a.candidates[0], b.candidates[0]
        wa, _ = sf.read(ca.audio)
        wb, _ = sf.read(cb.audio)
        assert np.array_equal(wa, wb), video  # the same soundtrack as when alone: no state shared between runs
        expected = media.probe(video).duration
        assert abs(media.probe(cb.video).duration - expected) < 0.05 and abs(len(wb) / 16000 - expected) < 0.01
        assert cb.picture.is_file()
    assert sorted(p.name for p in job.out_dir.iterdir()) == sorted(f.name for f in folders)
