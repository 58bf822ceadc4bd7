"""Named conditioning streams: what a stage reads besides the tokens it predicts.

A stage's config declares its streams (`Stage1Config.streams()`: `visual`, `style`, and any
`extra_streams` entries). Everything else uses the same names:

    model.forward(..., conditions={"visual": [B, T_v, D], "style": [B, D_s]},
                       masks={"visual": [B, T_v] bool}, rates={"visual": 10.0})
    model.generate(conditions, ..., sampling=SamplingConfig(guidance={"visual": 3.0}))
    cache item tensors   "visual", "style", ...   (written by `v2meow-prepare`)
    dataset examples     {"conditions": {...}, "masks": {...}, ...}

so a new input is one config entry plus the code that computes it at prepare time.
Streams with `dropout > 0` are replaced by a learned null embedding for that fraction of
training examples, which is what classifier-free guidance on them needs at inference.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import torch

from v2meow.components import build_dataclass
from v2meow.errors import ConfigError

#: Guidance key that drops every guidable stream at once (V2Meow's unconditional pass).
ALL = "all"

KINDS = ("features", "tokens", "vector", "embedded")
ROUTES = ("encoder", "aligned", "both")


@dataclasses.dataclass(frozen=True)
class Stream:
    """One conditioning stream.

    kind: "features" (`[B, T, size]` at `rate`), "tokens" (`[B, T]` ids < size at `rate`),
    "vector" (`[B, size]`, one position at time 0), "embedded" (`[B, T, width]` already
    projected by a front-end: no input projection).
    """

    name: str
    kind: str
    size: int  # feature dim, or vocabulary size for tokens
    rate: float = 0.0  # frames per second of the training data (time streams); a call may pass others
    dropout: float = 0.0  # P(replace by the null embedding) per training example
    guidable: bool = True  # may be dropped for guidance (False for a stage's main input, e.g. stage 2's semantic tokens)
    route: str = "encoder"  # "encoder" (cross-attended), "aligned" (summed into the decoder inputs at their times), "both"

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").isalnum():
            raise ConfigError(f"condition stream name '{self.name}' must be a plain identifier")
        if self.name == ALL:
            raise ConfigError(f"'{ALL}' is reserved (it names every stream for guidance)")
        if self.kind not in KINDS:
            raise ConfigError(f"condition stream {self.name}: unknown kind '{self.kind}' (known: {', '.join(KINDS)})")
        if self.size < 1:
            raise ConfigError(f"condition stream {self.name}: size must be >= 1, got {self.size}")
        if self.kind != "vector" and self.rate <= 0:
            raise ConfigError(f"condition stream {self.name}: a {self.kind} stream needs a rate > 0")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"condition stream {self.name}: dropout must be in [0, 1), got {self.dropout}")
        if self.route not in ROUTES:
            raise ConfigError(f"condition stream {self.name}: route must be one of {', '.join(ROUTES)}, got '{self.route}'")
        if self.aligned and self.kind not in ("features", "tokens"):
            raise ConfigError(f"condition stream {self.name}: a {self.kind} stream cannot be time-aligned")

    @property
    def encoded(self) -> bool:
        """Read by the encoder (cross-attention)."""
        return self.route in ("encoder", "both")

    @property
    def aligned(self) -> bool:
        """Summed into the decoder inputs at their times (`stages/aligned.py`)."""
        return self.route in ("aligned", "both")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Stream:
        """A stream from a config entry (`{"name": ..., "kind": ..., "size": ..., "rate": ..., "dropout": ...}`)."""
        if not isinstance(d, dict):
            raise ConfigError(f"a condition stream entry must be a mapping, got {d!r}")
        return build_dataclass(cls, d, f"condition stream entry {d}")


def check_unique(streams: Iterable[Stream]) -> list[Stream]:
    out = list(streams)
    names = [s.name for s in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"condition streams declared twice: {', '.join(dup)}")
    return out


def training_drops(streams: list[Stream], conditions: dict[str, torch.Tensor], batch: int, device) -> dict[str, torch.Tensor]:
    """Per-example drop flags `[B]` bool for every stream present with `dropout > 0` (drawn in stream order)."""
    return {s.name: torch.rand(batch, device=device) < s.dropout for s in streams if s.dropout > 0 and s.name in conditions}


def guidance_drop(streams: list[Stream], key: str, batch: int, device, stage: str) -> dict[str, torch.Tensor]:
    """Drop flags of the pass that guidance key `key` compares against: every guidable stream for
    `ALL`, else the named stream alone."""
    guidable = [s.name for s in streams if s.guidable]
    if key == ALL:
        names = guidable
    elif key in guidable:
        names = [key]
    else:
        known = ", ".join([ALL, *guidable]) if guidable else "none"
        raise ConfigError(f"{stage} has no condition '{key}' to guide (its guidable conditions: {known})")
    ones = torch.ones(batch, dtype=torch.bool, device=device)
    return {n: ones for n in names}
