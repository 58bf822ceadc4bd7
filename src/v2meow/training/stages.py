"""LightningModule for the three token stages: masked cross-entropy, AdamW, warm-up + cosine.

The module receives a built stage model (model code never imports this file). Every
checkpoint embeds the model's component config (`checkpoint["v2meow"]`), so any `.ckpt`
can be exported (`v2meow-export`) or used with `--init-from` on its own.

The module also keeps what the exported component records of its training
(`checkpoint["v2meow"]["progress"]`, so it survives a resume): the target tokens that entered
the loss (`train/tokens_seen`, summed over steps and ranks), the seconds of wall time of every
start together, and the last validation loss with its step.
"""

from __future__ import annotations

import math
import time

import lightning as L
import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from v2meow.components import Component
from v2meow.data.sampling import mixed_seed


def masked_cross_entropy(
    logits: torch.Tensor,  # [B, T, V]
    targets: torch.Tensor,  # [B, T]
    mask: torch.Tensor,  # [B, T] bool
    weights: torch.Tensor | None = None,  # [B, T] float, per-target loss weights
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean cross-entropy over masked targets (weighted), and token accuracy."""
    ce = F.cross_entropy(logits.float().transpose(1, 2), targets, reduction="none")  # [B, T]
    w = mask.float() if weights is None else mask.float() * weights
    loss = (ce * w).sum() / w.sum().clamp_min(1e-8)
    acc = ((logits.argmax(-1) == targets) & mask).sum() / mask.sum().clamp_min(1)
    return loss, acc


def warmup_cosine(step: int, warmup: int, total: int, floor: float = 0.1) -> float:
    """LR multiplier: linear warm-up to 1, then cosine down to `floor` at `total` steps."""
    if step < warmup:
        return (step + 1) / max(1, warmup)
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


VALIDATION = 0x7A1  # the seed part of validation passes


class StageModule(L.LightningModule):
    """Trains one stage model.

    Args:
        model: a built `Stage1`, `Stage2` or `Stage3`.
        lr: peak learning rate.
        weight_decay: AdamW decay on matrices (not on norms, biases, embeddings' null/type vectors).
        warmup_steps: linear warm-up.
        max_steps: cosine horizon (match the trainer's max_steps).
        ema_decay: keep an exponential moving average of the weights (exported when set).
        seed: the run's seed. Each training step reseeds torch from (seed, global step) and each
            validation from (seed, "val"), and the training order comes from `data.sampling`, so a
            run resumed from a checkpoint continues the uninterrupted run's curves exactly, and
            every validation draws the same masks (its losses compare across checks).
    """

    def __init__(
        self,
        model: Component,
        lr: float = 3e-4,
        weight_decay: float = 0.01,
        warmup_steps: int = 500,
        max_steps: int = 100_000,
        betas: tuple[float, float] = (0.9, 0.95),
        ema_decay: float | None = None,
        seed: int = 0,
    ):
        super().__init__()
        self.model = model
        self.seed = seed
        self.lr, self.weight_decay, self.betas = lr, weight_decay, tuple(betas)
        self.warmup_steps, self.max_steps = warmup_steps, max_steps
        self.ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(ema_decay)) if ema_decay else None
        self.tokens_seen = 0  # target tokens in the loss before this start (from the checkpoint)
        self._tokens = torch.zeros((), dtype=torch.long)  # ... and since, on the module's device
        self.seconds_before, self._started = 0.0, None  # wall time of earlier starts; start of this one
        self.val_loss: float | None = None  # the last validation loss, measured at val_step
        self.val_step: int | None = None

    def _step(self, batch: dict[str, torch.Tensor], stage: str) -> torch.Tensor:
        """Loss of one batch: token cross-entropy, weighted per target by `batch["weights"]` when the
        dataset gives them (VMAs beat weights), plus `contrastive_weight` x the model's `aux_loss`."""
        inputs = {k: v for k, v in batch.items() if k != "weights"}
        out = self.model(**inputs)
        weights = batch.get("weights")
        loss, acc = masked_cross_entropy(out.logits, out.targets, out.mask, weights)
        b = out.targets.shape[0]
        on_step = stage == "train"
        log = dict(batch_size=b, on_step=on_step, on_epoch=not on_step, sync_dist=not on_step)
        if on_step:
            self._count_tokens(out.mask)
        self.log(f"{stage}/loss", loss, prog_bar=True, **log)
        self.log(f"{stage}/acc", acc, **log)
        self.log(f"{stage}/ppl", loss.detach().exp(), **log)
        if weights is not None:  # the plain token loss, comparable with unweighted runs
            self.log(
                f"{stage}/loss_unweighted", masked_cross_entropy(out.logits.detach(), out.targets, out.mask)[0], **log
            )
        beta = float(getattr(self.model.config, "contrastive_weight", 0.0))
        if out.aux_loss is not None and beta > 0:
            self.log(f"{stage}/contrastive", out.aux_loss.detach(), **log)
            loss = loss + beta * out.aux_loss
            self.log(f"{stage}/total", loss.detach(), **log)
        return loss

    def _count_tokens(self, mask: torch.Tensor) -> None:
        """Add the targets that entered this step's loss, summed over ranks, and log the running total."""
        n = mask.sum().to(torch.long)
        trainer = self._trainer  # None for a module stepped by hand
        if trainer is not None and trainer.world_size > 1:
            n = trainer.strategy.reduce(n, reduce_op="sum")
        self._tokens = self._tokens.to(n.device) + n
        self.log(
            "train/tokens_seen", (self._tokens + self.tokens_seen).double(), on_step=True, on_epoch=False, batch_size=1
        )

    def total_tokens(self) -> int:
        return self.tokens_seen + int(self._tokens)

    def total_seconds(self) -> float:
        return self.seconds_before + (time.monotonic() - self._started if self._started is not None else 0.0)

    def on_fit_start(self) -> None:
        self._started = time.monotonic()

    def batches_trained(self) -> int | None:
        """Batches this run has trained on (the restored count after a resume): `data.sampling`'s position;
        None with several processes (Lightning's distributed sampler splits the order; resumes are not exact)."""
        trainer = self._trainer
        if trainer is not None and trainer.world_size > 1:
            return None
        return 0 if trainer is None else self.global_step * trainer.accumulate_grad_batches

    def on_train_batch_start(self, batch, batch_idx) -> None:
        # global_step alone is the same for the batches one optimizer step accumulates: tell them apart
        torch.manual_seed(mixed_seed(self.seed, self.global_step, batch_idx % self.trainer.accumulate_grad_batches))

    def on_validation_epoch_start(self) -> None:
        torch.manual_seed(mixed_seed(self.seed, VALIDATION))

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            return
        value = self.trainer.callback_metrics.get("val/loss")
        if value is not None:
            self.val_loss, self.val_step = float(value), int(self.global_step)

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):
        return self._step(batch, "val")

    def on_train_batch_end(self, outputs, batch, batch_idx):
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        if 0 < self.trainer.max_steps <= self.global_step:  # stopping here also validates the final weights
            self.trainer.should_stop = True

    def configure_optimizers(self):
        decay, no_decay = [], []
        for name, p in self.model.named_parameters():
            if not p.requires_grad:
                continue
            (decay if p.dim() >= 2 and "embed" not in name.split(".")[-1] else no_decay).append(p)
        opt = torch.optim.AdamW(
            [{"params": decay, "weight_decay": self.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=self.lr,
            betas=self.betas,
        )
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: warmup_cosine(s, self.warmup_steps, self.max_steps))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["v2meow"] = {
            "model_type": self.model.config.model_type,
            "component_config": self.model.config.to_dict(),
            "component_prefix": "ema.module." if self.ema is not None else "model.",
            "progress": {
                "tokens_seen": self.total_tokens(),
                "seconds": round(self.total_seconds(), 3),
                "val_loss": self.val_loss,
                "val_step": self.val_step,
            },
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """Resume the counts of `progress` (a checkpoint from before they were kept starts them at 0)."""
        progress = (checkpoint.get("v2meow") or {}).get("progress") or {}
        self.tokens_seen, self._tokens = int(progress.get("tokens_seen") or 0), torch.zeros((), dtype=torch.long)
        self.seconds_before = float(progress.get("seconds") or 0.0)
        self.val_loss, self.val_step = progress.get("val_loss"), progress.get("val_step")

    def release_model(self) -> Component:
        """The model to export: the EMA weights when kept, else the live ones."""
        if self.ema is None:
            return self.model
        self.model.load_state_dict(self.ema.module.state_dict())
        return self.model
