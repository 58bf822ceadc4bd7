"""Benchmark: stage-1 training throughput on this CPU — fp32 vs bf16 autocast vs torch.compile, by width.

One pinned core, one torch thread (as the background training runs), the demo's stage-1 shape:
10-s crops (250 semantic tokens at 25 Hz, motion features 16-d at 10 Hz, the rhythm channel,
a 64-d caption embedding), a full training step (forward, cross-entropy, backward, AdamW).
Variants run in interleaved rounds so a drift in machine load hits each alike; the figure is
the median step time over rounds, as target tokens per second.

    .venv/bin/python bench/train_speed.py                         # widths 128, 256; batch 8
    .venv/bin/python bench/train_speed.py --widths 192 --batch 16 --json runs/train_speed.json
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
from common import machine, pin_one_core, save_json
from v2meow.stages.ar_semantic import Stage1, Stage1Config
from v2meow.stages.conditions import Condition
from v2meow.training.stages import masked_cross_entropy

SEMANTIC_RATE, FEATURE_RATE, SECONDS, VOCAB = 25.0, 10.0, 10.0, 256
RHYTHM = {"name": "rhythm", "kind": "features", "size": 1, "rate": 25.0, "dropout": 0.3, "route": "aligned"}


def build(width: int, depth: int) -> Stage1:
    cfg = Stage1Config.preset(
        "small",
        dim=width,
        depth=depth,
        encoder_depth=max(1, depth // 2),
        heads=max(2, width // 32),
        ffn=4 * width,
        feature_dim=16,
        feature_rate=FEATURE_RATE,
        style_dim=64,
        semantic_vocab=VOCAB,
        semantic_rate=SEMANTIC_RATE,
        window_seconds=SECONDS,
        visual_route="both",
        extra_streams=[RHYTHM],
    )
    return Stage1(cfg).train()


def batch(b: int) -> dict:
    g = torch.Generator().manual_seed(0)
    t_s, t_v = int(SECONDS * SEMANTIC_RATE), int(SECONDS * FEATURE_RATE)
    return {
        "semantic": torch.randint(0, VOCAB, (b, t_s), generator=g),  # [B, T_s]
        "conditions": {
            "visual": Condition(torch.randn(b, t_v, 16, generator=g)),  # [B, T_v, 16]
            "style": Condition(torch.randn(b, 64, generator=g)),  # [B, 64]
            "rhythm": Condition(torch.rand(b, t_s, 1, generator=g)),  # [B, T_s, 1]
        },
    }


def step_fn(model: Stage1, data: dict, bf16: bool):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model(**data)
        loss, _ = masked_cross_entropy(out.logits, out.targets, out.mask)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def run(widths: list[int], depth: int, b: int, rounds: int, steps: int, log=print) -> dict:
    data = batch(b)
    tokens = b * int(SECONDS * SEMANTIC_RATE)
    results = {}
    for width in widths:
        torch.manual_seed(0)
        variants = {
            "fp32": step_fn(build(width, depth), data, False),
            "bf16 autocast": step_fn(build(width, depth), data, True),
        }
        compiled = build(width, depth)
        t = time.perf_counter()
        try:
            fwd = torch.compile(compiled)
            variants["torch.compile fp32"] = step_fn(fwd, data, False)
            variants["torch.compile fp32"]()  # compile (not timed below)
            compile_s = time.perf_counter() - t
        except Exception as e:
            variants.pop("torch.compile fp32", None)
            compile_s = f"failed: {type(e).__name__}: {str(e).splitlines()[0][:120]}"
        times: dict[str, list[float]] = {k: [] for k in variants}
        for fn in variants.values():
            fn()  # warm-up
        for _ in range(rounds):
            for name, fn in variants.items():
                t = time.perf_counter()
                for _ in range(steps):
                    fn()
                times[name].append((time.perf_counter() - t) / steps)
        params = sum(p.numel() for p in compiled.parameters())
        row = {
            name: {"step_s": round(statistics.median(v), 4), "tokens_per_s": round(tokens / statistics.median(v))}
            for name, v in times.items()
        }
        results[f"width {width}"] = {"params": params, "compile_s": compile_s, **row}
        log(
            f"train speed: width {width} ({params / 1e6:.2f} M): "
            + ", ".join(f"{k} {v['tokens_per_s']} tok/s" for k, v in row.items())
        )
    return {"batch": b, "depth": depth, "seconds": SECONDS, "tokens_per_step": tokens, "results": results}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--widths", default="128,256")
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=3, help="steps per variant per round")
    p.add_argument("--json", help="also write the figures here")
    args = p.parse_args(argv)
    pin_one_core()
    result = run(
        [int(w) for w in args.widths.split(",")],
        args.depth,
        args.batch,
        args.rounds,
        args.steps,
        log=lambda m: print(m, file=sys.stderr, flush=True),
    )
    result["machine"] = machine()
    print(json.dumps(result, indent=2))
    save_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
