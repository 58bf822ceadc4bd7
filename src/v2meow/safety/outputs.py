"""Small file helpers: atomic writes so that no half-written output is ever left behind."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from v2meow.errors import OutputError


def check_writable(path: str | os.PathLike) -> Path:
    """Return `path` as a Path after checking its directory exists and is writable."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    check_not_system(path)
    if not parent.is_dir():
        raise OutputError(f"{path}: cannot write, directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"{path}: cannot write, directory {parent} is not writable")
    if path.is_dir():
        raise OutputError(f"{path}: cannot write, it is a directory")
    return path


SYSTEM_DIRS = ("/proc", "/sys", "/dev")  # kernel interfaces: writing there is never an output


def check_not_system(path: str | os.PathLike) -> None:
    """OutputError for an output under /proc, /sys or /dev (after symlinks are resolved)."""
    real = os.path.realpath(path)
    for root in SYSTEM_DIRS:
        if real == root or real.startswith(root + os.sep):
            raise OutputError(f"{path}: cannot write under {root} (a system folder, not a place for outputs)")


def overlaps(out: str | os.PathLike, source: str | os.PathLike) -> bool:
    """Whether writing `out` would replace `source`: the same file or folder, or a folder that holds it."""
    if same_file(out, source):
        return True
    real_out, real_src = os.path.realpath(out), os.path.realpath(source)
    return real_src.startswith(real_out.rstrip(os.sep) + os.sep)


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name one file: after symlinks and `..` are resolved, or as hard links (same inode)."""
    a, b = Path(a), Path(b)
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist yet
        return False


def check_outputs(
    outputs: Iterable[str | os.PathLike],
    inputs: Iterable[str | os.PathLike] = (),
    suffixes: Iterable[str] | None = None,
    option: str = "--out",
) -> list[Path]:
    """Check output files before any work: accepted suffix, directory exists and is writable, not an input.

    An output that resolves to an input (the same path, a symlink to it, a hard link
    of it, a path through `..`) is refused, so that no command ever overwrites what it
    reads. Every CLI calls this before it loads a model.

    Raises:
        OutputError: the first output that cannot be written, and why.
    """
    inputs = [Path(i) for i in inputs]
    accepted = None if suffixes is None else {s.lower() for s in suffixes}
    checked = []
    for out in outputs:
        out = Path(out)
        if accepted is not None and out.suffix.lower() not in accepted:
            raise OutputError(f"{out}: {option} must end in {', '.join(sorted(accepted))}")
        check_writable(out)
        for source in inputs:
            if same_file(out, source):
                raise OutputError(
                    f"{out}: {option} is the input {source}; writing it would destroy the input, choose another path"
                )
        checked.append(out)
    return checked


def check_output_dir(path: str | os.PathLike, inputs: Iterable[str | os.PathLike] = (), option: str = "--out") -> Path:
    """Check an output directory before any work: it exists (or its parent does), is writable, is not an input."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path}: {option} must be a directory, but it is a file")
    target = path if path.is_dir() else (path.parent if str(path.parent) else Path("."))
    if not target.is_dir():
        raise OutputError(f"{path}: cannot write, directory {target} does not exist")
    if not os.access(target, os.W_OK):
        raise OutputError(f"{path}: cannot write, directory {target} is not writable")
    check_not_system(path)
    for source in inputs:
        if overlaps(path, source):
            what = "is" if same_file(path, source) else "holds"
            raise OutputError(
                f"{path}: {option} {what} the input {source}; writing it would destroy the input, choose another directory"
            )
    return path


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:200] if text else type(e).__name__


def _is_write_failure(e: BaseException) -> bool:
    """A writer's own error type wrapping an I/O error (safetensors: "... I/O error: File too large ...")."""
    return type(e).__name__ == "SafetensorError" and "I/O error" in str(e)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it onto `path` only if the block succeeds.

    The temporary file keeps the suffix of `path` so that writers which pick a format
    from the file name (PyAV, soundfile) still do. On any exception it is removed.
    """
    path = check_writable(path)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    except OSError as e:
        raise OutputError(f"{path}: cannot write ({e.strerror or e})") from None
    os.close(fd)
    tmp = Path(tmp_name)
    mode = 0o666 & ~_umask()
    os.chmod(tmp, mode)  # mkstemp makes 0600; outputs get a normal new file's mode
    try:
        yield tmp
        if tmp.exists():  # some writers (safetensors) replace the file, and with it its mode
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as e:  # a full disk, a quota, a file size limit: one line, nothing left behind
        tmp.unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot write ({e.strerror or _first_line(e)})") from None
    except Exception as e:
        tmp.unlink(missing_ok=True)
        if _is_write_failure(e):  # safetensors' writer reports the OSError as its own error type
            raise OutputError(f"{path}: cannot write ({_first_line(e)})") from None
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary directory next to `path`; move it onto `path` only if the block succeeds.

    Args:
        path: the directory to create.
        overwrite: replace an existing non-empty `path` (it is removed only after the new
            one is complete). Without it, an existing non-empty directory is an `OutputError`.
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    check_not_system(path)
    if not parent.is_dir():
        raise OutputError(f"{path}: cannot write, directory {parent} does not exist")
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path}: exists and is not a directory")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise OutputError(f"{path}: directory exists and is not empty (choose another --out or pass --overwrite)")
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent))
    except OSError as e:
        raise OutputError(f"{path}: cannot write ({e.strerror})") from None
    try:
        yield tmp
        if path.is_dir():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
