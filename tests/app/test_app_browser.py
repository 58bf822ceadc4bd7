"""End to end: `v2meow-app` with a debug bundle, driven in headless Chromium by Playwright.

Upload a video, generate two candidates, check the result video's soundtrack and the
downloads, save the page as docs/app.png when V2MEOW_SCREENSHOT=1 (docs/app.md shows it); a text file named .mp4
gets a readable message in the page. The app runs in a subprocess stopped with SIGTERM,
after which its temporary folder must be gone (checked by the `app` fixture).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

import mediagen
from v2meow import media

pytestmark = pytest.mark.slow

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "app.png"
DURATION = 3.0
GENERATE_TIMEOUT_MS = 90_000


def _open(context, url):
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("#generate")
    return page


def test_upload_generate_listen_download(app, browser_context, tmp_path):
    video = mediagen.make_video(tmp_path / "skate_clip.mp4", duration=DURATION, fps=25, size=(180, 320))
    page = _open(browser_context, app.url)
    assert app.url.startswith("http://127.0.0.1:"), "bound to loopback by default"
    assert page.locator("#examples").get_by_text("bouncing square").count() == 1, "the example video is listed"

    page.locator("#video-in input[type=file]").set_input_files(str(video))
    page.wait_for_selector("#video-in video")
    page.locator("#prompt textarea").fill("calm piano")
    page.locator("#candidates input[type=number]").fill("2")
    page.locator("#candidates input[type=number]").press("Enter")
    page.click("#generate")
    page.wait_for_selector("#result-video-2 video", timeout=GENERATE_TIMEOUT_MS)
    assert "2 soundtracks" in page.locator("#status").inner_text()

    # The player's file: the uploaded picture with a new audio track exactly as long.
    src = page.locator("#result-video-1 video").get_attribute("src")
    played = tmp_path / "played.mp4"
    played.write_bytes(page.request.get(src).body())
    info = media.probe(played)
    assert info.has_video and info.has_audio
    assert info.duration == pytest.approx(DURATION, abs=0.05)
    with_audio = media.read_audio(played)[0]
    assert with_audio.shape[-1] / info.sample_rate == pytest.approx(DURATION, abs=0.05)

    # The download buttons give the mp4 and the wav, named after the upload.
    with page.expect_download() as mp4_download:
        page.click("#download-video-2")
    assert mp4_download.value.suggested_filename == "skate_clip_v2meow-2.mp4"
    assert media.probe(mp4_download.value.path()).has_audio
    with page.expect_download() as wav_download:
        page.click("#download-wav-1")
    wav_path = tmp_path / wav_download.value.suggested_filename
    wav_download.value.save_as(wav_path)
    wav, rate = media.read_audio(wav_path)
    assert wav.shape[-1] == pytest.approx(DURATION * rate, abs=2)

    assert page.locator("#picture-1 img").count() == 1, "waveform/spectrogram shown"

    # Regenerate a range of candidate 1: the rest of its music stays as it was.
    picture = page.locator("#picture-1 img").get_attribute("src")
    page.locator("#edit-start input").fill("0.5")
    page.locator("#edit-end input").fill("1.0")
    page.click("#regenerate")
    page.wait_for_function(
        "() => document.querySelector('#status').innerText.includes('regenerated')", timeout=GENERATE_TIMEOUT_MS
    )
    assert "0.5-1 s regenerated" in page.locator("#status").inner_text()
    assert page.locator("#picture-1 img").get_attribute("src") != picture, "the edited music's picture"
    with page.expect_download() as edited_download:
        page.click("#download-wav-1")
    edited_path = tmp_path / ("edited-" + edited_download.value.suggested_filename)
    edited_download.value.save_as(edited_path)
    edited, _ = media.read_audio(edited_path)
    assert edited.shape == wav.shape and float((edited[:, : rate // 4] - wav[:, : rate // 4]).abs().max()) < 1e-3
    page.mouse.move(0, 0)
    SCREENSHOT.parent.mkdir(exist_ok=True)
    if os.environ.get("V2MEOW_SCREENSHOT"):  # refresh docs/app.png on request only: it is committed
        page.screenshot(path=str(SCREENSHOT), full_page=True)

    remote = [u for u in browser_context.requests if urlparse(u).hostname not in (None, "127.0.0.1", "localhost")]
    assert remote == [], "the page must work offline"
    page.close()


def test_bad_upload_shows_readable_message(app, browser_context, tmp_path):
    fake = tmp_path / "holiday.mp4"
    fake.write_text("these are my notes, not a video\n")
    page = _open(browser_context, app.url)
    page.locator("#video-in input[type=file]").set_input_files(str(fake))
    page.click("#generate")
    message = page.get_by_text("holiday.mp4: not a readable media file")
    message.wait_for(timeout=30_000)
    body = page.locator("body").inner_text()
    assert "Traceback" not in body and str(app.workdir) not in body
    page.close()


def test_port_in_use_is_one_line(app, bundle):
    port = urlparse(app.url).port
    done = subprocess.run(
        [sys.executable, "-m", "v2meow.cli.app", "--bundle", str(bundle), "--port", str(port)],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"v2meow-app: error: cannot serve on 127.0.0.1:{port}: the port is in use or not allowed here; pick another --port"
    )
