"""Reading third-party weight files without executing pickled code."""

from __future__ import annotations

from pathlib import Path

import torch

from v2meow.errors import ConfigError, MissingWeightsError
from v2meow.safety.safeload import load_torch


def read_state_dict(path: str | Path, trust_pickle: bool = False) -> dict[str, torch.Tensor]:
    """Read a state dict from safetensors, a `torch.save` file or a TorchScript archive.

    Pickles are read with `weights_only=True`; TorchScript archives (OpenAI's CLIP files)
    run code when loaded, so they are read only with `trust_pickle` (`--trust-pickle`),
    and so is a pickle the weights-only reader refuses (`v2meow.safety.safeload`). A checkpoint dict holding the weights under `state_dict` or
    `model_state` is unwrapped, and a `module.` (DDP) prefix is dropped.

    Raises:
        MissingWeightsError: the file does not exist.
        ConfigError: the file cannot be read as weights.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise MissingWeightsError(f"weight file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            state = load_file(str(path), device="cpu")
        except Exception as e:
            raise ConfigError(f"cannot read weights from {path}: {str(e).splitlines()[0][:200]}") from None
    else:
        state = load_torch(path, trust_pickle=trust_pickle)
        if isinstance(state, torch.nn.Module):  # a trusted TorchScript archive
            state = state.state_dict()
    for key in ("state_dict", "model_state", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict) or not state:
        raise ConfigError(f"{path} holds no state dict")
    if all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    return {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}


def load_strict(module: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """`load_state_dict(strict=True)`, turning mismatches into one clear `ConfigError`."""
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as e:
        msg = str(e).split("\n")
        detail = "; ".join(line.strip() for line in msg[1:4] if line.strip())
        raise ConfigError(f"weights in {source} do not fit this architecture: {detail[:500]}") from e
