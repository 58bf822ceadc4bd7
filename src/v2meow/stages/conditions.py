"""Named conditioning streams: what a stage reads besides the tokens it predicts.

A stage's config declares its streams (`Stage1Config.streams()`: `visual`, `style`, and any
`extra_streams` entries; a stage's own token input, such as stage 3's `coarse`, is a stream
that cannot be guided). A stream's value travels as one `Condition` (tensor, mask, rate, drop
flags), and everything uses the same names:

    model.forward(..., conditions={"visual": Condition(v [B, T_v, D], mask [B, T_v], rate=10.0),
                                   "style": Condition(s [B, D_s])})
    model.generate(conditions=..., length=..., sampling=SamplingConfig(guidance={"visual": 3.0}))
    cache item tensors   "visual", "style", ...   (written by `v2meow-prepare`)
    dataset examples     {"conditions": {name: Condition}, ...}   (`data.datasets.collate` batches them)

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

KINDS = ("features", "tokens", "vector", "embedded", "codes")
ROUTES = ("encoder", "aligned", "both", "prefix")


@dataclasses.dataclass(frozen=True)
class Stream:
    """One conditioning stream.

    kind: "features" (`[B, T, size]` at `rate`), "tokens" (`[B, T]` ids < size at `rate`),
    "vector" (`[B, size]`, one position at time 0), "embedded" (`[B, T, width]` already
    projected by a front-end: no input projection), "codes" (`[B, K, T]` ids < size of K
    codebooks at `rate`).

    route "prefix": the stage's own token input, read by its decoder before the targets
    (stage 3's coarse codes); such a stream is never dropped, so it cannot be guidable.
    """

    name: str
    kind: str
    size: int  # feature dim, or vocabulary size for tokens
    rate: float = 0.0  # frames per second of the training data (time streams); a call may pass others
    dropout: float = 0.0  # P(replace by the null embedding) per training example
    guidable: bool = (
        True  # may be dropped for guidance (False for a stage's main input, e.g. stage 2's semantic tokens)
    )
    route: str = "encoder"  # "encoder" (cross-attended), "aligned" (summed into the decoder inputs at their times), "both", "prefix"

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
            raise ConfigError(
                f"condition stream {self.name}: route must be one of {', '.join(ROUTES)}, got '{self.route}'"
            )
        if self.route == "prefix" and (self.guidable or self.kind not in ("tokens", "codes")):
            raise ConfigError(
                f"condition stream {self.name}: a prefix stream is tokens or codes, and cannot be guidable"
            )
        if self.kind == "codes" and self.route != "prefix":
            raise ConfigError(f"condition stream {self.name}: codes are read as a decoder prefix only (route: prefix)")
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


@dataclasses.dataclass
class Condition:
    """The value of one stream for a batch.

    value: `[B, T, D]` features, `[B, T]` tokens, `[B, D]` a vector, `[B, K, T]` codes.
    mask: `[B, T]` bool, True = real position (None: all real).
    rate: frames per second of `value` (None: the stream's declared rate).
    drop: `[B]` bool, True = replaced by the stream's null embedding (condition dropout, guidance).
    """

    value: torch.Tensor
    mask: torch.Tensor | None = None
    rate: float | None = None
    drop: torch.Tensor | None = None

    def dropped(self, flags: torch.Tensor | None) -> Condition:
        """This condition with drop flags `[B]` or-ed in (None: unchanged)."""
        if flags is None:
            return self
        return dataclasses.replace(self, drop=flags if self.drop is None else self.drop | flags)


def as_conditions(conditions: dict[str, Condition | torch.Tensor] | None) -> dict[str, Condition]:
    """Conditions by name; a bare tensor is a `Condition` of it (no mask, the declared rate)."""
    return {k: v if isinstance(v, Condition) else Condition(v) for k, v in (conditions or {}).items()}


def with_drops(conditions: dict[str, Condition], drops: dict[str, torch.Tensor]) -> dict[str, Condition]:
    """`conditions` with the drop flags `drops` (name -> `[B]` bool) or-ed in; names not present are ignored."""
    return {k: c.dropped(drops.get(k)) for k, c in conditions.items()}


def check_unique(streams: Iterable[Stream]) -> list[Stream]:
    out = list(streams)
    names = [s.name for s in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"condition streams declared twice: {', '.join(dup)}")
    return out


def training_drops(
    streams: list[Stream], conditions: dict[str, Condition], batch: int, device
) -> dict[str, torch.Tensor]:
    """Per-example drop flags `[B]` bool for every stream present with `dropout > 0` (drawn in stream order)."""
    return {
        s.name: torch.rand(batch, device=device) < s.dropout for s in streams if s.dropout > 0 and s.name in conditions
    }


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
