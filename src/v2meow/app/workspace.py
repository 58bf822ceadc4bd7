"""The app's temporary folder: uploads (Gradio's cache) and outputs, removed when the app stops."""

from __future__ import annotations

import os
import shutil
import tempfile
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
