"""Running out of things: a full disk, a late SIGTERM, a memory limit (ulimit -v).

Full disk: RLIMIT_FSIZE in a subprocess (runs anywhere; writes fail with EFBIG once SIGXFSZ is
ignored) and, where this process may mount one, a tiny tmpfs (ENOSPC). Every output is refused in
one line ("cannot write (...)", exit 2) and nothing is left: before, FLAC and OGG outputs were cut
at the limit and reported as written (exit 0), and a codes or features .safetensors raised a
SafetensorError traceback.

SIGTERM during stage 3, the codec decode and the mux: exit 130, "interrupted", nothing left.

Memory: allocations that fail after the imports (mmap of the weights, torch's allocator, the
decoder's threads) give one line "out of memory (...)" and exit 1 (the machine's limit, not bad
input: exit 2 stays for the input's and arguments' faults); before, a traceback (exit 1), or
"decode error ... Resource temporarily unavailable" blaming the video (exit 2).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from v2meow.cli.codec import main as codec_main
from v2meow.cli.generate import main as generate_main

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, bundle):
    """A 1 s video, a codec directory (the debug bundle's), a 1 s tone and its codes file."""
    import numpy as np
    import soundfile as sf

    import mediagen

    d = tmp_path_factory.mktemp("inputs")
    video = mediagen.make_video(d / "in.mp4", duration=1.0, fps=10, size=(32, 32))
    sf.write(d / "tone.wav", 0.3 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000), 16000)
    assert (
        codec_main(["encode", str(d / "tone.wav"), str(d / "codes.safetensors"), "--codec", str(bundle / "codec")]) == 0
    )
    return {"video": video, "codec": bundle / "codec", "tone": d / "tone.wav", "codes": d / "codes.safetensors"}


def calls(inputs, bundle, out: Path) -> dict[str, tuple[str, list[str]]]:
    gen = ["--video", str(inputs["video"]), "--bundle", str(bundle), "--quiet", "--out"]
    return {
        "o.wav": ("generate", [*gen, str(out / "o.wav")]),
        "o.flac": ("generate", [*gen, str(out / "o.flac")]),
        "o.mp4": ("generate", [*gen, str(out / "o.mp4")]),
        "c.safetensors": (
            "codec",
            ["encode", str(inputs["tone"]), str(out / "c.safetensors"), "--codec", str(inputs["codec"])],
        ),
        "d.ogg": ("codec", ["decode", str(inputs["codes"]), str(out / "d.ogg"), "--codec", str(inputs["codec"])]),
        "d.flac": ("codec", ["decode", str(inputs["codes"]), str(out / "d.flac"), "--codec", str(inputs["codec"])]),
    }


# ---- a full disk: RLIMIT_FSIZE -----------------------------------------------------------------

_FSIZE = """
import contextlib, io, json, resource, signal, sys
from v2meow.cli.codec import main as codec
from v2meow.cli.generate import main as generate
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing
limit, todo = int(sys.argv[1]), json.loads(sys.argv[2])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
for name, (prog, argv) in todo.items():
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = {"generate": generate, "codec": codec}[prog](argv)
    print(json.dumps([name, code, err.getvalue()]), flush=True)  # stdout is a pipe: no size limit
"""


@pytest.mark.slow
@pytest.mark.parametrize("limit", [1000, 6000])
def test_file_size_limit(inputs, bundle, tmp_path, limit):
    """1000 bytes: every output fails at once; 6000: the audio writers get past their headers first."""
    todo = {k: v for k, v in calls(inputs, bundle, tmp_path).items() if limit < 2000 or k != "c.safetensors"}  # 1.2 kB
    p = subprocess.run(
        [sys.executable, "-c", _FSIZE, str(limit), json.dumps(todo)],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
    )
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr[-3000:]
    results = {name: (code, err.strip()) for name, code, err in map(json.loads, p.stdout.splitlines())}
    assert set(results) == set(todo)
    for name, (code, err) in results.items():
        assert code == 2 and len(err.splitlines()) == 1, (name, code, err)
        assert "cannot write" in err and "File too large" in err and name in err, (name, err)
    assert os.listdir(tmp_path) == []  # no output, no temporary file


# ---- a full disk: a tmpfs with no space left ---------------------------------------------------


@pytest.fixture
def full_disk(tmp_path):
    """A 256 KiB tmpfs filled to the last byte; skipped only where mounting is impossible."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        with open(disk / ".filler", "wb", buffering=0) as f, contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 4096)
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_no_space_left(inputs, bundle, full_disk, refused):
    for name, (prog, argv) in calls(inputs, bundle, full_disk).items():
        err = refused({"generate": generate_main, "codec": codec_main}[prog], argv, full_disk / name)
        assert "cannot write" in err and "No space left on device" in err and name in err, err
    assert os.listdir(full_disk) == [".filler"]


# ---- SIGTERM late in a generation --------------------------------------------------------------

_STALL = """
import sys, time
import v2meow.media.avio as avio
import v2meow.pipelines.chain as chain
from v2meow.pipelines.pipeline import V2MeowPipeline
phase = sys.argv[1]


def stalled(real):
    def wrapper(*args, **kwargs):
        print(phase, flush=True)
        time.sleep(120)  # the SIGTERM arrives here, in the middle of this step
        return real(*args, **kwargs)

    return wrapper


if phase == "stage3":  # the chain's step for the fine role
    run_role = chain.run_role
    chain.run_role = lambda pipe, role, *a, **k: (stalled(run_role) if role == "fine" else run_role)(pipe, role, *a, **k)
elif phase == "decode":
    V2MeowPipeline.decode = stalled(V2MeowPipeline.decode)
elif phase == "mux":
    avio.mux_interleaved = stalled(avio.mux_interleaved)  # inside atomic_output: the temporary file exists
from v2meow.cli.generate import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.slow
@pytest.mark.parametrize("phase, out", [("stage3", "o.wav"), ("decode", "o.mp4"), ("mux", "o.mp4"), ("mux", "o.mkv")])
def test_sigterm_late(inputs, bundle, tmp_path, phase, out):
    argv = ["--video", str(inputs["video"]), "--bundle", str(bundle), "--out", str(tmp_path / out), "--quiet"]
    p = subprocess.Popen(
        [sys.executable, "-c", _STALL, phase, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV
    )
    try:
        assert p.stdout.readline().strip() == phase, p.stderr.read()
        if phase == "mux":
            assert any(".tmp" in f for f in os.listdir(tmp_path)), os.listdir(tmp_path)
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=60) == 130
    finally:
        p.kill()
    err = p.stderr.read().strip()
    assert err == "v2meow-generate: interrupted", err
    assert os.listdir(tmp_path) == []


@pytest.mark.slow
def test_sigterm_while_stage1_runs(inputs, bundle, tmp_path):
    """No hook: the signal lands in stage 1's real work, seen by its progress bar."""
    import mediagen

    video = mediagen.make_video(tmp_path / "long.mp4", duration=8.0, fps=10, size=(32, 32))
    out = tmp_path / "o" / "o.mp4"
    out.parent.mkdir()
    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "v2meow.cli.generate",
            "--video",
            str(video),
            "--bundle",
            str(bundle),
            "--out",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=ENV,
    )
    seen = bytearray()

    def read():
        while chunk := p.stderr.read1(256):
            seen.extend(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while b"stage 1:" not in seen and time.monotonic() < deadline and p.poll() is None:
            time.sleep(0.05)
        assert b"stage 1:" in seen, seen.decode(errors="replace")
        time.sleep(0.3)
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=60) == 130
    finally:
        p.kill()
    reader.join(10)
    assert seen.decode(errors="replace").strip().endswith("v2meow-generate: interrupted")
    assert "Traceback" not in seen.decode(errors="replace")
    assert os.listdir(out.parent) == []


# ---- a memory limit (ulimit -v) ----------------------------------------------------------------

_MEMORY = """
import os, resource, sys
from v2meow.cli.generate import main
video, out, warm_bundle, bundle, extra = sys.argv[1:6]
# One run without the limit first, so that every lazy import is done: the limit then hits the
# model's own allocations (weights, activations, decoder threads), not Python's imports.
assert main(["--video", video, "--bundle", warm_bundle, "--out", out + ".warm.wav", "--quiet"]) == 0
os.remove(out + ".warm.wav")
size = next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmSize:"))
limit = size + int(extra) * 2**20  # what is mapped now, plus a little
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
sys.exit(main(["--video", video, "--bundle", bundle, "--out", out, "--quiet"]))
"""


@pytest.mark.slow
@pytest.mark.parametrize("extra_mb", [4, 40])
def test_memory_limit_below_the_demo_bundle(inputs, bundle, tmp_path, extra_mb):
    out = tmp_path / "o.wav"
    argv = [inputs["video"], out, bundle, ROOT / "checkpoints" / "demo", extra_mb]
    p = subprocess.run(
        [sys.executable, "-c", _MEMORY, *map(str, argv)], capture_output=True, text=True, env=ENV, timeout=300
    )
    err = p.stderr.strip()
    assert p.returncode == 1, (p.returncode, err[-3000:])
    assert len(err.splitlines()) == 1 and err.startswith("v2meow-generate: error: out of memory"), err[-3000:]
    assert os.listdir(tmp_path) == []


def test_out_of_memory_errors_are_recognised():
    from v2meow.cli.common import out_of_memory, run

    assert out_of_memory(MemoryError())
    assert out_of_memory(
        RuntimeError("unable to mmap 3070864 bytes from file <m.safetensors>: Cannot allocate memory (12)")
    )
    assert out_of_memory(RuntimeError("[enforce fail at alloc_cpu.cpp:118] DefaultCPUAllocator: can't allocate memory"))
    assert not out_of_memory(RuntimeError("shape mismatch"))
    with pytest.raises(RuntimeError, match="shape mismatch"):  # other RuntimeErrors are bugs: not hidden
        run("x", lambda: (_ for _ in ()).throw(RuntimeError("shape mismatch")))
