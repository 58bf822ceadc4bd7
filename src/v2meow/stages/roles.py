"""The roles of the chain as data: each step's stage number, its component name, the stream it writes,
its output rate and shape, and its defaults. The pipeline, the loader, the compatibility checks, the
bundle's generation settings, the bundle tool and the registry read this table instead of naming stages.

    video ─► semantic (stage 1) ─► coarse (stage 2) ─► fine (stage 3) ─► codec

What a stage *reads* is its own declaration (`StageConfig.streams()`); what the chain can hand it
is every stream written before it plus the video's (`pipelines/chain.py`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Role:
    name: str  # the role, and the name of the stream it writes
    number: int  # its stage number: "stage 1", in messages and progress bars
    key: str  # its component's name: the bundle's folder, `v2meow-train KEY`, `v2meow-bundle --KEY`
    writes: str  # what it makes, for help texts
    rate_field: str  # the stage config field holding its output frame rate
    levels_field: str | None  # the config field with its codebooks (output [S, K, T]); None: tokens [S, T]
    temperature: float  # V2Meow's sampling temperature for it (the paper's defaults)
    context_seconds: float  # default overlap between generation windows, read as the next window's prompt
    builtin_type: str  # the `model_type` of its built-in autoregressive kind, as bundles store it

    @property
    def label(self) -> str:
        return f"stage {self.number}"


ROLE_SPECS: tuple[Role, ...] = (
    Role(
        "semantic", 1, "stage1", "visual features -> semantic tokens", "semantic_rate", None, 1.0, 4.0, "v2meow-stage1"
    ),
    Role(
        "coarse",
        2,
        "stage2",
        "semantic tokens -> coarse codec tokens",
        "codec_rate",
        "num_coarse",
        0.95,
        4.0,
        "v2meow-stage2",
    ),
    Role("fine", 3, "stage3", "coarse -> fine codec tokens", "codec_rate", "num_fine", 0.4, 1.0, "v2meow-stage3"),
)
#: The pipeline's steps, in order.
ROLES: tuple[str, ...] = tuple(r.name for r in ROLE_SPECS)
ROLE: dict[str, Role] = {r.name: r for r in ROLE_SPECS}
#: The stages' component names, in order.
KEYS: tuple[str, ...] = tuple(r.key for r in ROLE_SPECS)
KEY: dict[str, Role] = {r.key: r for r in ROLE_SPECS}


def role_of(name: str) -> Role:
    """The role named `name`, by role (`ROLES`) or by its component name (`KEYS`)."""
    role = ROLE.get(name) or KEY.get(name)
    if role is None:
        from v2meow.errors import ConfigError

        raise ConfigError(f"unknown stage '{name}' (roles: {', '.join(ROLES)}; or {', '.join(KEYS)})")
    return role
