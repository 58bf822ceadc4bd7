"""Architecture fields shared by the three stage configs, and the size presets."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

import torch

from v2meow.components import Component, ComponentConfig
from v2meow.errors import ConfigError, UnknownComponentError
from v2meow.stages.conditions import Stream

#: Size presets. `paper` is V2Meow's (12 layers, 16 heads, width 1024, FFN 4096).
PRESETS: dict[str, dict[str, Any]] = {
    "paper": dict(dim=1024, depth=12, encoder_depth=12, heads=16, ffn=4096),
    "small": dict(dim=256, depth=4, encoder_depth=2, heads=4, ffn=1024),
    "debug": dict(dim=32, depth=2, encoder_depth=1, heads=2, ffn=64),
}

S = TypeVar("S", bound="StageConfig")


@dataclasses.dataclass
class StageConfig(ComponentConfig):
    """Transformer sizes and the time axis, common to every stage.

    format_version 2: the feed-forward layers are named `ffn.fc1`/`ffn.fc2` (were `ffn.net.0`/`ffn.net.3`);
    the config fields did not change.
    """

    format_version = 2

    dim: int = 256
    depth: int = 4  # decoder layers
    encoder_depth: int = 2  # encoder layers (encoder-decoder stages)
    heads: int = 4
    ffn: int = 1024
    dropout: float = 0.0
    ticks_per_second: float = 50.0  # rotary positions are time x this
    window_seconds: float = 10.0  # training crop and generation window
    training: dict | None = (
        None  # how the weights were trained (steps, tokens, losses; v2meow-train fills it); not architecture
    )

    def __post_init__(self) -> None:
        if self.dim % self.heads or (self.dim // self.heads) % 2:
            raise ConfigError(f"{self.model_type}: width {self.dim} must split into {self.heads} heads of even size")
        if self.window_seconds <= 0:
            raise ConfigError(f"{self.model_type}: window_seconds must be positive")

    def streams(self) -> list[Stream]:
        """Every input of the stage, in order: its conditions and its own token input (not guidable)."""
        raise NotImplementedError(f"{self.model_type}: a stage config declares its streams()")

    @classmethod
    def migrate(cls, d: dict[str, Any], from_version: int) -> dict[str, Any]:
        if from_version == 1:  # only the weight names changed (StageComponent.migrate_state)
            return d
        return super().migrate(d, from_version)

    @classmethod
    def preset(cls: type[S], name: str, **overrides: Any) -> S:
        """Config of preset `name` (paper, small, debug) with `overrides` applied."""
        if name not in PRESETS:
            raise UnknownComponentError(f"unknown preset '{name}' (known: {', '.join(PRESETS)})")
        return cls(**{**PRESETS[name], **overrides})


#: Weight renames of each format-version step: old key fragment -> new.
_STATE_RENAMES = {1: {".ffn.net.0.": ".ffn.fc1.", ".ffn.net.3.": ".ffn.fc2."}}


class StageComponent(Component):
    """What the three stage models share: the time axis in ticks, and weight migration."""

    def ticks(self, seconds: torch.Tensor) -> torch.Tensor:
        """Rotary positions of times in seconds."""
        return seconds * self.config.ticks_per_second

    @classmethod
    def migrate_state(cls, state: dict[str, torch.Tensor], from_version: int) -> dict[str, torch.Tensor]:
        for version in range(from_version, cls.config_class.format_version):
            renames = _STATE_RENAMES.get(version, {})
            state = {_rename(k, renames): v for k, v in state.items()}
        return state


def _rename(key: str, renames: dict[str, str]) -> str:
    for old, new in renames.items():
        key = key.replace(old, new)
    return key
