"""Reading `torch.save` files and TorchScript archives without running code from them.

A `.pt`/`.pth`/`.ckpt`/`.bin` file written by `torch.save` is a Python pickle, and
unpickling can run arbitrary code; a TorchScript archive is a program that
`torch.jit.load` compiles and runs. So by default:

- pickles are read with `torch.load(weights_only=True)`, which rebuilds only tensors and
  plain containers; a file that needs more is refused;
- TorchScript archives are refused before `torch.jit.load` is called.

Either is read only with `trust_pickle=True` (the CLIs' `--trust-pickle`). Every refusal
is one line naming the file and the flag. Every `torch.load`/`torch.jit.load` of a file a
user names goes through `load_torch`.
"""

from __future__ import annotations

import os
import types
import warnings
import zipfile
from pathlib import Path
from typing import Any

from v2meow.errors import ConfigError, MissingWeightsError

TRUST_FLAG = "--trust-pickle"
HINT = f"re-run with {TRUST_FLAG} only if you trust where the file came from"


def is_torchscript(path: str | os.PathLike) -> bool:
    """Whether `path` is a TorchScript archive (a zip holding `constants.pkl` or compiled code)."""
    path = Path(path)
    if not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.endswith("constants.pkl") or "/code/" in n for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def load_torch(
    path: str | os.PathLike,
    trust_pickle: bool = False,
    map_location: str = "cpu",
    pickle_module: types.ModuleType | None = None,
    what: str = "torch file",
) -> Any:
    """The object in a `torch.save` file, or the module in a TorchScript archive (with `trust_pickle` only).

    Args:
        path: the file.
        trust_pickle: allow a full unpickle (when the safe read refuses the file) and
            TorchScript; both can run code from the file.
        map_location: where tensors go.
        pickle_module: the unpickler for a trusted full load (e.g. one that stands in
            placeholders for classes that cannot be imported).
        what: the file's kind in messages ("not a readable checkpoint").

    Raises:
        MissingWeightsError: no such file.
        ConfigError: unreadable, or executable without `trust_pickle` (one line naming the flag).
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise MissingWeightsError(f"{path}: file not found")
    if is_torchscript(path):
        if not trust_pickle:
            raise ConfigError(
                f"{path}: is a TorchScript archive, and loading one runs arbitrary code from the file; {HINT}"
            )
        with warnings.catch_warnings():  # jit.load is deprecated, but OpenAI ships TorchScript
            warnings.simplefilter("ignore", FutureWarning)
            try:
                return torch.jit.load(str(path), map_location=map_location)
            except Exception as e:
                raise ConfigError(f"{path}: not a readable TorchScript archive ({_first_line(e)})") from None
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols on stderr; the refusal says enough
            warnings.simplefilter("ignore")
            return torch.load(str(path), map_location=map_location, weights_only=True)
    except Exception as safe_error:
        if not _looks_pickled(path) or "weights only load failed" not in str(safe_error).lower():
            raise ConfigError(f"{path}: not a readable {what} ({_first_line(safe_error)})") from None
        if not trust_pickle:
            unsafe = _unsupported_global(safe_error)
            held = f"a pickled {unsafe} object" if unsafe else "pickled objects the safe reader refuses"
            raise ConfigError(
                f"{path}: holds {held}, not only tensors, and unpickling it can run arbitrary code; {HINT}"
            ) from None
    kwargs = {"pickle_module": pickle_module} if pickle_module is not None else {}
    try:
        return torch.load(str(path), map_location=map_location, weights_only=False, **kwargs)
    except Exception as e:
        raise ConfigError(f"{path}: not a readable {what} ({_first_line(e)})") from None


def _unsupported_global(error: Exception) -> str | None:
    """The class a weights-only read refused (torch names it `GLOBAL module.name`); None if it is no such refusal."""
    for line in str(error).splitlines():
        if "GLOBAL " in line:
            return line.split("GLOBAL ", 1)[1].split()[0].strip(" .,:'\"")
    return None


def _looks_pickled(path: Path) -> bool:
    """A zip (torch.save's format) or a raw pickle (protocol 2+ starts with 0x80)."""
    with open(path, "rb") as f:
        head = f.read(2)
    return head[:2] == b"PK" or head[:1] == b"\x80"


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    specific = [line for line in lines if line.lower().startswith(("unsupported", "invalid load key"))]
    line = (specific or lines or [""])[0]
    return f"{type(error).__name__}: {line[:160]}" if line else type(error).__name__
