"""The app's temporary folder: uploads (Gradio's cache) and outputs, removed when the app stops.

While the app runs, a `Janitor` deletes uploads and job folders older than the app's
`--keep-minutes`, so a long-running app does not fill the disk.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

GRADIO_CACHE_ENV = "GRADIO_TEMP_DIR"  # where Gradio keeps uploads and the files it serves


@dataclass
class Workspace:
    """`root` holds everything; `uploads` is Gradio's cache, `outputs` the generated files."""

    root: Path

    @property
    def uploads(self) -> Path:
        return self.root / "uploads"

    @property
    def outputs(self) -> Path:
        return self.root / "outputs"


class Janitor:
    """A daemon thread that deletes entries of `folders` older than `max_age` seconds, every `every` seconds."""

    def __init__(self, folders: list[Path], max_age: float, every: float = 60.0):
        self.folders, self.max_age, self.every = folders, max_age, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="v2meow-janitor", daemon=True)

    def _loop(self) -> None:
        from v2meow.app.soundtrack import prune

        while not self._stop.wait(self.every):
            for folder in self.folders:
                prune(folder, self.max_age)

    def __enter__(self) -> Janitor:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@contextmanager
def workspace(parent: str | os.PathLike | None = None) -> Iterator[Workspace]:
    """Create a fresh temporary folder and point Gradio's cache into it for the duration.

    On exit (normal, error, or a stop signal turned into an exception) the folder is
    removed and the previous `GRADIO_TEMP_DIR` restored.
    """
    root = Path(tempfile.mkdtemp(prefix="v2meow-app-", dir=parent))
    space = Workspace(root)
    space.uploads.mkdir()
    space.outputs.mkdir()
    previous = os.environ.get(GRADIO_CACHE_ENV)
    os.environ[GRADIO_CACHE_ENV] = str(space.uploads)
    try:
        yield space
    finally:
        if previous is None:
            os.environ.pop(GRADIO_CACHE_ENV, None)
        else:
            os.environ[GRADIO_CACHE_ENV] = previous
        shutil.rmtree(root, ignore_errors=True)
