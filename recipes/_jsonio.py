"""JSON index files of the demo recipe, written atomically; paths inside are relative to the file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from v2meow.errors import ConfigError
from v2meow.safety.outputs import atomic_output


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write `data` as indented JSON; the file appears only when complete."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def read_json(path: str | os.PathLike, default: Any = None) -> Any:
    """Read a JSON file; `default` if it does not exist. A corrupt file is a `ConfigError`."""
    path = Path(path)
    if not path.exists():
        if default is not None:
            return default
        raise ConfigError(f"{path}: no such file")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid JSON ({e})") from None


def relative(path: str | os.PathLike, base: str | os.PathLike) -> str:
    """`path` relative to the folder `base`, with '/' separators (for portable index files)."""
    return Path(os.path.relpath(Path(path).resolve(), Path(base).resolve())).as_posix()
