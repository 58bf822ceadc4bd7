"""Benchmark: training steps of each stage at the `paper` preset on a GPU, Lightning `bf16-mixed`.

Each stage trains a few steps on synthetic batches shaped like the paper's (stage 1: 10-s
windows of CLIP+I3D features at 1 Hz and 250 semantic tokens; stage 2: 250 semantic tokens
and 10 s of 4 coarse codebooks at 75 Hz; stage 3: 3 s of 4 coarse + 4 fine codebooks),
through the same `StageModule` and Lightning Trainer that `v2meow-train` uses. Reports the
median step time (after the first step), parameters, and peak GPU memory. Without a CUDA
device it reports `skipped`.

Run: `.venv/bin/python bench/gpu_train.py [--batch 8] [--steps 4]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine

RATES = dict(semantic_vocab=1024, semantic_rate=25.0)
CODEC = dict(codebook_size=1024, num_coarse=4, codec_rate=75.0)


def _batches(stage: str, batch: int, steps: int) -> list[dict]:
    g = torch.Generator().manual_seed(0)
    out = []
    for _ in range(steps):
        if stage == "stage1":
            out.append(
                {
                    "semantic": torch.randint(0, 1024, (batch, 250), generator=g),
                    "conditions": {"visual": torch.randn(batch, 10, 2816, generator=g)},
                }
            )
        elif stage == "stage2":
            out.append(
                {
                    "semantic": torch.randint(0, 1024, (batch, 250), generator=g),
                    "coarse": torch.randint(0, 1024, (batch, 4, 750), generator=g),
                }
            )
        else:
            out.append(
                {
                    "coarse": torch.randint(0, 1024, (batch, 4, 225), generator=g),
                    "fine": torch.randint(0, 1024, (batch, 4, 225), generator=g),
                }
            )
    return out


def _model(stage: str):
    from v2meow.stages.ar_coarse import Stage2, Stage2Config
    from v2meow.stages.ar_fine import Stage3, Stage3Config
    from v2meow.stages.ar_semantic import Stage1, Stage1Config

    if stage == "stage1":
        return Stage1(Stage1Config.preset("paper", feature_dim=2816, feature_rate=1.0, **RATES))
    if stage == "stage2":
        return Stage2(Stage2Config.preset("paper", **RATES, **CODEC))
    return Stage3(Stage3Config.preset("paper", num_fine=4, window_seconds=3.0, **CODEC))


def train_steps(stage: str, batch: int, steps: int) -> dict:
    import lightning as L

    from v2meow.training.stages import StageModule

    class Timer(L.Callback):
        def __init__(self):
            self.times, self.start = [], 0.0

        def on_train_batch_start(self, *args):
            torch.cuda.synchronize()
            self.start = time.perf_counter()

        def on_train_batch_end(self, *args):
            torch.cuda.synchronize()
            self.times.append(time.perf_counter() - self.start)

    torch.manual_seed(0)
    model = _model(stage)
    module = StageModule(model, warmup_steps=1, max_steps=steps)
    timer = Timer()
    trainer = L.Trainer(
        accelerator="gpu",
        devices=1,
        precision="bf16-mixed",
        max_steps=steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[timer],
        gradient_clip_val=1.0,
    )
    torch.cuda.reset_peak_memory_stats()
    loader = torch.utils.data.DataLoader(_batches(stage, batch, steps), batch_size=None)
    trainer.fit(module, loader)
    return {
        "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 1),
        "batch": batch,
        "step_s": round(statistics.median(timer.times[1:] or timer.times), 3),
        "first_step_s": round(timer.times[0], 3),
        "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
        "final_loss": round(float(trainer.callback_metrics.get("train/loss", float("nan"))), 3),
    }


def run(batch: int = 8, steps: int = 4) -> dict:
    if not torch.cuda.is_available():
        return {"gpu_train_paper_bf16": {"skipped": "no CUDA device"}}
    out = {stage: train_steps(stage, batch, steps) for stage in ("stage1", "stage2", "stage3")}
    return {"gpu_train_paper_bf16": {"device": torch.cuda.get_device_name(), **out}, "machine": machine()}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=4)
    a = p.parse_args()
    print(json.dumps(run(a.batch, a.steps), indent=2))
