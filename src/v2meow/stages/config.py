"""Architecture fields shared by the three stage configs, and the size presets."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from v2meow.components import ComponentConfig
from v2meow.errors import ConfigError, UnknownComponentError

#: Size presets. `paper` is V2Meow's (12 layers, 16 heads, width 1024, FFN 4096).
PRESETS: dict[str, dict[str, Any]] = {
    "paper": dict(dim=1024, depth=12, encoder_depth=12, heads=16, ffn=4096),
    "small": dict(dim=256, depth=4, encoder_depth=2, heads=4, ffn=1024),
    "debug": dict(dim=32, depth=2, encoder_depth=1, heads=2, ffn=64),
}

S = TypeVar("S", bound="StageConfig")


@dataclasses.dataclass
class StageConfig(ComponentConfig):
    """Transformer sizes and the time axis, common to every stage."""

    dim: int = 256
    depth: int = 4  # decoder layers
    encoder_depth: int = 2  # encoder layers (encoder-decoder stages)
    heads: int = 4
    ffn: int = 1024
    dropout: float = 0.0
    ticks_per_second: float = 50.0  # rotary positions are time x this
    window_seconds: float = 10.0  # training crop and generation window

    def __post_init__(self) -> None:
        if self.dim % self.heads or (self.dim // self.heads) % 2:
            raise ConfigError(f"{self.model_type}: width {self.dim} must split into {self.heads} heads of even size")
        if self.window_seconds <= 0:
            raise ConfigError(f"{self.model_type}: window_seconds must be positive")

    @classmethod
    def preset(cls: type[S], name: str, **overrides: Any) -> S:
        """Config of preset `name` (paper, small, debug) with `overrides` applied."""
        if name not in PRESETS:
            raise UnknownComponentError(f"unknown preset '{name}' (known: {', '.join(PRESETS)})")
        return cls(**{**PRESETS[name], **overrides})
