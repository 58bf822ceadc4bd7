"""Benchmark: end-to-end generation with the demo bundle on this machine's CPU cores.

Real-time factor (wall seconds / seconds of music, lower is better; target <= 1.0 on 2 cores),
per-stage breakdown and peak RSS, for 10 s and 60 s of music. Each duration runs in a fresh
process so that peak RSS is its own. Run: `.venv/bin/python bench/e2e.py`; on a GPU machine
`.venv/bin/python bench/e2e.py --device cuda [--cuda-graphs]` times the CUDA path instead.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]  # bench/ helpers; the repository root for recipes/
from common import peak_rss_mb, unpin  # noqa: E402


def one(seconds: float, bundle: str, repeats: int, device: str = "cpu", cuda_graphs: bool = False) -> dict:
    import statistics
    import time

    import torch

    from recipes.visualizer import render_pulse
    from v2meow.pipelines import V2MeowPipeline

    pipe = V2MeowPipeline.from_pretrained(bundle, device=device)
    with tempfile.TemporaryDirectory() as d:
        video = Path(d) / "pulse.mp4"
        render_pulse(120, seconds, video)
        runs = []
        for i in range(repeats):
            t = time.perf_counter()
            out = pipe(video, seed=i, cuda_graphs=cuda_graphs)
            runs.append((time.perf_counter() - t, out.timings))
    wall = statistics.median(r[0] for r in runs)
    stages = {k: round(statistics.median(r[1][k] for r in runs), 2) for k in runs[0][1]}
    return {
        "music_seconds": seconds,
        "median_wall_s": round(wall, 2),
        "rtf": round(wall / seconds, 3),
        "stages_s": stages,
        "peak_rss_mb": round(peak_rss_mb()),
        "repeats": repeats,
        "torch_threads": torch.get_num_threads(),
        "device": device,
        "cuda_graphs": cuda_graphs,
        "target_rtf": 1.0,
        "target_peak_rss_mb": 2048,
    }


def run(bundle: str = str(ROOT / "checkpoints" / "demo"), device: str = "cpu", cuda_graphs: bool = False) -> dict:
    if not (Path(bundle) / "pipeline.json").exists():
        return {"e2e_demo_bundle": {"skipped": f"no bundle at {bundle} (make demo-bundle)"}}
    out = {}
    for seconds, repeats in ((10.0, 5), (60.0, 5)):
        cmd = [sys.executable, __file__, "--one", str(seconds), bundle, str(repeats), device] + (
            ["--cuda-graphs"] if cuda_graphs else []
        )
        r = subprocess.run(
            cmd, capture_output=True, text=True, check=True, preexec_fn=unpin
        )  # every core, from the start
        out[f"{seconds:g}s"] = json.loads(r.stdout.strip().splitlines()[-1])
    return {"e2e_demo_bundle" if device == "cpu" else f"e2e_demo_bundle_{device}": out}


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--one":
        print(
            json.dumps(one(float(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5], "--cuda-graphs" in sys.argv))
        )
    else:
        import argparse

        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
        parser.add_argument(
            "--cuda-graphs", action="store_true", help="replay decode steps as CUDA graphs (with --device cuda)"
        )
        args = parser.parse_args()
        print(json.dumps(run(device=args.device, cuda_graphs=args.cuda_graphs), indent=2))
