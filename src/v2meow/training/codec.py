"""Training of the trainable codecs (SoundStream, iSTFT/Vocos-style): a LightningModule and its run.

One training step (manual optimisation, both AdamW):

1. the codec reconstructs the batch through its residual VQ (quantizer dropout, EMA codebooks);
2. once `mel_warmup_steps` have passed, the discriminator (`model.discriminator.kind`:
   msstft or mpd_mrd) takes a hinge-loss step on real vs reconstructed audio (optionally
   on a random `disc_segment_seconds` window of each crop, to keep CPU steps cheap);
3. the codec takes a step on mel reconstruction + commitment, plus, once
   `disc_warmup_steps` have passed, hinge adversarial + feature-matching losses;
4. with `ema_decay` set, an exponential moving average of the codec's weights is updated;
   it is what validation, the monitor's audio examples and the export use.

A `CodecMonitor` (`model.monitor`) appends the losses to `out/losses.csv`, redraws
`out/losses.png` and writes held-out audio examples (`out/examples/*.wav`) periodically.

`trainer.global_step` counts codec (generator) steps, i.e. batches: the discriminator's
optimizer step is taken through the strategy directly so that Lightning does not count
it, and `max_steps`, checkpoint intervals and resume all mean batches.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F

from v2meow.errors import ConfigError
from v2meow.tokenizers.acoustic.base import AcousticCodec
from v2meow.tokenizers.acoustic.discriminator import DiscriminatorConfig, build_discriminator
from v2meow.tokenizers.acoustic.losses import (
    MultiScaleMelLoss,
    default_windows,
    feature_matching_loss,
    hinge_discriminator_loss,
    hinge_generator_loss,
)
from v2meow.tokenizers.acoustic.registry import TRAINABLE, codec_class
from v2meow.training import runner
from v2meow.training.audio_data import AudioDataConfig, AudioDataModule
from v2meow.training.codec_monitor import CodecMonitor, MonitorConfig

log = logging.getLogger(__name__)


@dataclass
class CodecTrainingConfig:
    """The `model:` section of `configs/codec.yaml`: architecture, losses, optimisation."""

    model_type: str = "soundstream"  # soundstream | vocos (iSTFT decoder)
    preset: str = "small"  # soundstream: debug | small | paper; vocos: debug | demo
    codec: dict[str, Any] = field(default_factory=dict)  # overrides of the preset's fields
    discriminator: dict[str, Any] | None = field(default_factory=dict)  # DiscriminatorConfig fields; null: no GAN
    init_from: str | None = None  # a codec component dir or a codec .ckpt; its architecture wins
    freeze_codebooks: bool = False  # keep the quantizer's codebooks (so the codes stay valid): train the decoder
    mel_windows: tuple[int, ...] | None = None  # None: default_windows(sample_rate)
    n_mels: int | None = 64  # null: linear-frequency STFT loss
    mel_lin_weight: float = 1.0  # per scale: lin_weight * L1(mel) + log_weight * L1(log mel)
    mel_log_weight: float = 1.0
    lambda_rec: float = 1.0
    lambda_wave: float = 0.1  # L1 on the waveform
    lambda_commit: float = 1.0
    lambda_adv: float = 3.0  # EnCodec's weights (without its loss balancer)
    lambda_feat: float = 3.0
    mel_warmup_steps: int = 0  # steps with reconstruction losses only (no discriminator at all)
    disc_warmup_steps: int = (
        2000  # step from which adversarial losses reach the codec (the discriminator trains from mel_warmup_steps)
    )
    disc_segment_seconds: float | None = (
        None  # discriminator sees a random window this long of each crop; null: all of it
    )
    ema_decay: float | None = None  # EMA of the codec weights (e.g. 0.999); null: none
    lr: float = 3e-4
    lr_disc: float = 3e-4
    betas: tuple[float, float] = (0.5, 0.9)
    weight_decay: float = 1e-4
    grad_clip: float | None = 1.0
    monitor: dict[str, Any] = field(default_factory=dict)  # MonitorConfig: loss curve + held-out audio examples

    def __post_init__(self) -> None:
        if self.model_type not in TRAINABLE:
            raise ConfigError(f"model.model_type must be one of {', '.join(TRAINABLE)}, got '{self.model_type}'")
        if self.ema_decay is not None and not 0.0 < self.ema_decay < 1.0:
            raise ConfigError(f"model.ema_decay must be in (0, 1) or null, got {self.ema_decay}")
        if self.disc_segment_seconds is not None and self.disc_segment_seconds <= 0:
            raise ConfigError(f"model.disc_segment_seconds must be positive or null, got {self.disc_segment_seconds}")
        if self.mel_warmup_steps < 0 or self.disc_warmup_steps < 0:
            raise ConfigError("model.mel_warmup_steps and model.disc_warmup_steps must be >= 0")
        self.betas = tuple(float(b) for b in self.betas)
        if self.mel_windows is not None:
            self.mel_windows = tuple(int(w) for w in self.mel_windows)


class CodecModule(L.LightningModule):
    """Trains a built codec (and discriminator); the codec is `self.codec`, its EMA `self.codec_ema`."""

    COMPONENT_PREFIX = "codec."

    def __init__(self, codec: AcousticCodec, discriminator: torch.nn.Module | None, config: CodecTrainingConfig):
        super().__init__()
        self.automatic_optimization = False
        self.codec, self.discriminator, self.config = codec, discriminator, config
        self.codec_ema = None
        if config.ema_decay is not None:
            self.codec_ema = copy.deepcopy(codec).requires_grad_(False)
        windows = config.mel_windows or default_windows(codec.sample_rate)
        self.mel_loss = MultiScaleMelLoss(
            codec.sample_rate,
            windows=windows,
            n_mels=config.n_mels,
            lin_weight=config.mel_lin_weight,
            log_weight=config.mel_log_weight,
        )
        self.last_logs: dict[str, float] = {}

    @property
    def inference_codec(self) -> AcousticCodec:
        """The weights to evaluate and export: the EMA when there is one."""
        return self.codec_ema if self.codec_ema is not None else self.codec

    @torch.no_grad()
    def _update_ema(self) -> None:
        decay = self.config.ema_decay
        for e, p in zip(self.codec_ema.parameters(), self.codec.parameters(), strict=True):
            e.lerp_(p.detach(), 1.0 - decay)
        for e, b in zip(self.codec_ema.buffers(), self.codec.buffers(), strict=True):
            e.copy_(b)

    def _segments(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The same random window of `disc_segment_seconds` from each of real `x` and generated `y` `[B, C, N]`."""
        if self.config.disc_segment_seconds is None:
            return x, y
        n = x.shape[-1]
        m = min(n, round(self.config.disc_segment_seconds * self.codec.sample_rate))
        start = int(torch.randint(0, n - m + 1, ()).item())
        return x[..., start : start + m], y[..., start : start + m]

    def configure_optimizers(self):
        c = self.config
        opt_g = torch.optim.AdamW(self.codec.parameters(), lr=c.lr, betas=c.betas, weight_decay=c.weight_decay)
        if self.discriminator is None:
            return opt_g
        opt_d = torch.optim.AdamW(
            self.discriminator.parameters(), lr=c.lr_disc, betas=c.betas, weight_decay=c.weight_decay
        )
        return [opt_g, opt_d]

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        c = self.config
        opts = self.optimizers()
        opt_g, opt_d = (opts[0], opts[1]) if isinstance(opts, list) else (opts, None)
        x = batch  # [B, C, N]
        out = self.codec(x, freeze_codebooks=c.freeze_codebooks)
        y = out.audio  # [B, C, N]
        logs = {}

        use_disc = self.discriminator is not None and self.global_step >= c.mel_warmup_steps
        use_adv = use_disc and self.global_step >= c.disc_warmup_steps
        real_feats = None
        if use_disc:  # 1. discriminator step (not counted in global_step)
            xs, ys = self._segments(x, y)  # [B, C, M] each
            self.toggle_optimizer(opt_d)
            b = xs.shape[0]
            logits, feats = self.discriminator(torch.cat([xs, ys.detach()]))  # one pass over real and generated
            real_logits, fake_logits = [lg[:b] for lg in logits], [lg[b:] for lg in logits]
            loss_d = hinge_discriminator_loss(real_logits, fake_logits)
            opt_d.zero_grad()
            self.manual_backward(loss_d)
            self._clip(opt_d)
            self.trainer.strategy.optimizer_step(opt_d.optimizer, closure=_no_closure)
            self.untoggle_optimizer(opt_d)
            real_feats = [[f[:b].detach() for f in fs] for fs in feats]  # feature-matching targets
            logs["loss_d"] = loss_d.detach()

        self.toggle_optimizer(opt_g)  # 2. codec (generator) step
        rec = self.mel_loss(y, x)
        wave = F.l1_loss(y, x)
        loss_g = c.lambda_rec * rec + c.lambda_wave * wave + c.lambda_commit * out.commit_loss
        logs.update(mel=rec.detach(), wave=wave.detach(), commit=out.commit_loss.detach())
        if use_adv:
            fake_logits, fake_feats = self.discriminator(ys)
            adv, feat = hinge_generator_loss(fake_logits), feature_matching_loss(real_feats, fake_feats)
            loss_g = loss_g + c.lambda_adv * adv + c.lambda_feat * feat
            logs.update(adv=adv.detach(), feat=feat.detach())
        opt_g.zero_grad()
        self.manual_backward(loss_g)
        self._clip(opt_g)
        opt_g.step()
        self.untoggle_optimizer(opt_g)
        if self.codec_ema is not None:
            self._update_ema()
        logs["loss_g"] = loss_g.detach()
        self.last_logs = {k: float(v) for k, v in logs.items()}
        self.log_dict({f"train/{k}": v for k, v in logs.items()}, prog_bar=False, on_step=True, batch_size=x.shape[0])
        self.log("mel", rec.detach(), prog_bar=True, logger=False, batch_size=x.shape[0])
        return loss_g.detach()

    def _clip(self, opt) -> None:
        if self.config.grad_clip:
            self.clip_gradients(opt, gradient_clip_val=self.config.grad_clip, gradient_clip_algorithm="norm")

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        n = batch.shape[-1]
        codec = self.inference_codec
        y = codec.decode(codec.encode(batch), length=n)  # the token path, as used downstream
        self.log("val/mel", self.mel_loss(y, batch), prog_bar=True, batch_size=batch.shape[0])

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["v2meow"] = {
            "model_type": self.codec.config.model_type,
            "component_config": self.codec.config.to_dict(),
            "component_prefix": "codec_ema." if self.codec_ema is not None else self.COMPONENT_PREFIX,
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


def build_codec(config: CodecTrainingConfig) -> AcousticCodec:
    """The codec to train: from `init_from` (weights and architecture) or a preset + overrides."""
    if config.init_from:
        from v2meow.tokenizers.acoustic.registry import load_codec
        from v2meow.training.export import load_codec_from_checkpoint

        path = Path(config.init_from)
        codec = load_codec_from_checkpoint(path) if path.suffix == ".ckpt" else load_codec(path, trainable=True).train()
        if not isinstance(codec, tuple(codec_class(t) for t in TRAINABLE)):
            raise ConfigError(
                f"{path}: a {codec.config.model_type} codec cannot be trained here (trainable: {', '.join(TRAINABLE)})"
            )
        if config.codec:
            log.warning("model.init_from given: its architecture is used, model.codec overrides are ignored")
        return codec
    cls = codec_class(config.model_type, trainable=True)
    return cls(cls.config_class.from_preset(config.preset, **config.codec))


def build_module(config: CodecTrainingConfig) -> CodecModule:
    codec = build_codec(config)
    disc = None
    if config.discriminator is not None:
        disc = build_discriminator(
            codec.channels, runner.typed(DiscriminatorConfig, config.discriminator, "model.discriminator")
        )
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
    monitor = CodecMonitor(runner.typed(MonitorConfig, model_cfg.monitor, "model.monitor"), out)
    stop = runner.typed(runner.StopConfig, cfg.get("stop"), "stop").callback("val/mel")
    if stop is not None and not data_cfg.val_dir:
        raise ConfigError("stop: the plateau rule watches the validation loss; name a data.val_dir")
    trainer = runner.build_trainer(trainer_cfg, out, ckpt_cfg, extra_callbacks=[monitor, *([stop] if stop else [])])
    runner.write_resolved_config(cfg, out)
    with warnings.catch_warnings():
        # Lightning warns that step checkpoints hold post-step weights under manual optimisation: intended here.
        warnings.filterwarnings("ignore", message=".*ModelCheckpoint with manual optimization.*")
        trainer.fit(module, datamodule=data, ckpt_path=resume, weights_only=True)
    trainer.save_checkpoint(str(out / "checkpoints" / runner.LAST), weights_only=False)  # the final state
    export_dir = out / "codec"
    if trainer.is_global_zero:
        module.inference_codec.save_pretrained(export_dir)
    return export_dir
