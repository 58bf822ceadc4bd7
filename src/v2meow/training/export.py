"""Lightning `.ckpt` -> component directory (`config.json` + `model.safetensors`).

Every v2meow LightningModule embeds, in `checkpoint["v2meow"]`, the `model_type` and
config of the component it trains and the prefix of its weights in the state dict.
`export_checkpoint` dispatches on `model_type` through `BUILDERS`; a new model type
registers there a function `(checkpoint dict, source name) -> Component`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from v2meow.components import Component, load_state_strict
from v2meow.errors import ConfigError, MissingWeightsError, UnknownComponentError
from v2meow.stages.stage1 import Stage1, Stage1Config
from v2meow.stages.stage2 import Stage2, Stage2Config
from v2meow.stages.stage3 import Stage3, Stage3Config
from v2meow.tokenizers.acoustic.base import AcousticCodec
from v2meow.tokenizers.acoustic.soundstream import SoundStream, SoundStreamConfig
from v2meow.tokenizers.acoustic.vocos import VocosCodec, VocosCodecConfig


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a Lightning checkpoint with `weights_only=True` (no code runs) and check it is ours."""
    path = Path(path)
    if not path.is_file():
        raise MissingWeightsError(f"{path}: checkpoint not found")
    try:
        ckpt = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - unpickling junk raises anything (struct.error, EOFError, ...)
        first = (str(e).splitlines() or [type(e).__name__])[0][:200]
        raise ConfigError(f"{path}: not a readable checkpoint ({first})") from None
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("v2meow"), dict) or "state_dict" not in ckpt:
        raise ConfigError(f"{path}: not a v2meow training checkpoint (no embedded component config)")
    return ckpt


def component_state(ckpt: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The component's weights, prefix stripped, from a checkpoint's state dict."""
    prefix = ckpt["v2meow"].get("component_prefix", "")
    return {k[len(prefix) :]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)}


def _build_component(cls: type[Component]) -> Callable[[dict[str, Any], str], Component]:
    """A builder for a component class whose config is `cls.config_class`."""

    def build(ckpt: dict[str, Any], source: str) -> Component:
        model = cls(cls.config_class.from_dict(ckpt["v2meow"]["component_config"]))
        load_state_strict(model, component_state(ckpt), source=source)
        return model

    return build


BUILDERS: dict[str, Callable[[dict[str, Any], str], Component]] = {
    SoundStreamConfig.model_type: _build_component(SoundStream),
    VocosCodecConfig.model_type: _build_component(VocosCodec),
    Stage1Config.model_type: _build_component(Stage1),
    Stage2Config.model_type: _build_component(Stage2),
    Stage3Config.model_type: _build_component(Stage3),
}


def load_component_from_checkpoint(path: str | os.PathLike) -> Component:
    """The trained component held by a v2meow `.ckpt`, rebuilt from its embedded config."""
    ckpt = read_checkpoint(path)
    model_type = ckpt["v2meow"].get("model_type")
    if model_type not in BUILDERS:
        raise UnknownComponentError(f"{path}: cannot export model_type '{model_type}' (known: {', '.join(BUILDERS)})")
    return BUILDERS[model_type](ckpt, str(path))


def load_codec_from_checkpoint(path: str | os.PathLike) -> AcousticCodec:
    """The trainable codec (SoundStream or iSTFT) held by a codec `.ckpt`."""
    component = load_component_from_checkpoint(path)
    if not isinstance(component, AcousticCodec):
        raise ConfigError(f"{path}: holds a {component.config.model_type}, not a codec")
    return component


def export_checkpoint(ckpt: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """Write the component of any v2meow `.ckpt` as a component directory; returns it."""
    return load_component_from_checkpoint(ckpt).save_pretrained(out_dir)


def export_codec(ckpt: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """Write the codec of a codec `.ckpt` as a component directory (`load_codec` reads it)."""
    return load_codec_from_checkpoint(ckpt).save_pretrained(out_dir)
