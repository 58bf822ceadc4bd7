"""Train the stage of one role of the chain (`stages.roles`: `v2meow-train KEY`, `roles.KEYS`) from a run
config (`configs/stage*.yaml`) over a prepared cache.

The data-dependent fields of the stage config (feature dim and rate, semantic vocabulary
and rate, codebooks and codec rate, style dim) are read from the cache manifest, so a
config names only sizes and training settings; a field set in the YAML that disagrees
with the cache is an error.

With `data.val_split` set, the loss on those held-out items is measured every
`trainer.val_check_interval` steps (default 250) and at the last step (`StageModule`). The
unigram and bigram entropies of the training targets are measured first (`out/entropy.json`,
reference lines in `loss.png`), and the exported component's config.json records the run under
`"training"` (`record.training_record`).
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader

from v2meow.components import (
    CONFIG_NAME,
    Component,
    load_state_strict,
    read_json_config,
)
from v2meow.data.cache import CacheReader
from v2meow.data.datasets import StageDataset, collate
from v2meow.data.sampling import ResumableSampler
from v2meow.errors import ConfigError, MissingWeightsError
from v2meow.safety import schema
from v2meow.stages.base import Stage
from v2meow.stages.registry import default_stage_type, serves, stage_class, stage_roles
from v2meow.stages.roles import role_of
from v2meow.training import record, runner
from v2meow.training.stages import StageModule

# Fields that may differ between a checkpoint and the model it initialises (not architecture).
NON_ARCH_FIELDS = {
    "dropout",
    "cond_dropout",
    "style_dropout",
    "window_seconds",
    "feature_rate",
    "contrastive_weight",
    "contrastive_temperature",
    "training",
    "decode_iterations",
    "full_mask",
}


@dataclasses.dataclass
class StageTrainingConfig:
    model_type: str | None = None  # the stage kind (stages/registry.py); default: the built-in kind of the stage's role
    preset: str = "small"  # paper | small | debug
    fields: dict[str, Any] = dataclasses.field(default_factory=dict)  # stage config overrides
    init_from: str | None = None  # component dir or .ckpt to fine-tune from
    lr: float = 3e-4
    weight_decay: float = 0.01
    warmup_steps: int = 500
    schedule_steps: int | None = None  # the cosine horizon; null: trainer.max_steps (set it to stop a schedule early)
    betas: tuple[float, float] = (0.9, 0.95)
    ema_decay: float | None = None
    beat_weights: bool = False  # VMAs: weight the token loss by the cache's beat weights (stages 1-2)


@dataclasses.dataclass
class StageDataConfig:
    cache: str = "data/cache"
    crop_seconds: float | None = None  # default: the stage's window_seconds (10 s; 3 s for stage 3)
    batch_size: int = 16
    num_workers: int = 2
    train_split: str | None = "train"
    val_split: str | None = (
        None  # held-out items (e.g. valid: whole tracks no training item comes from); null: no validation
    )
    audio_only: bool = (
        False  # stage 1: also train on items without video (visual stream dropped; e.g. for a rhythm channel)
    )
    disagree: float = 0.0  # stage 1: P(a stretched copy with its clip's picture and rhythm; datasets.StageDataset)


def data_fields(stage: str, manifest: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """Stage config fields implied by the cache manifest."""
    m, role = manifest, role_of(stage).name
    if role == "semantic":
        return dict(
            feature_dim=m["feature_dim"],
            feature_rate=m["feature_rate"],
            style_dim=m.get("style_dim") or 0,
            semantic_vocab=m["semantic_vocab"],
            semantic_rate=m["semantic_rate"],
        )
    num_coarse = m.get("num_coarse") or fields.get("num_coarse")  # the codec's split, when the cache names it
    if num_coarse is None:
        raise ConfigError(f"{stage}: set model.fields.num_coarse (the cache manifest does not name it)")
    codec = dict(codebook_size=m["codebook_size"], codec_rate=m["codec_rate"], num_coarse=num_coarse)
    if role == "coarse":
        visual = fields.get("variant") == "encdec"
        return dict(
            codec,
            semantic_vocab=m["semantic_vocab"],
            semantic_rate=m["semantic_rate"],
            feature_dim=m["feature_dim"] if visual else 0,
            feature_rate=m.get("feature_rate") or 1.0,
        )
    return dict(codec, num_fine=m["num_codebooks"] - num_coarse)


def build_stage_config(stage: str, model_cfg: StageTrainingConfig, manifest: dict[str, Any], cache: str = "the cache"):
    """The stage config: preset, then the YAML's fields, then the data-dependent fields of the manifest.

    A data-dependent field set in the YAML must equal the manifest's value: a different one is
    a `ConfigError` naming both (the manifest always wins, never silently). Only the fields the
    stage's config declares are implied; a kind that fills several roles gets the trained one (`role`)."""
    config_cls = stage_model(stage, model_cfg).config_class
    schema.require_fields(manifest, schema.MANIFEST_FIELDS[role_of(stage).name], f"{cache}/manifest.json")
    declared = {f.name for f in dataclasses.fields(config_cls)}
    implied = {k: v for k, v in data_fields(stage, manifest, model_cfg.fields).items() if k in declared}
    if "role" in declared:
        implied["role"] = role_of(stage).name
    for key, value in model_cfg.fields.items():
        if key in implied and not _equal(value, implied[key]):
            raise ConfigError(
                f"model.fields.{key}={value} in the config disagrees with {cache}'s manifest ({key}={implied[key]}): "
                f"remove it from the config (data-dependent fields come from the manifest) or set it to {implied[key]}"
            )
    return config_cls.preset(model_cfg.preset, **{**model_cfg.fields, **implied})


def stage_model(stage: str, model_cfg: StageTrainingConfig) -> type[Stage]:
    """The stage class a run trains: `model.model_type`, or the built-in kind of the stage's role; it must fill that role."""
    role = role_of(stage).name
    cls = stage_class(model_cfg.model_type or default_stage_type(role))
    if not serves(cls, role):
        raise ConfigError(
            f"model.model_type {model_cfg.model_type} is a {' or '.join(stage_roles(cls))} stage; {stage} trains the {role} stage"
        )
    return cls


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return abs(float(a) - float(b)) < 1e-9
    return a == b


def _source_config_and_state(path: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    if path.is_dir():
        from safetensors.torch import load_file

        if not (path / CONFIG_NAME).is_file():
            raise MissingWeightsError(f"--init-from {path}: not a component directory")
        return read_json_config(path / CONFIG_NAME), load_file(str(path / "model.safetensors"))
    from v2meow.training.export import component_state, read_checkpoint

    ckpt = read_checkpoint(path)
    return ckpt["v2meow"]["component_config"], component_state(ckpt)


def init_from(model: Component, source: str) -> None:
    """Load weights of a released component or `.ckpt` into `model`, naming any config field that differs."""
    path = Path(source)
    if not path.exists():
        raise MissingWeightsError(f"--init-from {source}: not found")
    src_cfg, state = _source_config_and_state(path)
    ours = model.config.to_dict()
    if src_cfg.get("model_type") != ours["model_type"]:
        raise ConfigError(
            f"--init-from {source}: holds a {src_cfg.get('model_type')}, this run trains a {ours['model_type']}"
        )
    skip = NON_ARCH_FIELDS | {"v2meow_version", "format_version"}
    diff = [k for k in ours if k not in skip and k in src_cfg and src_cfg[k] != ours[k]]
    if diff:
        detail = ", ".join(f"{k} ({src_cfg[k]} vs {ours[k]})" for k in diff)
        raise ConfigError(f"--init-from {source}: config field(s) differ: {detail}")
    version = int(src_cfg.get("format_version", 1))
    if version != model.config.format_version:  # weights of an older layout (e.g. stage format 1's ffn.net.*)
        state = model.migrate_state(state, version)
    load_state_strict(model, state, source=source)


def train_stage(stage: str, cfg: dict[str, Any], ckpt_path: str | None = None) -> Path:
    """Run the training of the stage of role `stage` (a role, or its component name: `stages.roles.role_of`);
    returns the exported component directory `out/<component name>`."""
    stage = role_of(stage).key
    model_cfg = runner.typed(StageTrainingConfig, cfg.get("model"), "model")
    data_cfg = runner.typed(StageDataConfig, cfg.get("data"), "data")
    ckpt_cfg = runner.typed(runner.CheckpointConfig, cfg.get("checkpoint"), "checkpoint")
    stop = runner.typed(runner.StopConfig, cfg.get("stop"), "stop").callback()
    out = Path(cfg.get("out") or f"runs/{stage}")
    seed = int(cfg.get("seed_everything", 0))
    L.seed_everything(seed, workers=True, verbose=False)
    record.check_splits(data_cfg.train_split, data_cfg.val_split)
    cache = CacheReader(data_cfg.cache)
    config = build_stage_config(stage, model_cfg, cache.manifest, data_cfg.cache)
    reader = record.split_reader(cache, data_cfg.train_split, "data.train_split")
    val_reader = record.split_reader(cache, data_cfg.val_split, "data.val_split") if data_cfg.val_split else None
    model = stage_model(stage, model_cfg)(config)
    if model_cfg.init_from:
        init_from(model, model_cfg.init_from)
    trainer_cfg = dict(cfg.get("trainer") or {})
    max_steps = int(trainer_cfg.get("max_steps", 100_000))
    module = StageModule(
        model,
        model_cfg.lr,
        model_cfg.weight_decay,
        model_cfg.warmup_steps,
        model_cfg.schedule_steps or max_steps,
        tuple(model_cfg.betas),
        model_cfg.ema_decay,
        seed=seed,
    )
    loaders = _loaders(stage, config, data_cfg, reader, val_reader, model_cfg.beat_weights, seed)
    loaders[0].sampler.progress = module.batches_trained  # where each pass starts (a resumed run)
    if len(loaders) == 1:
        trainer_cfg.setdefault("limit_val_batches", 0)
    else:  # every N steps, not once per epoch (an epoch of a small cache is a few steps, of a large one hours)
        trainer_cfg.setdefault("val_check_interval", record.VAL_CHECK_INTERVAL)
    if isinstance(trainer_cfg.get("val_check_interval"), int):  # counted over the run, not within an epoch
        trainer_cfg.setdefault("check_val_every_n_epoch", None)
    trainer_cfg.setdefault("gradient_clip_val", 1.0)
    if stop is not None and len(loaders) == 1:
        raise ConfigError("stop: the plateau rule watches the validation loss; name a data.val_split")
    trainer = runner.build_trainer(trainer_cfg, out, ckpt_cfg, [stop] if stop else None)
    resume = runner.resolve_ckpt_path(ckpt_path, out)
    runner.write_resolved_config(cfg, out)
    entropies = record.target_entropies(
        loaders[0].dataset.reader,
        stage,
        getattr(config, "num_coarse", 0),
        getattr(config, "num_fine", None),
        out,
        data_cfg.train_split,
    )
    plot = runner.loss_plot(trainer)
    plot.references = record.references(entropies)
    module.save_hyperparameters(
        {"target_entropy_unigram": entropies.get("unigram"), "target_entropy_bigram": entropies.get("bigram")}
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        # the training order resumes from the global step (data.sampling), not from a loader state
        warnings.filterwarnings("ignore", message=".*your dataloader is not resumable.*")
        trainer.fit(module, *loaders, ckpt_path=resume, weights_only=True)
    module.model.config.training = record.training_record(
        module, trainer, entropies, data_cfg.train_split, data_cfg.val_split
    ) | {"stopped": runner.stop_reason(trainer)}
    return runner.export_last(trainer, out, stage)


def _loaders(
    stage: str,
    config,
    data: StageDataConfig,
    reader: CacheReader,
    val_reader: CacheReader | None = None,
    beat_weights: bool = False,
    seed: int = 0,
) -> list[DataLoader]:
    crop = data.crop_seconds or config.window_seconds
    kwargs = dict(
        num_coarse=getattr(config, "num_coarse", 0),
        num_fine=getattr(config, "num_fine", None),
        streams=config.streams(),
        beat_weights=beat_weights,
        long_term_steps=config.long_term_steps if getattr(config, "long_term", False) else 0,
        visual_optional=data.audio_only and role_of(stage).name == "semantic",
    )
    train = StageDataset(reader, stage, crop, split=data.train_split, disagree=data.disagree, **kwargs)
    loader = dict(
        batch_size=data.batch_size,
        num_workers=data.num_workers,
        persistent_workers=data.num_workers > 0,
        collate_fn=collate,
    )
    sampler = ResumableSampler(len(train), seed, data.batch_size)  # a resumed run sees the batches it would have
    loaders = [DataLoader(train, sampler=sampler, drop_last=len(train) >= data.batch_size, **loader)]
    if val_reader is not None:  # crops from the start of each item: the same batches at every check
        val = StageDataset(val_reader, stage, crop, split=data.val_split, random_crop=False, **kwargs)
        loaders.append(DataLoader(val, **loader))
    return loaders
