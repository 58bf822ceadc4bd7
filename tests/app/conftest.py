"""Fixtures for the web app's tests: a debug bundle, the app in a subprocess, headless Chromium."""

from __future__ import annotations

import importlib.util
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import mediagen
from v2meow.pipelines.debug import build_debug_bundle

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
START_TIMEOUT = 90.0  # seconds for the app to import torch + Gradio and serve, on a busy machine


def browser_missing() -> str | None:
    """Why the browser test cannot run here, or None."""
    if importlib.util.find_spec("gradio") is None:
        return 'Gradio is not installed: pip install -e ".[app]" (make app-deps)'
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed: pip install playwright (make app-deps)"
    if shutil.which("chromium") is None and not Path(CHROMIUM).exists():
        return "no chromium browser: apt-get install chromium (make app-deps)"
    return None


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return build_debug_bundle(tmp_path_factory.mktemp("bundle") / "debug")


@pytest.fixture(scope="module")
def examples(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("examples")
    mediagen.make_video(folder / "bouncing_square.mp4", duration=2.0, fps=25, size=(90, 160))
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppProcess:
    """`python -m v2meow.cli.app` in a subprocess; `url` and `workdir` come from its start-up line."""

    def __init__(self, args: list[str]):
        env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "v2meow.cli.app", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()
        self.url, self.workdir = self._wait_ready()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)

    def _wait_ready(self) -> tuple[str, Path]:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            self.log.append(line)
            m = re.search(r"serving (\S+) .*temporary files in (\S+)\)", line)
            if m:
                return m.group(1), Path(m.group(2))
        self.stop()
        raise RuntimeError("v2meow-app did not start:\n" + "".join(self.log))

    def stop(self) -> int:
        """SIGTERM, as a service manager would; return the exit status."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture(scope="module")
def editable(tmp_path_factory) -> Path:
    """A bundle that can edit a soundtrack (MaskGIT stages 2 and 3, a semantic tokenizer): the app's."""
    from stagegen import editable_bundle

    return editable_bundle(tmp_path_factory.mktemp("bundle") / "editable")


@pytest.fixture(scope="module")
def app(editable, examples):
    reason = browser_missing()
    if reason:
        pytest.skip(reason)
    server = AppProcess(["--bundle", str(editable), "--port", str(free_port()), "--examples", str(examples)])
    yield server
    assert server.stop() == 0
    assert not server.workdir.exists(), "the temporary folder must be removed when the app stops"


@pytest.fixture(scope="module")
def browser_context(app, tmp_path_factory):
    """A fresh headless Chromium profile; every request it makes is recorded in `.requests`."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM,
            args=CHROMIUM_FLAGS,
            headless=True,
            viewport={"width": 1280, "height": 900},
            accept_downloads=True,
        )
        context.requests = []
        context.on("request", lambda r: context.requests.append(r.url))
        yield context
        context.close()
