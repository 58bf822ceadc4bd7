"""What every training run shares: the YAML run config, the Trainer, checkpoints, resume.

A run config (`configs/*.yaml`) has the LightningCLI layout, plain data only:

    seed_everything: 0
    out: runs/codec            # checkpoints/, logs/, config.yaml, the exported component
    model: {...}               # the stage's typed training config
    data: {...}                # the stage's typed data config
    trainer: {...}             # keyword arguments of lightning.Trainer (strings, numbers)
    checkpoint: {every_n_train_steps: 1000, keep_all: false}

Lightning `.ckpt` files are for resuming; each embeds the component config under
`checkpoint["v2meow"]` so `v2meow-export` can turn it into a component directory.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any, TypeVar

import yaml

from v2meow.components import build_dataclass
from v2meow.errors import ConfigError, MissingWeightsError
from v2meow.safety import schema

log = logging.getLogger(__name__)

SECTIONS = ("seed_everything", "out", "model", "data", "trainer", "checkpoint", "stop")
LAST = "last.ckpt"
T = TypeVar("T")


def load_run_config(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML run config; unknown top-level sections are a `ConfigError`."""
    path = Path(path)
    try:
        cfg = schema.load_yaml(path.read_text(), str(path))  # nesting and alias expansion bounded
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: not a readable YAML config ({str(e).splitlines()[0]})") from None
    cfg = {} if cfg is None else cfg
    if not isinstance(cfg, dict):
        raise ConfigError(f"{path}: a run config must be a mapping of sections")
    unknown = sorted(set(cfg) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"{path}: unknown section(s) {', '.join(unknown)} (known: {', '.join(SECTIONS)})")
    schema.check_tree(cfg, str(path))
    return cfg


def set_value(cfg: dict[str, Any], dotted: str, value: Any) -> None:
    """`set_value(cfg, "trainer.max_steps", 10)`: assign inside nested sections."""
    *parents, leaf = dotted.split(".")
    node = cfg
    for key in parents:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"cannot set {dotted}: '{key}' is not a section")
    node[leaf] = value


def typed(cls: type[T], values: dict[str, Any] | None, section: str) -> T:
    """Build a config dataclass from a YAML section, naming unknown or bad fields."""
    return build_dataclass(cls, values, section)


@dataclasses.dataclass
class CheckpointConfig:
    every_n_train_steps: int = 1000
    keep_all: bool = False  # False: keep the newest step checkpoint (plus last.ckpt)


@dataclasses.dataclass
class StopConfig:
    """The run config's `stop:` section: end training when the validation loss stops falling.

    After `patience` validations in a row that did not lower the best validation loss (stages:
    `val/loss`; the codec: `val/mel`) by more than `min_delta`, training stops (Lightning's `EarlyStopping`, whose count a resumed run keeps);
    `patience: null` (the default) trains to `trainer.max_steps`."""

    patience: int | None = None  # validations without improvement
    min_delta: float = 0.0  # nats: a smaller fall is no improvement

    def callback(self, monitor: str = "val/loss"):
        """The `EarlyStopping` callback watching `monitor`, or None when off."""
        if self.patience is None:
            return None
        if self.patience < 1 or self.min_delta < 0:
            raise ConfigError(f"stop: patience must be >= 1 and min_delta >= 0, got {self.patience}, {self.min_delta}")
        from lightning.pytorch.callbacks import EarlyStopping

        return EarlyStopping(
            monitor=monitor,
            mode="min",
            patience=self.patience,
            min_delta=self.min_delta,
            check_on_train_epoch_end=False,  # after each validation, which runs every N steps
            verbose=False,
        )


def stop_reason(trainer) -> str:
    """Why a finished fit stopped: "plateau" (the `stop:` rule), "max_steps", or "interrupted"."""
    from lightning.pytorch.callbacks import EarlyStopping

    for cb in trainer.callbacks:
        if isinstance(cb, EarlyStopping) and cb.stopped_epoch > 0:
            return "plateau"
    if 0 < trainer.max_steps <= trainer.global_step:
        return "max_steps"
    return "interrupted"


def build_trainer(
    trainer_cfg: dict[str, Any] | None, out: Path, checkpoint: CheckpointConfig, extra_callbacks: list | None = None
):
    """A `lightning.Trainer` writing checkpoints to `out/checkpoints`, CSV logs to `out/logs`,
    TensorBoard logs to `out/tb` and the loss curves to `out/loss.png` (`plots.LossPlot`, which says
    where both are when training starts), plus `extra_callbacks` (e.g. the codec's monitor)."""
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    from v2meow.training.plots import LossPlot

    kwargs = dict(trainer_cfg or {})
    for forbidden in ("callbacks", "logger", "plugins", "strategy_object"):
        if isinstance(kwargs.get(forbidden), (dict, list)):
            raise ConfigError(f"trainer.{forbidden}: objects cannot be built from a run config")
    # logs/version_N/metrics.csv and tb/version_N/ (TensorBoard), one version per (re)start
    loggers = [CSVLogger(str(out), name="logs"), TensorBoardLogger(str(out), name="tb")]
    ckpt = ModelCheckpoint(
        dirpath=str(out / "checkpoints"),
        filename="step{step:08d}",
        auto_insert_metric_name=False,
        every_n_train_steps=checkpoint.every_n_train_steps,
        save_top_k=-1 if checkpoint.keep_all else 1,
        save_last=True,
    )
    kwargs.setdefault("default_root_dir", str(out))
    try:
        return L.Trainer(
            logger=loggers, callbacks=[ckpt, LossPlot(out, title=out.name), *(extra_callbacks or [])], **kwargs
        )
    except (TypeError, ValueError) as e:
        raise ConfigError(f"trainer: {e}") from None
    except Exception as e:  # lightning's MisconfigurationException and friends
        if type(e).__name__.endswith("MisconfigurationException"):
            raise ConfigError(f"trainer: {e}") from None
        raise


def resolve_ckpt_path(ckpt_path: str | None, out: Path) -> str | None:
    """`last` -> the newest of `out/checkpoints/last.ckpt` / `last-v*.ckpt` if present (else start fresh,
    said in the log); a path must exist."""
    if ckpt_path is None:
        return None
    if ckpt_path == "last":
        last = out / "checkpoints" / LAST
        # Lightning writes last-v1.ckpt, ... instead when a last.ckpt it did not write is in the way
        # (e.g. one copied from another run): the newest of them is the latest state.
        found = [p for p in [last, *last.parent.glob("last-v*.ckpt")] if p.is_file()]
        if found:
            return str(max(found, key=lambda p: p.stat().st_mtime))
        log.warning("no %s yet: starting from scratch", last)
        return None
    if not Path(ckpt_path).is_file():
        raise MissingWeightsError(f"{ckpt_path}: checkpoint to resume from not found")
    from v2meow.safety.safeload import load_torch

    load_torch(ckpt_path, what="checkpoint")  # a file that is not weights only (or TorchScript): one line, before fit
    return ckpt_path


def export_last(trainer, out: Path, name: str) -> Path:
    """Save `out/checkpoints/last.ckpt` and export its component to `out/<name>`; returns that directory.

    Every rank calls `save_checkpoint` (under FSDP that gathers the full state dict, which rank 0
    writes); rank 0 then exports from the saved file, never from the live, possibly sharded,
    module; the other ranks wait for it."""
    from v2meow.training.export import export_checkpoint

    last = out / "checkpoints" / LAST
    trainer.save_checkpoint(str(last), weights_only=False)
    export_dir = out / name
    if trainer.is_global_zero:
        export_checkpoint(last, export_dir)
    trainer.strategy.barrier("v2meow-export")
    return export_dir


def write_resolved_config(cfg: dict[str, Any], out: Path) -> Path:
    """Save the run config actually used (after command-line overrides) as `out/config.yaml`."""
    from v2meow.safety.outputs import atomic_output

    out.mkdir(parents=True, exist_ok=True)
    path = out / "config.yaml"
    with atomic_output(path) as tmp:
        tmp.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def loss_plot(trainer):
    """The run's `plots.LossPlot` callback (`build_trainer` adds one)."""
    from v2meow.training.plots import LossPlot

    return next(cb for cb in trainer.callbacks if isinstance(cb, LossPlot))
