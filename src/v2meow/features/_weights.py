"""Reading third-party weight files without executing pickled code."""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import torch

from v2meow.errors import ConfigError, MissingWeightsError


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from safetensors, a `torch.save` file or a TorchScript archive.

    Pickles are read with `weights_only=True`; TorchScript archives (OpenAI's CLIP files)
    with `torch.jit.load`. A checkpoint dict holding the weights under `state_dict` or
    `model_state` is unwrapped, and a `module.` (DDP) prefix is dropped.

    Raises:
        MissingWeightsError: the file does not exist.
        ConfigError: the file cannot be read as weights.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise MissingWeightsError(f"weight file not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        elif _is_torchscript(path):
            with warnings.catch_warnings():  # jit.load is deprecated, but OpenAI ships TorchScript
                warnings.simplefilter("ignore", FutureWarning)
                state = torch.jit.load(str(path), map_location="cpu").state_dict()
        else:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any reader failure means "not usable weights"
        raise ConfigError(f"cannot read weights from {path}: {e}") from e
    for key in ("state_dict", "model_state", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict) or not state:
        raise ConfigError(f"{path} holds no state dict")
    if all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    return {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}


def _is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return any(n.endswith("constants.pkl") or "/code/" in n for n in z.namelist())


def load_strict(module: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """`load_state_dict(strict=True)`, turning mismatches into one clear `ConfigError`."""
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as e:
        msg = str(e).split("\n")
        detail = "; ".join(line.strip() for line in msg[1:4] if line.strip())
        raise ConfigError(f"weights in {source} do not fit this architecture: {detail[:500]}") from e
