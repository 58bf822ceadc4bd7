"""Weights that load but cannot be right, outputs that cannot be written, outputs that would destroy
inputs, and the app's numbers: each refused in one line before any model work."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from v2meow.cli.generate import main as generate
from v2meow.errors import ConfigError, MediaError

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _rewrite(weights: Path, change) -> None:
    state = load_file(str(weights))
    name = next(k for k, v in state.items() if v.is_floating_point() and v.dim() == 2)
    state[name] = change(state[name])
    save_file(state, str(weights), metadata={"format_version": "2"})


@pytest.mark.parametrize(
    "kind,change,words",
    [
        ("int8", lambda t: t.to(torch.int8), "I8"),
        ("nan", lambda t: torch.full_like(t, float("nan")), "NaN"),
        ("inf", lambda t: t.index_fill(0, torch.tensor([0]), float("inf")), "NaN or inf"),
    ],
)
def test_broken_stage_weights(bundle, tmp_path, refused, capsys, make_video, kind, change, words):
    from v2meow.cli.bundle import main as bundle_main

    broken = tmp_path / "b"
    shutil.copytree(bundle, broken)
    _rewrite(broken / "stage2" / "model.safetensors", change)
    video = make_video("in.mp4", duration=1.0, fps=10, size=(32, 32))
    out = tmp_path / "o.wav"
    err = refused(generate, ["--video", video, "--bundle", broken, "--out", out, "--quiet"], out)
    assert words in err and "stage2" in err and "tensor" in err, err
    assert bundle_main(["inspect", str(broken)]) == 1  # inspect reports: the verdict names the tensor
    report = capsys.readouterr().out
    assert "compatible: NO" in report and words in report and "stage2" in report and "tensor" in report, report


def test_nan_logits_are_never_sampled():
    from v2meow.stages.sampling import SamplingConfig, sample

    assert sample(torch.tensor([[0.0, float("-inf")]]), SamplingConfig(temperature=1.0)).item() == 0  # -inf: impossible
    for logits in (
        torch.tensor([[0.0, float("nan")]]),
        torch.tensor([[float("inf"), 0.0]]),
        torch.full((1, 2), float("-inf")),
    ):
        for t in (0.0, 1.0):
            with pytest.raises(ConfigError, match="NaN or inf"):
                sample(logits, SamplingConfig(temperature=t))


# ---- image "videos" ---------------------------------------------------------------------------


def _image(path: Path, fmt: str, frames: int) -> Path:
    with av.open(str(path), "w", format=fmt) as c:
        s = c.add_stream("gif" if fmt == "gif" else "png", rate=5)
        s.width = s.height = 32
        s.pix_fmt = "rgb8" if fmt == "gif" else "rgb24"
        for i in range(frames):
            img = np.full((32, 32, 3), 40 * i % 255, np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path


@pytest.mark.parametrize("fmt,frames", [("gif", 10), ("image2", 1)])
@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".mov", ".webm", ".wav"])
def test_images_named_mp4_are_refused_before_the_model(bundle, tmp_path, refused, monkeypatch, fmt, frames, suffix):
    from v2meow.pipelines import V2MeowPipeline

    monkeypatch.setattr(V2MeowPipeline, "from_pretrained", classmethod(lambda *a, **k: pytest.fail("model loaded")))
    picture = _image(tmp_path / f"pic.{'gif' if fmt == 'gif' else 'png'}", fmt, frames)
    video = tmp_path / "pic.mp4"
    os.replace(picture, video)
    out = tmp_path / f"o{suffix}"
    err = refused(generate, ["--video", video, "--bundle", bundle, "--out", out, "--quiet"], out)
    assert "pic.mp4" in err and "image" in err, err


def test_every_container_hint_is_one_that_holds_the_codec():
    from v2meow import media

    for codec in ("h264", "vp9", "gif", "png", "mjpeg", "prores"):
        for suffix in media.OUTPUT_CONTAINERS:
            try:
                media.check_copyable(codec, f"o{suffix}")
            except MediaError as e:
                hinted = [s for s in media.OUTPUT_CONTAINERS if f"use {s}" in str(e) or f"or {s}" in str(e)]
                assert all(media.can_hold(s, codec) for s in hinted), (codec, str(e))


# ---- outputs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("out", ["/proc/o.mp4", "/proc/self/o.wav", "/sys/o.wav", "/dev/o.wav", "/dev/full"])
def test_system_folders_refused_up_front(bundle, make_video, refused, monkeypatch, out):
    from v2meow.pipelines import V2MeowPipeline

    monkeypatch.setattr(V2MeowPipeline, "from_pretrained", classmethod(lambda *a, **k: pytest.fail("model loaded")))
    video = make_video("in.mp4", duration=1.0, fps=10, size=(32, 32))
    suffixed = out if Path(out).suffix else out  # /dev/full has no suffix: refused for its suffix or its folder
    assert refused(generate, ["--video", video, "--bundle", bundle, "--out", suffixed, "--quiet"])


_FULL_DISK = """
import resource, signal, sys, torch
from v2meow.cli.common import run
from v2meow import media
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
sys.exit(run("w", lambda: media.write_audio(sys.argv[1], torch.rand(1, 48000) - 0.5, 16000) and 0))
"""


@pytest.mark.parametrize("name", ["o.wav", "o.flac"])
def test_write_failure_is_one_line(tmp_path, name):
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    p = subprocess.run(
        [sys.executable, "-c", _FULL_DISK, str(tmp_path / name)], capture_output=True, text=True, env=env, timeout=120
    )
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and "cannot write" in p.stderr, p.stderr
    assert os.listdir(tmp_path) == []


_SLOW_WRITE = """
import sys, time
from v2meow.cli.common import run
from v2meow.safety.outputs import atomic_output
def main():
    with atomic_output(sys.argv[1]) as tmp:
        tmp.write_bytes(b"x")
        print("writing", flush=True)
        time.sleep(60)
sys.exit(run("w", main))
"""


def test_sigterm_during_a_write_leaves_nothing(tmp_path):
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    p = subprocess.Popen(
        [sys.executable, "-c", _SLOW_WRITE, str(tmp_path / "o.mp4")], stdout=subprocess.PIPE, env=env, text=True
    )
    assert p.stdout.readline().strip() == "writing"
    assert any(".tmp" in f for f in os.listdir(tmp_path))
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=30) == 130
    time.sleep(0.1)
    assert os.listdir(tmp_path) == []


# ---- outputs that are inputs ------------------------------------------------------------------


def test_bundle_create_out_is_or_holds_an_input(bundle, tmp_path, refused):
    from v2meow.cli.bundle import main as bundle_main

    copy = tmp_path / "B"
    shutil.copytree(bundle, copy)
    parts = [
        "--stage1",
        copy / "stage1",
        "--stage2",
        copy / "stage2",
        "--stage3",
        copy / "stage3",
        "--codec",
        copy / "codec",
        "--semantic",
        copy / "semantic",
    ]
    before = (copy / "stage1" / "model.safetensors").read_bytes()
    for out in (copy / "stage1", copy, tmp_path / "link"):
        if out.name == "link":
            out.symlink_to(copy)
        err = refused(bundle_main, ["create", *parts, "--out", out, "--overwrite"])
        assert "input" in err, err
    assert (copy / "stage1" / "model.safetensors").read_bytes() == before


def test_export_needs_overwrite_and_never_replaces_its_input(tmp_path, refused):
    from v2meow.cli.export import main as export
    from v2meow.training.export import load_component_from_checkpoint  # noqa: F401 - the export path exists

    ckpt = tmp_path / "run" / "last.ckpt"
    ckpt.parent.mkdir()
    ckpt.write_bytes(b"not read: refused before")
    existing = tmp_path / "component"
    existing.mkdir()
    (existing / "config.json").write_text("{}")
    err = refused(export, [ckpt, existing], existing / "config.json")
    assert "--overwrite" in err, err
    err = refused(export, [ckpt, tmp_path / "run", "--overwrite"], ckpt)
    assert "input" in err, err


# ---- the app: the same validation as the CLI ----------------------------------------------------


@pytest.mark.parametrize(
    "field,value", [("num_samples", 2.5), ("seed", 1.5), ("num_samples", float("nan")), ("seed", "1")]
)
def test_app_settings_never_round(field, value):
    from v2meow.app.soundtrack import Settings

    with pytest.raises(ConfigError):
        Settings(**{field: value}).checked()
    assert Settings(num_samples=2.0, seed=3.0).checked().num_samples == 2
