"""Component directories: `config.json` + `model.safetensors`, never a pickle.

A component is an `nn.Module` built from a typed config dataclass. Subclass
`ComponentConfig` (set `model_type`) and `Component` (set `config_class`), then

    model.save_pretrained("out/codec")          # writes config.json + model.safetensors
    model = MyComponent.from_pretrained("out/codec")

`config.json` holds `model_type`, `format_version`, the package version and every
field of the config. Configs change shape over time by bumping `format_version` and
adding a `migrate` step, never by silently dropping keys.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from v2meow import __version__
from v2meow.errors import ConfigError, MissingWeightsError
from v2meow.safety import schema
from v2meow.safety.outputs import atomic_output
from v2meow.safety.validation import dataclass_values

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"

C = TypeVar("C", bound="ComponentConfig")
T = TypeVar("T")
M = TypeVar("M", bound="Component")


@dataclasses.dataclass
class ComponentConfig:
    """Base of every component config: a plain dataclass of JSON-friendly fields."""

    model_type: ClassVar[str] = ""
    format_version: ClassVar[int] = 1

    def to_dict(self) -> dict[str, Any]:
        """All fields plus `model_type`, `format_version` and `v2meow_version`."""
        d = dataclasses.asdict(self)
        return {
            "model_type": self.model_type,
            "format_version": self.format_version,
            "v2meow_version": __version__,
            **d,
        }

    @classmethod
    def migrate(cls, d: dict[str, Any], from_version: int) -> dict[str, Any]:
        """Upgrade a config dict written with an older `format_version` (override per class)."""
        raise ConfigError(
            f"{cls.model_type}: cannot read format_version {from_version} (this version reads {cls.format_version})"
        )

    @classmethod
    def from_dict(cls: type[C], d: dict[str, Any]) -> C:
        """Build from `to_dict` output; unknown or missing fields are a `ConfigError`."""
        d = dict(d)
        model_type = d.pop("model_type", cls.model_type)
        if model_type != cls.model_type:
            raise ConfigError(f"config is for model_type '{model_type}', expected '{cls.model_type}'")
        version = d.pop("format_version", cls.format_version)
        if isinstance(version, bool) or not isinstance(version, int):
            raise ConfigError(f"{cls.model_type}: format_version must be a whole number, got {version!r}")
        d.pop("v2meow_version", None)
        if version != cls.format_version:
            d = cls.migrate(d, version)
        dataclass_values(cls, d, cls.model_type)
        return build_dataclass(cls, d, cls.model_type)

    def save(self, path: str | os.PathLike) -> None:
        with atomic_output(path) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls: type[C], path: str | os.PathLike) -> C:
        try:
            return cls.from_dict(read_json_config(path))
        except ConfigError as e:
            message = str(e)
            raise ConfigError(message if message.startswith(str(path)) else f"{path}: {message}") from None


def read_json_config(path: str | os.PathLike) -> dict[str, Any]:
    """A JSON object from `path`: `MissingWeightsError` when the file is missing, `ConfigError`
    (one line naming the file) when it is unreadable, not JSON or not an object."""
    path = Path(path)
    if not path.is_file():
        raise MissingWeightsError(f"{path}: not found")
    d = schema.load_json(path)  # size and nesting checked before parsing
    if not isinstance(d, dict):
        raise ConfigError(f"{path}: config must be a JSON object")
    return d


def build_dataclass(cls: type[T], values: dict[str, Any] | None, label: str) -> T:
    """`cls(**values)` for a config dataclass; unknown or bad fields are a `ConfigError` naming them."""
    values = dict(values or {})
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(f"{label}: unknown config field(s) {', '.join(unknown)} (known: {', '.join(sorted(names))})")
    dataclass_values(cls, values, label)
    schema.check_tree(values, label)  # finite numbers, known fields in range: before anything is built
    try:
        return cls(**values)
    except TypeError as e:
        raise ConfigError(f"{label}: {e}") from None


class Component(nn.Module):
    """An `nn.Module` with a typed config that saves to and loads from a component directory."""

    config_class: ClassVar[type[ComponentConfig]] = ComponentConfig

    def __init__(self, config: ComponentConfig):
        super().__init__()
        self.config = config

    def save_pretrained(self, directory: str | os.PathLike) -> Path:
        """Write `config.json` and `model.safetensors` (each atomically) into `directory`."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.config.save(directory / CONFIG_NAME)
        state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        with atomic_output(directory / WEIGHTS_NAME) as tmp:
            metadata = {"model_type": self.config.model_type, "format_version": str(self.config.format_version)}
            save_file(_untie(state), str(tmp), metadata=metadata)
        return directory

    @classmethod
    def from_pretrained(
        cls: type[M], directory: str | os.PathLike, map_location: str | torch.device = "cpu", **build: Any
    ) -> M:
        """Build from `directory/config.json` (`cls(config, **build)`) and load `directory/model.safetensors`
        strictly."""
        directory = Path(directory)
        if not (directory / CONFIG_NAME).is_file():
            raise MissingWeightsError(f"{directory}: not a component directory (no {CONFIG_NAME})")
        config = cls.config_class.load(directory / CONFIG_NAME)
        check_before_build(cls, config, directory / WEIGHTS_NAME, **build)
        model = cls(config, **build)
        model.load_weights(directory / WEIGHTS_NAME, map_location=map_location)
        return model

    def load_weights(self, path: str | os.PathLike, map_location: str | torch.device = "cpu") -> None:
        """Load a safetensors state dict (migrated from the format version it was written with);
        a key or shape mismatch is a `ConfigError` naming it."""
        state = read_weights(path, map_location)
        version = weights_format_version(path)
        if version != self.config.format_version:
            state = self.migrate_state(state, version)
        load_state_strict(self, state, source=str(path))

    @classmethod
    def migrate_state(cls, state: dict[str, torch.Tensor], from_version: int) -> dict[str, torch.Tensor]:
        """Upgrade a state dict written with an older `format_version` (override with the renames
        of each version step); the default keeps it as it is."""
        return state


#: Storage dtypes a component's float weights may be cast to (`cast_weights`); they load into float32 models.
STORAGE_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def cast_weights(path: str | os.PathLike, dtype: str) -> None:
    """Rewrite the safetensors file `path` (atomically) with its float tensors stored as `dtype`
    (a `STORAGE_DTYPES` name), keeping its metadata: half the bytes for float16. A model loads
    them into its float32 parameters (`load_state_dict` casts); integer buffers are kept."""
    if dtype not in STORAGE_DTYPES:
        raise ConfigError(f"weights dtype must be one of {', '.join(STORAGE_DTYPES)}, got '{dtype}'")
    target = STORAGE_DTYPES[dtype]
    state = read_weights(path)
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata()
    cast = {k: (v.to(target) if v.is_floating_point() else v).contiguous() for k, v in state.items()}
    check_finite(cast, f"{path} as {dtype}")  # a value beyond float16's range would become inf
    with atomic_output(path) as tmp:
        save_file(cast, str(tmp), metadata=metadata)


def read_weights(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """A safetensors state dict; a missing file is `MissingWeightsError`, a corrupted one `ConfigError`."""
    path = Path(path)
    if not path.is_file():
        raise MissingWeightsError(f"{path}: weights file not found")
    schema.safetensors_header(path)  # every tensor inside the file
    try:
        state = load_file(str(path), device=str(map_location))
    except (SafetensorError, OSError) as e:
        raise ConfigError(f"{path}: corrupted or unreadable weights ({e})") from None
    check_finite(state, str(path))
    return state


def check_finite(state: dict[str, torch.Tensor], source: str) -> None:
    """`ConfigError` naming the first tensor holding NaN or inf: such weights load but cannot be right."""
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ConfigError(
                f"{source}: tensor {name} holds NaN or inf values; these weights are broken (re-export or re-download them)"
            )


class _MetaLayout(torch.overrides.TorchFunctionMode):
    """While a model is laid out on the meta device: random initialisers and window functions give
    empty tensors (their values are never read there). On the meta device those are Python
    reference kernels whose first call imports torch._dynamo: 0.9 s of a generation's start-up on
    this 2-core machine (`python -X importtime`)."""

    INPLACE = {
        torch.Tensor.normal_, torch.Tensor.uniform_, torch.Tensor.random_, torch.Tensor.bernoulli_,
        nn.init.normal_, nn.init.uniform_, nn.init.trunc_normal_,
    }  # fmt: skip
    RANDOM = {torch.randn, torch.rand}
    WINDOWS = {torch.hann_window, torch.hamming_window, torch.blackman_window, torch.bartlett_window}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in self.INPLACE:
            return args[0] if args else kwargs["tensor"]  # nn.init's functions take `tensor=` too
        if func in self.RANDOM:
            kwargs.pop("generator", None)
            return torch.empty(*args, **kwargs)
        if func in self.WINDOWS:
            return torch.empty(args[0], dtype=kwargs.get("dtype"), device=kwargs.get("device"))
        return func(*args, **kwargs)


def check_before_build(cls: type[Component], config: ComponentConfig, weights: str | os.PathLike, **build: Any) -> None:
    """Before a component is built (`cls(config, **build)`): its weights file holds float tensors of
    the shapes its config implies, and the model fits in memory. The model is laid out on the meta
    device (no memory, no random initialisation); a class that cannot be built there is checked by
    the header alone."""
    weights = Path(weights)
    if not weights.is_file():
        return  # load_weights names the missing file
    header = schema.safetensors_header(weights)
    try:
        with torch.device("meta"), _MetaLayout():
            probe = cls(config, **build)
    except ConfigError:
        raise
    except Exception:
        return
    own = {k: tuple(v.shape) for k, v in probe.state_dict().items()}
    needed = sum(math.prod(s) for s in own.values()) * 4
    schema.check_memory(needed, f"{weights.parent / CONFIG_NAME}", config.to_dict())
    shapes = {k: torch.empty(s, device="meta") for k, (_, s) in header.items()}
    version = weights_format_version(weights)
    if version != config.format_version:
        shapes = cls.migrate_state(shapes, version)
    floats = {k for k, v in probe.state_dict().items() if v.is_floating_point()}
    stored = dict(zip(header, (d for d, _ in header.values())))
    renamed = dict(zip(shapes, stored.values())) if len(shapes) == len(stored) else {}
    for name in sorted(floats & set(renamed)):
        if renamed[name] not in schema.FLOAT_DTYPES:
            raise ConfigError(
                f"{weights}: tensor {name} is stored as {renamed[name]}; a float parameter must be stored "
                "as F16, BF16, F32 or F64"
            )
    problems = state_problems(own, {k: tuple(v.shape) for k, v in shapes.items()})
    if problems:
        raise ConfigError(f"{weights}: weights do not match the config: " + "; ".join(problems))


def weights_format_version(path: str | os.PathLike) -> int:
    """The component `format_version` a weights file was written with (1 for files that predate the stamp)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return int((f.metadata() or {}).get("format_version", 1))
    except (SafetensorError, OSError, ValueError) as e:
        raise ConfigError(f"{path}: corrupted or unreadable weights ({e})") from None


def load_state_strict(module: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """`load_state_dict(strict=True)` with one readable error naming what disagrees."""
    own_state = module.state_dict()
    own = {k: tuple(v.shape) for k, v in own_state.items()}
    problems = state_problems(own, {k: tuple(v.shape) for k, v in state.items()})
    cast = [
        k for k, v in own_state.items() if k in state and v.is_floating_point() and not state[k].is_floating_point()
    ]
    if cast:
        problems.append(f"{_few(cast)} stored as {state[cast[0]].dtype} (a float parameter must be stored as a float)")
    if problems:
        raise ConfigError(f"{source}: weights do not match the config: " + "; ".join(problems))
    module.load_state_dict(state, strict=True)


def state_problems(own: dict[str, tuple[int, ...]], state: dict[str, tuple[int, ...]]) -> list[str]:
    """What disagrees between a module's tensor shapes and a state dict's: missing, unexpected, shapes."""
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k} {state[k]} vs {v}" for k, v in own.items() if k in state and state[k] != v]
    problems = []
    if missing:
        problems.append(f"missing {_few(missing)}")
    if unexpected:
        problems.append(f"unexpected {_few(unexpected)}")
    if shapes:
        problems.append(f"shape mismatch {_few(shapes)} (weights vs config)")
    return problems


def _few(items: list[str], n: int = 3) -> str:
    more = f" and {len(items) - n} more" if len(items) > n else ""
    return ", ".join(items[:n]) + more


def _untie(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """safetensors refuses shared storage; clone tensors that alias an earlier one."""
    seen: set[int] = set()
    out = {}
    for k, v in state.items():
        ptr = v.untyped_storage().data_ptr() if v.numel() else -1
        out[k] = v.clone() if ptr in seen and ptr != -1 else v
        seen.add(ptr)
    return out
