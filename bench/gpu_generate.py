"""Benchmark: the demo bundle on a GPU — eager vs CUDA graphs vs bf16 weights, token for token.

Generates music for the first 10 s of `examples/demo.mp4` with the same seed four ways
(float32 weights eager, float32 weights with CUDA graphs, bf16 weights eager, bf16 weights
with CUDA graphs; all under the pipeline's bf16 autocast) and reports, for each, the
generation time (after one warm-up call) and whether its tokens equal the eager float32
run's. Without a CUDA device it reports `skipped`.

Run: `.venv/bin/python bench/gpu_generate.py [--bundle checkpoints/demo] [--seconds 10]`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine  # noqa: E402


def run(bundle: str, seconds: float = 10.0, seed: int = 0) -> dict:
    if not torch.cuda.is_available():
        return {"gpu_generate_demo": {"skipped": "no CUDA device"}}
    from v2meow.pipelines import V2MeowPipeline

    out: dict = {"device": torch.cuda.get_device_name(), "seconds_of_music": seconds}
    reference = None
    for dtype in ("float32", "bf16"):
        pipe = V2MeowPipeline.from_pretrained(bundle, device="cuda", dtype=dtype)
        feats = pipe.extract_features(ROOT / "examples" / "demo.mp4")
        n = round(seconds * feats.rate)
        feats = dataclasses.replace(feats, features=feats.features[:n], duration=n / feats.rate)
        for graphs in (False, True):
            pipe(feats, seed=seed, cuda_graphs=graphs)  # warm-up (graph capture, kernels)
            torch.cuda.synchronize()
            t = time.perf_counter()
            result = pipe(feats, seed=seed, cuda_graphs=graphs)
            torch.cuda.synchronize()
            elapsed = time.perf_counter() - t
            tokens = (result.semantic, result.coarse, result.fine)
            if reference is None:
                reference = tokens
            same = [bool(torch.equal(a, b)) for a, b in zip(tokens, reference)]
            first_diff = [
                int((a != b).flatten().nonzero()[0]) if not s else None for a, b, s in zip(tokens, reference, same)
            ]
            out[f"{dtype}_{'graphs' if graphs else 'eager'}"] = {
                "seconds": round(elapsed, 2),
                "x_real_time": round(seconds / elapsed, 2),
                "stage_seconds": {k: round(v, 2) for k, v in result.timings.items()},
                "tokens_equal_to_float32_eager": dict(zip(("semantic", "coarse", "fine"), same)),
                "first_differing_token": dict(zip(("semantic", "coarse", "fine"), first_diff)),
            }
    return {"gpu_generate_demo": out, "machine": machine()}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bundle", default=str(ROOT / "checkpoints" / "demo"))
    p.add_argument("--seconds", type=float, default=10.0)
    a = p.parse_args()
    print(json.dumps(run(a.bundle, a.seconds), indent=2))
