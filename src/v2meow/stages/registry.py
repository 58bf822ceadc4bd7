"""Stage kinds by `model_type`: the one table the pipeline, bundles, training and export look up.

    stage_class("v2meow-maskgit")       # -> MaskGITStage
    load_stage("bundle/<component>")    # a component directory, dispatched on its config.json
    register_stage(MyStage)             # a new kind (e.g. from a plug-in or a test)

A built-in kind is one entry in `_BUILTIN`. A kind that can fill several roles lists them in its
class's `roles` and takes the one of each model from its config's `role` (the parallel
`v2meow-maskgit` stage: coarse or fine).
"""

from __future__ import annotations

import os
from pathlib import Path

from v2meow.components import CONFIG_NAME, read_json_config
from v2meow.errors import ConfigError, MissingWeightsError, UnknownComponentError
from v2meow.stages.ar_coarse import Stage2
from v2meow.stages.ar_fine import Stage3
from v2meow.stages.ar_semantic import Stage1
from v2meow.stages.base import ROLES, Stage
from v2meow.stages.maskgit import MaskGITStage
from v2meow.stages.roles import ROLE

_BUILTIN: tuple[type[Stage], ...] = (Stage1, Stage2, Stage3, MaskGITStage)
_STAGES: dict[str, type[Stage]] = {cls.config_class.model_type: cls for cls in _BUILTIN}


def register_stage(cls: type[Stage]) -> type[Stage]:
    """Add a stage kind under its config's `model_type` (usable as a class decorator)."""
    model_type = cls.config_class.model_type
    if (
        not (isinstance(cls, type) and issubclass(cls, Stage))
        or not set(stage_roles(cls)) <= set(ROLES)
        or not model_type
    ):
        raise ConfigError(f"{cls!r}: a stage kind is a Stage with a role ({', '.join(ROLES)}) and a config model_type")
    if _STAGES.get(model_type, cls) is not cls:
        raise ConfigError(f"stage model_type '{model_type}' is already registered ({_STAGES[model_type].__name__})")
    _STAGES[model_type] = cls
    return cls


def stage_roles(cls: type[Stage]) -> tuple[str, ...]:
    """The roles stage kind `cls` can fill: its `roles` when it lists several (its config's `role` picks), else its `role`."""
    return tuple(getattr(cls, "roles", ()) or (cls.role,))


def serves(cls: type[Stage], role: str) -> bool:
    """Whether stage kind `cls` can fill `role`."""
    return role in stage_roles(cls)


def stage_types() -> list[str]:
    """Every registered stage `model_type`."""
    return list(_STAGES)


def default_stage_type(role: str) -> str:
    """The `model_type` of the built-in stage kind of `role` (`Role.builtin_type`)."""
    if role not in ROLE:
        raise UnknownComponentError(f"unknown stage role '{role}' (roles: {', '.join(ROLES)})")
    return ROLE[role].builtin_type


def stage_class(model_type: str) -> type[Stage]:
    """The stage class of `model_type`; `UnknownComponentError` naming the known ones otherwise."""
    if model_type not in _STAGES:
        raise UnknownComponentError(f"unknown stage model_type '{model_type}' (known: {', '.join(_STAGES)})")
    return _STAGES[model_type]


def load_stage(directory: str | os.PathLike, role: str | None = None, map_location: str = "cpu") -> Stage:
    """The stage in a component directory, built by its `model_type`'s class; with `role`, it must fill that role."""
    path = Path(directory) / CONFIG_NAME
    if not path.is_file():
        raise MissingWeightsError(f"{directory}: not a component directory (no {CONFIG_NAME})")
    cls = stage_class(read_json_config(path).get("model_type"))
    if role is not None and not serves(cls, role):
        raise ConfigError(
            f"{directory}: a {cls.config_class.model_type} is a {' or '.join(stage_roles(cls))} stage, not a {role} stage"
        )
    stage = cls.from_pretrained(directory, map_location=map_location)
    if role is not None and stage.role != role:
        raise ConfigError(
            f"{directory}: this {cls.config_class.model_type} is a {stage.role} stage (its config's role), not a {role} stage"
        )
    return stage
