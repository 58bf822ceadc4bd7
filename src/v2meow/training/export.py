"""Lightning `.ckpt` -> component directory (`config.json` + `model.safetensors`).

Every v2meow LightningModule embeds, in `checkpoint["v2meow"]`, the `model_type` and
config of the component it trains and the prefix of its weights in the state dict.
`export_checkpoint` dispatches on `model_type` through the registries of the model code:
stages (`stages/registry.py`) and trainable codecs (`tokenizers/acoustic/registry.py`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from v2meow.components import Component, load_state_strict
from v2meow.errors import ConfigError, MissingWeightsError, UnknownComponentError
from v2meow.safety.safeload import HINT, load_torch
from v2meow.stages.registry import stage_class, stage_types
from v2meow.tokenizers.acoustic.base import AcousticCodec
from v2meow.tokenizers.acoustic.registry import TRAINABLE, codec_class


def read_checkpoint(path: str | os.PathLike, trust_pickle: bool = False) -> dict[str, Any]:
    """Load a Lightning checkpoint with `weights_only=True` (no code runs) and check it is ours.

    A directory is a sharded checkpoint (Lightning's FSDP with `state_dict_type="sharded"`:
    torch.distributed.checkpoint shards + `meta.pt`); it is consolidated into one full state
    dict, with `trust_pickle` only (its index is a pickle)."""
    path = Path(path)
    if path.is_dir():
        return consolidate_sharded(path, trust_pickle)
    if not path.is_file():
        raise MissingWeightsError(f"{path}: checkpoint not found")
    return _checked(load_torch(path, what="checkpoint"), path)  # weights only: no code from the file runs


def consolidate_sharded(path: Path, trust_pickle: bool = False) -> dict[str, Any]:
    """A sharded (FSDP) checkpoint directory as one checkpoint dict with a full `state_dict`, on CPU, in one process.

    torch.distributed.checkpoint keeps a sharded checkpoint's index (`.metadata`) as a pickle,
    so it is read only with `trust_pickle`."""
    from lightning.fabric.utilities.load import _load_distributed_checkpoint

    if not (path / ".metadata").is_file():
        raise ConfigError(f"{path}: a directory, but not a sharded checkpoint (no .metadata)")
    if not trust_pickle:
        raise ConfigError(f"{path}: a sharded checkpoint's index is a pickle, which can run code; {HINT}")
    try:
        ckpt = _load_distributed_checkpoint(path)
    except Exception as e:
        first = (str(e).splitlines() or [type(e).__name__])[0][:200]
        raise ConfigError(f"{path}: not a readable sharded checkpoint ({first})") from None
    if "model" in ckpt and "state_dict" not in ckpt:  # Lightning's FSDP keeps the module state under "model"
        ckpt["state_dict"] = ckpt.pop("model")
    return _checked(ckpt, path)


def _checked(ckpt: Any, path: Path) -> dict[str, Any]:
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("v2meow"), dict) or "state_dict" not in ckpt:
        raise ConfigError(f"{path}: not a v2meow training checkpoint (no embedded component config)")
    return ckpt


def component_state(ckpt: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The component's weights, prefix stripped, from a checkpoint's state dict."""
    prefix = ckpt["v2meow"].get("component_prefix", "")
    state = {_unwrapped(k): v for k, v in ckpt["state_dict"].items()}
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def _unwrapped(key: str) -> str:
    """A parameter name without the wrapper segments FSDP / activation checkpointing may leave in it."""
    for wrapper in ("_fsdp_wrapped_module.", "_checkpoint_wrapped_module."):
        key = key.replace(wrapper, "")
    return key


def component_class(model_type: str | None) -> type[Component]:
    """The class of a trainable `model_type`: a registered stage or a trainable codec."""
    if model_type in TRAINABLE:
        return codec_class(model_type, trainable=True)
    if model_type in stage_types():
        return stage_class(model_type)
    raise UnknownComponentError(
        f"cannot export model_type '{model_type}' (known: {', '.join([*stage_types(), *TRAINABLE])})"
    )


def load_component_from_checkpoint(path: str | os.PathLike, trust_pickle: bool = False) -> Component:
    """The trained component held by a v2meow `.ckpt`, rebuilt from its embedded config."""
    ckpt = read_checkpoint(path, trust_pickle)
    try:
        cls = component_class(ckpt["v2meow"].get("model_type"))
    except UnknownComponentError as e:
        raise UnknownComponentError(f"{path}: {e}") from None
    model = cls(cls.config_class.from_dict(ckpt["v2meow"]["component_config"]))
    load_state_strict(model, component_state(ckpt), source=str(path))
    return model


def load_codec_from_checkpoint(path: str | os.PathLike) -> AcousticCodec:
    """The trainable codec (SoundStream or iSTFT) held by a codec `.ckpt`."""
    component = load_component_from_checkpoint(path)
    if not isinstance(component, AcousticCodec):
        raise ConfigError(f"{path}: holds a {component.config.model_type}, not a codec")
    return component


def export_checkpoint(ckpt: str | os.PathLike, out_dir: str | os.PathLike, trust_pickle: bool = False) -> Path:
    """Write the component of any v2meow `.ckpt` as a component directory; returns it."""
    return load_component_from_checkpoint(ckpt, trust_pickle).save_pretrained(out_dir)


def export_codec(ckpt: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """Write the codec of a codec `.ckpt` as a component directory (`load_codec` reads it)."""
    return load_codec_from_checkpoint(ckpt).save_pretrained(out_dir)
