"""Benchmark: does a training run gain from both cores? Stage-2 (MaskGIT coarse) training steps at
1 and 2 torch threads, the v4 recipe's shape (configs/demo/v4/stage2_maskgit.yaml: width 192, depth 4,
10-s crops of 500 codec frames x 3 coarse levels, 256 semantic tokens, batch 8, bf16 autocast).

The two thread counts alternate in rounds so that drifts in machine load hit both alike; the figure
is the median step time per count, as coarse target tokens per second (SoundStorm's loss counts the
masked frames of one level; here every frame of the 3 levels is counted, as `train/tokens_seen`'s
upper bound, the same for both counts). Run it on an idle machine: another job on the second core
makes 2 threads look worse than they are.

    .venv/bin/python bench/train_threads.py [--rounds 5] [--steps 3] [--json runs/train_threads.json]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, save_json  # noqa: I001
from v2meow.stages.maskgit import MaskGITConfig, MaskGITStage
from v2meow.training.stages import masked_cross_entropy

SEMANTIC_RATE, CODEC_RATE, SECONDS, VOCAB, K, NC = 25.0, 50.0, 10.0, 256, 1024, 3


def build() -> MaskGITStage:
    cfg = MaskGITConfig.preset(
        "small", role="coarse", dim=192, depth=4, heads=6, ffn=768, semantic_vocab=VOCAB,
        semantic_rate=SEMANTIC_RATE, codebook_size=K, num_coarse=NC, codec_rate=CODEC_RATE, window_seconds=SECONDS,
    )  # fmt: skip
    return MaskGITStage(cfg).train()


def step_fn(model: MaskGITStage, b: int):
    g = torch.Generator().manual_seed(0)
    semantic = torch.randint(0, VOCAB, (b, int(SECONDS * SEMANTIC_RATE)), generator=g)  # [B, S]
    coarse = torch.randint(0, K, (b, NC, int(SECONDS * CODEC_RATE)), generator=g)  # [B, N_c, T]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(semantic=semantic, coarse=coarse)
        loss, _ = masked_cross_entropy(out.logits, out.targets, out.mask)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=3, help="steps per thread count per round")
    p.add_argument("--json", help="also write the figures here")
    args = p.parse_args(argv)
    result = measure(args.batch, args.rounds, args.steps)
    save_json(args.json, result)
    return 0


def run() -> dict:
    """For `make bench` (bench/run.py): the figures under `train_threads`, measured in a fresh process on
    every core (the runner may be pinned to one core by an earlier benchmark)."""
    import json
    import subprocess
    import tempfile

    from common import unpin

    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "t.json"
        subprocess.run(
            [sys.executable, __file__, "--json", str(out)], check=True, capture_output=True, preexec_fn=unpin
        )
        result = json.loads(out.read_text())
    return {"train_threads": {k: v for k, v in result.items() if k != "machine"}}


def measure(batch: int = 8, rounds: int = 5, steps: int = 3) -> dict:
    """Median step time and tokens/s of the stage-2 recipe's training step at 1 and 2 threads."""
    torch.manual_seed(0)
    step = step_fn(build(), batch)
    counts = (1, 2)
    times: dict[int, list[float]] = {n: [] for n in counts}
    for n in counts:  # warm-up at each count
        torch.set_num_threads(n)
        step()
    for _ in range(rounds):
        for n in counts:
            torch.set_num_threads(n)
            t = time.perf_counter()
            for _ in range(steps):
                step()
            times[n].append((time.perf_counter() - t) / steps)
    tokens = batch * NC * int(SECONDS * CODEC_RATE)
    rows = {
        f"{n} thread{'s' if n > 1 else ''}": {
            "step_s": round(statistics.median(v), 3),
            "tokens_per_s": round(tokens / statistics.median(v)),
        }
        for n, v in times.items()
    }
    speedup = round(statistics.median(times[1]) / statistics.median(times[2]), 2)
    result = {"machine": machine(), "batch": batch, "tokens_per_step": tokens, **rows, "speedup_2_vs_1": speedup}
    print(
        "train threads: " + ", ".join(f"{k} {v['tokens_per_s']} tok/s ({v['step_s']} s/step)" for k, v in rows.items())
        + f"; 2 threads = {speedup}x one",
        file=sys.stderr,
    )  # fmt: skip
    return result


if __name__ == "__main__":
    sys.exit(main())
