"""Benchmark: stage 2 + 3 decoding, autoregressive (v2meow-stage2/3) vs parallel (v2meow-maskgit), one thread.

Both pairs have the same width and depth (`small`: 256 wide, 4 layers) and are run as the pipeline
runs them: window by window (`plan_windows`), each window primed with the previous one's overlap
(the paper's contexts: 4 s for coarse, 1 s for fine), at 50 Hz with 25-Hz semantic tokens. The AR
stage 3 decodes 3-s windows (its default), every other stage 10-s ones; maskgit passes are its
defaults (16 for the first level, 1 greedy pass for each further one). Two codec layouts:
2 coarse + 4 fine levels, and 8 levels x 1024 codes split 3 coarse + 5 fine. Issue 26's target:
maskgit >= 10x faster than the AR pair.

Run: `.venv/bin/python bench/maskgit.py` (about 6 minutes on one core; `--quick` 10 s only).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, pin_one_core
from v2meow.pipelines.windows import plan_windows
from v2meow.stages.ar_coarse import Stage2, Stage2Config
from v2meow.stages.ar_fine import Stage3, Stage3Config
from v2meow.stages.maskgit import MaskGITConfig, MaskGITStage
from v2meow.stages.sampling import DecodeOptions, SamplingConfig, make_generator

RATE, SEM_RATE, SEM_VOCAB = 50.0, 25.0, 1024
LAYOUTS = {"2c+4f x 1024": (2, 4, 1024), "3c+5f x 1024": (3, 5, 1024)}
CONTEXT = {"coarse": 4.0, "fine": 1.0}


def pairs(num_coarse: int, num_fine: int, codebook: int, preset: str = "small") -> dict:
    """(stage 2, stage 3) of each kind, random weights, equal sizes."""
    torch.manual_seed(0)
    rates = dict(codebook_size=codebook, num_coarse=num_coarse, codec_rate=RATE)
    sem = dict(semantic_vocab=SEM_VOCAB, semantic_rate=SEM_RATE)
    return {
        "ar": (
            Stage2(Stage2Config.preset(preset, **rates, **sem, window_seconds=10.0)).eval(),
            Stage3(Stage3Config.preset(preset, **rates, num_fine=num_fine, window_seconds=3.0)).eval(),
        ),
        "maskgit": (
            MaskGITStage(MaskGITConfig.preset(preset, role="coarse", **rates, **sem, window_seconds=10.0)).eval(),
            MaskGITStage(
                MaskGITConfig.preset(preset, role="fine", **rates, num_fine=num_fine, window_seconds=10.0)
            ).eval(),
        ),
    }


def windowed(stage, role: str, conditions, total: int, levels: int, duration: float, generator) -> torch.Tensor:
    """The pipeline's window loop (`pipelines.chain.run_role`) for one acoustic stage -> `[1, K, total]`."""
    out = torch.zeros(1, levels, total, dtype=torch.long)
    c = stage.config
    rates = [RATE, SEM_RATE] if role == "coarse" else [RATE]
    for w in plan_windows(duration, c.window_seconds, CONTEXT[role], rates):
        s, e, p = w.frames(RATE, total)
        cond = conditions(w, s, e)
        out[..., s:e] = stage.generate(
            conditions=cond,
            length=e - s,
            prompt=out[..., s : s + p] if p else None,
            sampling=SamplingConfig(temperature=0.95 if role == "coarse" else 0.4),
            options=DecodeOptions(generator=generator),
        )
    return out


def decode_seconds(stage2, stage3, duration: float) -> tuple[float, float]:
    """Wall seconds of stage 2 then stage 3 over `duration` seconds of audio."""
    total = round(duration * RATE)
    semantic = torch.randint(0, SEM_VOCAB, (1, round(duration * SEM_RATE)), generator=torch.Generator().manual_seed(1))
    g = make_generator(0)

    def sem_window(w, s, e):
        ss, se, _ = w.frames(SEM_RATE, semantic.shape[1])
        return {"semantic": semantic[:, ss:se]}

    t = time.perf_counter()
    coarse = windowed(stage2, "coarse", sem_window, total, stage2.config.num_coarse, duration, g)
    t2 = time.perf_counter() - t
    t = time.perf_counter()
    windowed(stage3, "fine", lambda w, s, e: {"coarse": coarse[:, :, s:e]}, total, stage3.config.num_fine, duration, g)
    return t2, time.perf_counter() - t


def compare(durations=(10.0, 60.0)) -> dict:
    out = {}
    for name, layout in LAYOUTS.items():
        models = pairs(*layout)
        for duration in durations:
            row = {}
            for kind, (s2, s3) in models.items():
                decode_seconds(s2, s3, 1.0)  # warm-up
                a, b = decode_seconds(s2, s3, duration)
                row[f"{kind}_stage2_s"], row[f"{kind}_stage3_s"] = round(a, 2), round(b, 2)
                row[f"{kind}_s"] = round(a + b, 2)
            row["speedup_x"] = round(row["ar_s"] / row["maskgit_s"], 1)
            row["target_speedup_x"] = 10
            out[f"{name}, {duration:g} s"] = row
    return out


def run(quick: bool = False) -> dict:
    pin_one_core()
    t = time.time()
    result = {"maskgit_vs_ar_stage2_3_one_thread": compare((10.0,) if quick else (10.0, 60.0))}
    result["machine"] = machine()
    result["machine"]["bench_maskgit_wall_s"] = round(time.time() - t, 1)
    return result


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
