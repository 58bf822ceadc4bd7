import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))  # tests/mediagen.py

import mediagen

# Test models are tiny: one intra-op thread avoids thread hand-off costs that dominate small ops.
# V2MEOW_TEST_THREADS=2 runs the suite with two, to shake out sums whose order depends on threads
# (tests/README.md).
torch.set_num_threads(int(os.environ.get("V2MEOW_TEST_THREADS", "1")))


@pytest.fixture
def make_video(tmp_path):
    def make(name="v.mp4", **kw):
        return mediagen.make_video(tmp_path / name, **kw)

    return make


@pytest.fixture
def make_audio(tmp_path):
    def make(name="a.wav", **kw):
        return mediagen.make_audio(tmp_path / name, **kw)

    return make


def _mount_read_only(path: Path) -> str | None:
    """Mount a read-only tmpfs at `path` (even root cannot write there); the reason when not allowed."""
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(path)], capture_output=True)
    except OSError as e:  # no mount command
        return str(e)
    return done.stderr.decode(errors="replace").strip() or "mount failed" if done.returncode else None


@pytest.fixture(params=["read-only folder", "folder under a regular file"])
def unwritable_dir(request, tmp_path):
    """A folder no output can be written into, for every user: a read-only tmpfs mount as root (CI
    runs as root, who may write into any folder without write permission), a folder without write
    permission otherwise; or a "folder" whose parent is a regular file."""
    if request.param == "folder under a regular file":
        (tmp_path / "file").write_text("x")
        yield tmp_path / "file" / "sub"
        return
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    reason = _mount_read_only(folder)
    if reason:  # a container without CAP_SYS_ADMIN
        pytest.skip(f"cannot make a read-only folder for root here (mount: {reason})")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)
