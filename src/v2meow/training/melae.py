"""Train the learned mel codec (`MelAECodec`) on precomputed log-mel frames, for hours on one CPU core.

Frames come from `recipes/melae_frames.py` (`<frames>/index.json` + one `.npy` per TRAINING track; the tracks it
marks `val` are never trained on). A plain torch loop:

- random crops of `crop` frames, `batch` per step; the first forward (no gradient) initialises the codebooks by
  k-means on `init_frames` frames; quantizer dropout on half the steps (so the first levels work alone);
- losses (`mel_losses`): L1 on the log-mel, L1 on its local spectral contrast (x minus its moving average over
  `contrast_bands` bands: rewards the partials' peaks) and L1 on its time differences (onsets); after `gan_start`
  steps a small mel-patch discriminator (hinge loss + feature matching);
- every `val_every` steps: validation on fixed crops of the held-out tracks (all levels and the coarse levels
  alone), code entropy / perplexity / used codes per level, dead codes; one CSV row (`<out>/val.csv`); the codec
  is exported to `<out>/codec_last` (and `<out>/codec_best` by validation loss, `<out>/codec_step<N>` every
  `snapshot_every` steps);
- `<out>/last.pt` every `ckpt_seconds` (and at every validation); a new run in the same folder resumes from it.

    OMP_NUM_THREADS=1 python -m v2meow.training.melae --frames runs/melae/frames --out runs/melae/v1
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import math
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from v2meow.tokenizers.acoustic import rvq
from v2meow.tokenizers.acoustic.melae import MelAECodec, MelAECodecConfig


@dataclasses.dataclass
class TrainConfig:
    frames: str = "runs/melae/frames"
    out: str = "runs/melae/v1"
    preset: str = "mel128"
    steps: int = 40_000
    batch: int = 12
    crop: int = 128
    lr: float = 6e-4
    warmup: int = 500
    min_lr_frac: float = 0.1
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    dropout_prob: float = 0.5  # share of steps with quantizer dropout (a random number of levels)
    init_frames: int = 8192
    w_l1: float = 1.0
    w_contrast: float = 1.0
    w_tdiff: float = 0.5
    contrast_bands: int = 9
    gan_start: int = 8000  # 0 disables the discriminator
    w_adv: float = 0.01
    w_fm: float = 0.02
    d_lr: float = 2e-4
    val_every: int = 500
    val_crops: int = 48
    val_crop: int = 256
    snapshot_every: int = 2500
    ckpt_seconds: float = 300.0
    log_every: int = 50
    seed: int = 0


# --- data ---------------------------------------------------------------------------------
class MelFrames:
    """All precomputed log-mel tracks in memory (float16), split by the index's `val` flag."""

    def __init__(self, folder: str | os.PathLike):
        folder = Path(folder)
        index = json.loads((folder / "index.json").read_text())
        self.train, self.val = [], []
        for t in index["tracks"]:
            mel = np.load(folder / t["file"])  # [T, n_mels] float16
            (self.val if t["val"] else self.train).append(mel)
        self.n_mels = int(index["n_mels"])
        self.lengths = np.array([len(m) for m in self.train], dtype=np.float64)

    def mean_frame(self) -> np.ndarray:
        return np.concatenate([m[::7] for m in self.train]).astype(np.float32).mean(0)  # [n_mels]

    def crops(self, rng: np.random.Generator, batch: int, crop: int) -> torch.Tensor:
        """`batch` random crops `[B, n_mels, crop]`, tracks drawn by length."""
        idx = rng.choice(len(self.train), batch, p=self.lengths / self.lengths.sum())
        out = []
        for i in idx:
            m = self.train[i]
            s = int(rng.integers(0, max(1, len(m) - crop)))
            out.append(torch.from_numpy(m[s : s + crop].astype(np.float32)).T)
        return torch.stack(out)

    def val_crops(self, n: int, crop: int) -> torch.Tensor:
        """`n` fixed crops `[n, n_mels, crop]` spread evenly over the validation tracks."""
        per = max(1, math.ceil(n / len(self.val)))
        out = []
        for m in self.val:
            for s in np.linspace(0, len(m) - crop, per + 2)[1:-1].astype(int):
                out.append(torch.from_numpy(m[s : s + crop].astype(np.float32)).T)
        return torch.stack(out[:n])


# --- losses -------------------------------------------------------------------------------
def contrast(x: torch.Tensor, bands: int) -> torch.Tensor:
    """Local spectral contrast `[B, M, T]`: x minus its moving average over `bands` neighbouring bands."""
    b, m, t = x.shape
    y = x.transpose(1, 2).reshape(b * t, 1, m)
    avg = F.avg_pool1d(F.pad(y, (bands // 2, bands // 2), mode="replicate"), bands, stride=1)
    return x - avg.reshape(b, t, m).transpose(1, 2)


def mel_losses(pred: torch.Tensor, target: torch.Tensor, bands: int) -> dict[str, torch.Tensor]:
    return {
        "l1": (pred - target).abs().mean(),
        "contrast": (contrast(pred, bands) - contrast(target, bands)).abs().mean(),
        "tdiff": (pred.diff(dim=-1) - target.diff(dim=-1)).abs().mean(),
    }


class MelPatchDiscriminator(nn.Module):
    """A small 2-D conv net over log-mel patches `[B, M, T]` -> patch logits, plus its feature maps."""

    def __init__(self, channels: tuple[int, ...] = (16, 32, 32)):
        super().__init__()
        layers, c_in = [], 1
        for i, c in enumerate(channels):
            stride = (2, 2) if i == 1 else (2, 1)
            layers.append(nn.utils.parametrizations.weight_norm(nn.Conv2d(c_in, c, (5, 5), stride, padding=2)))
            c_in = c
        self.layers = nn.ModuleList(layers)
        self.out = nn.utils.parametrizations.weight_norm(nn.Conv2d(c_in, 1, (3, 3), padding=1))

    def forward(self, mel: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        h, feats = mel[:, None], []
        for layer in self.layers:
            h = F.leaky_relu(layer(h), 0.2)
            feats.append(h)
        return self.out(h), feats


# --- metrics ------------------------------------------------------------------------------
def code_stats(codes: torch.Tensor, size: int) -> dict[str, list[float]]:
    """Per level of `[B, K, T]` codes: entropy (bits), perplexity, codes used."""
    ent, ppl, used = [], [], []
    for k in range(codes.shape[1]):
        counts = torch.bincount(codes[:, k].reshape(-1), minlength=size).double()
        p = counts[counts > 0] / counts.sum()
        h = float(-(p * p.log2()).sum())
        ent.append(round(h, 3))
        ppl.append(round(2**h, 1))
        used.append(int((counts > 0).sum()))
    return {"entropy_bits": ent, "perplexity": ppl, "used": used}


@torch.no_grad()
def validate(model: MelAECodec, val: torch.Tensor, bands: int, coarse: int) -> dict:
    model.eval()
    codes = torch.cat([model.encode_mel(v) for v in val.split(16)])  # [N, K, T]
    full = torch.cat([model.decode_mel(c) for c in codes.split(16)])
    part = torch.cat([model.decode_mel(c[:, :coarse]) for c in codes.split(16)])
    model.train()
    losses = {f"val_{k}": float(v) for k, v in mel_losses(full, val, bands).items()}
    losses[f"val_l1_{coarse}lv"] = float((part - val).abs().mean())
    return {**losses, **code_stats(codes, model.codebook_size)}


def dead_codes(model: MelAECodec, threshold: float) -> list[int]:
    return [int((layer._codebook.cluster_size < threshold).sum()) for layer in model.quantizer.layers]


# --- the loop -----------------------------------------------------------------------------
def lr_at(step: int, c: TrainConfig) -> float:
    if step < c.warmup:
        return c.lr * (step + 1) / c.warmup
    frac = min(1.0, (step - c.warmup) / max(1, c.steps - c.warmup))
    return c.lr * (c.min_lr_frac + (1 - c.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * frac)))


def save_atomic(obj, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def export(model: MelAECodec, folder: Path) -> None:
    tmp = folder.with_name(folder.name + ".tmpdir")
    model.save_pretrained(tmp)
    if folder.exists():
        for f in folder.iterdir():
            f.unlink()
        folder.rmdir()
    os.replace(tmp, folder)


def train(c: TrainConfig, log=print) -> None:
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    out = Path(c.out)
    out.mkdir(parents=True, exist_ok=True)
    data = MelFrames(c.frames)
    val = data.val_crops(c.val_crops, c.val_crop)
    model = MelAECodec(MelAECodecConfig.from_preset(c.preset, n_mels=data.n_mels))
    disc = MelPatchDiscriminator()
    opt = torch.optim.AdamW(model.parameters(), lr=c.lr, betas=(0.8, 0.99), weight_decay=c.weight_decay)
    d_opt = torch.optim.AdamW(disc.parameters(), lr=c.d_lr, betas=(0.8, 0.99))
    rng = np.random.default_rng(c.seed)
    torch.manual_seed(c.seed)
    random.seed(c.seed)
    step, elapsed, best = 0, 0.0, float("inf")
    last = out / "last.pt"
    if last.is_file():
        ck = torch.load(last, weights_only=True)  # tensors, numbers, strings and containers only
        model.load_state_dict(ck["model"])
        disc.load_state_dict(ck["disc"])
        opt.load_state_dict(ck["opt"])
        d_opt.load_state_dict(ck["d_opt"])
        step, elapsed, best = ck["step"], ck["elapsed"], ck["best"]
        rng.bit_generator.state = ck["np_rng"]
        torch.set_rng_state(ck["torch_rng"])
        random.setstate(ck["py_rng"])
        log(f"resumed from {last} at step {step} ({elapsed / 3600:.2f} h)")
    else:
        (out / "train_config.json").write_text(json.dumps(dataclasses.asdict(c), indent=1))
        model.mel_mean.copy_(torch.from_numpy(data.mean_frame()))
        model.train()
        with torch.no_grad():  # k-means init of every level on a large first batch
            t0 = time.time()
            model.forward_mel(data.crops(rng, max(1, c.init_frames // c.crop), c.crop))
            log(f"k-means init on {c.init_frames} frames: {time.time() - t0:.1f} s")
    params = sum(p.numel() for p in model.parameters())
    mb = sum(v.numel() * 4 for v in model.state_dict().values() if v.is_floating_point()) / 1e6
    log(f"model: {params} parameters, {mb:.2f} MB of float32 weights and buffers; discriminator "
        f"{sum(p.numel() for p in disc.parameters())} parameters")  # fmt: skip
    csv_path = out / "val.csv"
    fields = ["step", "wall_s", "frames_seen", "lr", "train_l1", "train_contrast", "train_tdiff", "train_commit",
              "train_adv", "train_fm", "train_d", "val_l1", "val_contrast", "val_tdiff", f"val_l1_{model.num_coarse}lv",
              "entropy_bits", "perplexity", "used", "dead", "s_per_step"]  # fmt: skip
    if not csv_path.is_file():
        with csv_path.open("w", newline="") as f:
            csv.writer(f).writerow(fields)
    model.train()
    acc: dict[str, float] = {}
    n_acc = 0
    t_start, t_ckpt, t_interval, step_interval = time.time() - elapsed, time.time(), time.time(), step

    def checkpoint() -> None:
        save_atomic({"model": model.state_dict(), "disc": disc.state_dict(), "opt": opt.state_dict(),
                     "d_opt": d_opt.state_dict(), "step": step, "elapsed": time.time() - t_start, "best": best,
                     "np_rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
                     "py_rng": random.getstate(), "config": dataclasses.asdict(c)}, last)  # fmt: skip

    while step < c.steps:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, c)
        x = data.crops(rng, c.batch, c.crop)  # [B, M, T]
        model.quantizer.quantize_dropout = random.random() < c.dropout_prob
        o = model.forward_mel(x)
        parts = mel_losses(o.mel, x, c.contrast_bands)
        loss = c.w_l1 * parts["l1"] + c.w_contrast * parts["contrast"] + c.w_tdiff * parts["tdiff"] + o.commit_loss
        parts["commit"] = o.commit_loss.detach()
        gan = c.gan_start > 0 and step >= c.gan_start
        if gan:
            logits, fake_feats = disc(o.mel)
            with torch.no_grad():
                _, real_feats = disc(x)
            parts["adv"] = F.relu(1 - logits).mean()
            parts["fm"] = sum((a - b).abs().mean() for a, b in zip(fake_feats, real_feats)) / len(fake_feats)
            loss = loss + c.w_adv * parts["adv"] + c.w_fm * parts["fm"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), c.grad_clip)
        opt.step()
        if gan:
            real, _ = disc(x)
            fake, _ = disc(o.mel.detach())
            d_loss = F.relu(1 - real).mean() + F.relu(1 + fake).mean()
            d_opt.zero_grad(set_to_none=True)
            d_loss.backward()
            d_opt.step()
            parts["d"] = d_loss.detach()
        step += 1
        for k, v in parts.items():
            acc[k] = acc.get(k, 0.0) + float(v.detach())
        n_acc += 1
        if step % c.log_every == 0:
            log(f"step {step} " + " ".join(f"{k} {v / n_acc:.4f}" for k, v in acc.items())
                + f" | {(time.time() - t_interval) / max(1, step - step_interval):.3f} s/step")  # fmt: skip
        if step % c.val_every == 0 or step == c.steps:
            v = validate(model, val, c.contrast_bands, model.num_coarse)
            s_per_step = (time.time() - t_interval) / max(1, step - step_interval)
            row = {"step": step, "wall_s": round(time.time() - t_start), "frames_seen": step * c.batch * c.crop,
                   "lr": f"{lr_at(step, c):.2e}", **{f"train_{k}": round(acc.get(k, 0.0) / max(1, n_acc), 5)
                   for k in ("l1", "contrast", "tdiff", "commit", "adv", "fm", "d")},
                   **{k: (round(x, 5) if isinstance(x, float) else x) for k, x in v.items()},
                   "dead": dead_codes(model, model.config.threshold_ema_dead_code), "s_per_step": round(s_per_step, 3)}  # fmt: skip
            with csv_path.open("a", newline="") as f:
                csv.writer(f).writerow([json.dumps(row[k]) if isinstance(row[k], list) else row[k] for k in fields])
            log("VAL " + json.dumps(row))
            acc, n_acc, t_interval, step_interval = {}, 0, time.time(), step
            score = v["val_l1"] + v["val_contrast"]
            export(model, out / "codec_last")
            if score < best:
                best = score
                export(model, out / "codec_best")
            if step % c.snapshot_every == 0:
                export(model, out / f"codec_step{step}")
            checkpoint()
            t_ckpt = time.time()
        elif time.time() - t_ckpt > c.ckpt_seconds:
            checkpoint()
            t_ckpt = time.time()
    log("done")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for f in dataclasses.fields(TrainConfig):
        p.add_argument("--" + f.name.replace("_", "-"), type=type(f.default), default=f.default)
    args = p.parse_args(argv)
    c = TrainConfig(**vars(args))
    train(c, log=lambda m: print(time.strftime("%H:%M:%S"), m, flush=True, file=sys.stdout))
    return 0


# the kmeans codec's reference on the same validation crops (written once by `reference`)
def reference(frames: str, codec_dir: str, val_crops: int = 48, val_crop: int = 256, bands: int = 9) -> dict:
    """Validation losses and code statistics of a k-means mel codec (`vocos`, encoder mel) on the same crops."""
    from v2meow.tokenizers.acoustic import load_codec

    codec = load_codec(codec_dir)
    val = MelFrames(frames).val_crops(val_crops, val_crop)
    with torch.no_grad():
        codes = rvq.quantize(codec.quantizer, val.transpose(1, 2))  # [N, T, K]
        full = rvq.dequantize(codec.quantizer, codes).transpose(1, 2)
        part = rvq.dequantize(codec.quantizer, codes[..., : codec.num_coarse]).transpose(1, 2)
    out = {f"val_{k}": float(v) for k, v in mel_losses(full, val, bands).items()}
    out[f"val_l1_{codec.num_coarse}lv"] = float((part - val).abs().mean())
    return {**out, **code_stats(codes.transpose(1, 2), codec.codebook_size)}


if __name__ == "__main__":
    sys.exit(main())
