"""Training of the SoundStream codec: a LightningModule (generator + discriminator) and its run.

One training step (manual optimisation, both AdamW):

1. the codec reconstructs the batch through its residual VQ (quantizer dropout, EMA codebooks);
2. the multi-scale STFT discriminator takes a hinge-loss step on real vs reconstructed audio;
3. the codec takes a step on mel reconstruction + commitment, plus, once
   `disc_warmup_steps` have passed, hinge adversarial + feature-matching losses.

`trainer.global_step` counts codec (generator) steps, i.e. batches: the discriminator's
optimizer step is taken through the strategy directly so that Lightning does not count
it, and `max_steps`, checkpoint intervals and resume all mean batches.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F

from v2meow.tokenizers.acoustic.discriminator import DiscriminatorConfig, MultiScaleSTFTDiscriminator
from v2meow.tokenizers.acoustic.losses import (
    MultiScaleMelLoss,
    default_windows,
    feature_matching_loss,
    hinge_discriminator_loss,
    hinge_generator_loss,
)
from v2meow.tokenizers.acoustic.soundstream import SoundStream, SoundStreamConfig
from v2meow.training import runner
from v2meow.training.audio_data import AudioDataConfig, AudioDataModule

log = logging.getLogger(__name__)


@dataclass
class CodecTrainingConfig:
    """The `model:` section of `configs/codec.yaml`: architecture, losses, optimisation."""

    preset: str = "small"  # SoundStream preset: debug | small | paper
    codec: dict[str, Any] = field(default_factory=dict)  # overrides of the preset's fields
    discriminator: dict[str, Any] | None = field(default_factory=dict)  # DiscriminatorConfig fields; null: no GAN
    init_from: str | None = None  # a codec component dir or a codec .ckpt; its architecture wins
    mel_windows: tuple[int, ...] | None = None  # None: default_windows(sample_rate)
    n_mels: int | None = 64  # null: linear-frequency STFT loss
    lambda_rec: float = 1.0
    lambda_wave: float = 0.1  # L1 on the waveform
    lambda_commit: float = 1.0
    lambda_adv: float = 3.0  # EnCodec's weights (without its loss balancer)
    lambda_feat: float = 3.0
    disc_warmup_steps: int = 2000  # steps of discriminator-only training before adversarial losses reach the codec
    lr: float = 3e-4
    lr_disc: float = 3e-4
    betas: tuple[float, float] = (0.5, 0.9)
    weight_decay: float = 1e-4
    grad_clip: float | None = 1.0

    def __post_init__(self) -> None:
        self.betas = tuple(float(b) for b in self.betas)
        if self.mel_windows is not None:
            self.mel_windows = tuple(int(w) for w in self.mel_windows)


class CodecModule(L.LightningModule):
    """Trains a built `SoundStream` (and discriminator); the codec is `self.codec`."""

    COMPONENT_PREFIX = "codec."

    def __init__(self, codec: SoundStream, discriminator: MultiScaleSTFTDiscriminator | None, config: CodecTrainingConfig):
        super().__init__()
        self.automatic_optimization = False
        self.codec, self.discriminator, self.config = codec, discriminator, config
        windows = config.mel_windows or default_windows(codec.sample_rate)
        self.mel_loss = MultiScaleMelLoss(codec.sample_rate, windows=windows, n_mels=config.n_mels)

    def configure_optimizers(self):
        c = self.config
        opt_g = torch.optim.AdamW(self.codec.parameters(), lr=c.lr, betas=c.betas, weight_decay=c.weight_decay)
        if self.discriminator is None:
            return opt_g
        opt_d = torch.optim.AdamW(self.discriminator.parameters(), lr=c.lr_disc, betas=c.betas, weight_decay=c.weight_decay)
        return [opt_g, opt_d]

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        c = self.config
        opts = self.optimizers()
        opt_g, opt_d = (opts[0], opts[1]) if isinstance(opts, list) else (opts, None)
        x = batch  # [B, C, N]
        out = self.codec(x)
        y = out.audio  # [B, C, N]
        logs = {}

        if self.discriminator is not None:  # 1. discriminator step (not counted in global_step)
            self.toggle_optimizer(opt_d)
            real_logits, _ = self.discriminator(x)
            fake_logits, _ = self.discriminator(y.detach())
            loss_d = hinge_discriminator_loss(real_logits, fake_logits)
            opt_d.zero_grad()
            self.manual_backward(loss_d)
            self._clip(opt_d)
            self.trainer.strategy.optimizer_step(opt_d.optimizer, closure=_no_closure)
            self.untoggle_optimizer(opt_d)
            logs["loss_d"] = loss_d.detach()

        self.toggle_optimizer(opt_g)  # 2. codec (generator) step
        rec = self.mel_loss(y, x)
        wave = F.l1_loss(y, x)
        loss_g = c.lambda_rec * rec + c.lambda_wave * wave + c.lambda_commit * out.commit_loss
        logs.update(mel=rec.detach(), wave=wave.detach(), commit=out.commit_loss.detach())
        if self.discriminator is not None and self.global_step >= c.disc_warmup_steps:
            fake_logits, fake_feats = self.discriminator(y)
            with torch.no_grad():
                _, real_feats = self.discriminator(x)
            adv, feat = hinge_generator_loss(fake_logits), feature_matching_loss(real_feats, fake_feats)
            loss_g = loss_g + c.lambda_adv * adv + c.lambda_feat * feat
            logs.update(adv=adv.detach(), feat=feat.detach())
        opt_g.zero_grad()
        self.manual_backward(loss_g)
        self._clip(opt_g)
        opt_g.step()
        self.untoggle_optimizer(opt_g)
        logs["loss_g"] = loss_g.detach()
        self.log_dict({f"train/{k}": v for k, v in logs.items()}, prog_bar=False, on_step=True, batch_size=x.shape[0])
        self.log("mel", rec.detach(), prog_bar=True, logger=False, batch_size=x.shape[0])
        return loss_g.detach()

    def _clip(self, opt) -> None:
        if self.config.grad_clip:
            self.clip_gradients(opt, gradient_clip_val=self.config.grad_clip, gradient_clip_algorithm="norm")

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        n = batch.shape[-1]
        y = self.codec.decode(self.codec.encode(batch), length=n)  # the token path, as used downstream
        self.log("val/mel", self.mel_loss(y, batch), prog_bar=True, batch_size=batch.shape[0])

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["v2meow"] = {
            "model_type": self.codec.config.model_type,
            "component_config": self.codec.config.to_dict(),
            "component_prefix": self.COMPONENT_PREFIX,
            "training_config": _plain(dataclasses.asdict(self.config)),
        }


def _no_closure() -> None:
    return None


def _plain(value: Any) -> Any:
    """Tuples to lists, recursively, so the checkpoint stays readable with `weights_only=True`."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def build_codec(config: CodecTrainingConfig) -> SoundStream:
    """The codec to train: from `init_from` (weights and architecture) or a preset + overrides."""
    if config.init_from:
        from v2meow.training.export import load_codec_from_checkpoint

        path = Path(config.init_from)
        codec = load_codec_from_checkpoint(path) if path.suffix == ".ckpt" else SoundStream.from_pretrained(path)
        if config.codec:
            log.warning("model.init_from given: its architecture is used, model.codec overrides are ignored")
        return codec
    return SoundStream(SoundStreamConfig.from_preset(config.preset, **config.codec))


def build_module(config: CodecTrainingConfig) -> CodecModule:
    codec = build_codec(config)
    disc = None
    if config.discriminator is not None:
        disc = MultiScaleSTFTDiscriminator(codec.channels, runner.typed(DiscriminatorConfig, config.discriminator, "model.discriminator"))
    return CodecModule(codec, disc, config)


def train_from_config(cfg: dict[str, Any], ckpt_path: str | None = None) -> Path:
    """Run codec training from a run config dict (see `configs/codec.yaml`).

    Writes `out/config.yaml`, checkpoints under `out/checkpoints/` (`last.ckpt` is always
    the final state) and the trained codec component under `out/codec/`, which it returns.
    `ckpt_path` resumes (`"last"`: `out/checkpoints/last.ckpt` when present).
    """
    model_cfg = runner.typed(CodecTrainingConfig, cfg.get("model"), "model")
    data_cfg = runner.typed(AudioDataConfig, cfg.get("data"), "data")
    ckpt_cfg = runner.typed(runner.CheckpointConfig, cfg.get("checkpoint"), "checkpoint")
    out = Path(cfg.get("out") or "runs/codec")
    L.seed_everything(int(cfg.get("seed_everything", 0)), workers=True, verbose=False)
    module = build_module(model_cfg)
    data = AudioDataModule(data_cfg, module.codec.sample_rate, module.codec.channels)
    resume = runner.resolve_ckpt_path(ckpt_path, out)
    trainer_cfg = dict(cfg.get("trainer") or {})
    if not data_cfg.val_dir:
        trainer_cfg.setdefault("limit_val_batches", 0)
    trainer = runner.build_trainer(trainer_cfg, out, ckpt_cfg)
    runner.write_resolved_config(cfg, out)
    with warnings.catch_warnings():
        # Lightning warns that step checkpoints hold post-step weights under manual optimisation: intended here.
        warnings.filterwarnings("ignore", message=".*ModelCheckpoint with manual optimization.*")
        trainer.fit(module, datamodule=data, ckpt_path=resume, weights_only=True)
    trainer.save_checkpoint(str(out / "checkpoints" / runner.LAST), weights_only=False)  # the final state
    export_dir = out / "codec"
    if trainer.is_global_zero:
        module.codec.save_pretrained(export_dir)
    return export_dir
