"""Benchmark: does stage 2's sampling (MaskGIT passes, temperature) decide how much beat it keeps?

Resynthesis from the true semantic tokens of the 8 steady held-out excerpts of the ladder (10 s), two
seeds each, through a stage-2 training checkpoint (with the demo bundle's stage 3 and codec and the
issue-34 tokenizer, as `recipes.judge_stage2` does), for each (passes of the first coarse level,
coarse temperature); madmom's beat pulse, median and mean over the 16 outputs.

    OMP_NUM_THREADS=1 .venv/bin/python bench/stage2_sampling.py runs/s2v4/stage2_rhythm/checkpoints/step00008750.ckpt \\
        [--variants 1:0,16:0.5] --json docs/figures/stage2_sampling.json
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, save_json  # noqa: E402
from recipes.judge_stage2 import chain  # noqa: E402
from recipes.ladder import held_out_excerpts  # noqa: E402
from v2meow.evaluation.judges import judge_or_none  # noqa: E402

VARIANTS = "16:0.5,64:0.5,64:1.0,16:0,16:0.25,1:0,2:0,4:0"  # passes of the first coarse level : coarse temperature


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path, help="a v2meow-train stage2 checkpoint (.ckpt)")
    p.add_argument("--base", default="checkpoints/demo")
    p.add_argument("--semantic", default="checkpoints/semantic_v4")
    p.add_argument("--data", type=Path, default=Path("data/demo"))
    p.add_argument("--variants", default=VARIANTS, help=f"PASSES:TEMPERATURE,... (default {VARIANTS})")
    p.add_argument("--json")
    args = p.parse_args()
    variants = [(int(a), float(b)) for a, _, b in (v.partition(":") for v in args.variants.split(","))]
    torch.set_num_threads(1)
    pipe = chain(args.base, args.checkpoint, args.semantic)
    excerpts = held_out_excerpts(args.data, 8, 10.0)
    rows = {}
    for passes, temperature in variants:
        pipe.stages["coarse"].config.decode_iterations = (passes, 1)
        start, beats = time.time(), []
        for seed in (0, 1):
            for _, wav, sr in excerpts:
                out = pipe.resynthesize(wav, sr, seed=seed, temperatures=(1.0, temperature, 1.0))
                beats.append(judge_or_none(out.audio[0].float().mean(0), out.sample_rate)["beat_pulse"])
        key = f"passes {passes}, temperature {temperature:g}"
        rows[key] = {"beat_median": float(np.median(beats)), "beat_mean": float(np.mean(beats)), "beat": beats,
                     "seconds": round(time.time() - start)}  # fmt: skip
        print(f"{key}: beat pulse median {rows[key]['beat_median']:.3f}, mean {rows[key]['beat_mean']:.3f}", flush=True)
    save_json(args.json, {"machine": machine(), "checkpoint": str(args.checkpoint), "variants": rows})


if __name__ == "__main__":
    main()
