"""Judges of long (multi-window) generations, to check that a decoding change keeps the music: the demo
bundle generates `--seconds` of music for the visualizer video of each of `--clips` held-out excerpts
(`recipes.ladder.held_out_excerpts`), seeds 0 and 1; basic-pitch note salience and madmom beat pulse
per piece and their medians. Run it before and after a change (same machine) and compare the rows
pair by pair; docs/figures/maskgit_proportional.json holds the run for issue 37's proportional passes.

    .venv/bin/python bench/judge_windows.py LABEL [--clips 4] [--seconds 30] [--json out.json]   # make judges
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from recipes.ladder import held_out_excerpts  # noqa: E402
from recipes.visualizer import render  # noqa: E402
from v2meow.evaluation.judges import judge_or_none  # noqa: E402
from v2meow.pipelines import V2MeowPipeline  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("label")
    p.add_argument("--bundle", default=str(ROOT / "checkpoints" / "demo"))
    p.add_argument("--data", default=str(ROOT / "data" / "demo"))
    p.add_argument("--clips", type=int, default=4)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--json")
    args = p.parse_args()
    torch.set_num_threads(1)
    pipe = V2MeowPipeline.from_pretrained(args.bundle)
    rows, wall = [], 0.0
    with tempfile.TemporaryDirectory() as d:
        for clip, wav, sr in held_out_excerpts(Path(args.data), args.clips, args.seconds):
            render(wav[0], sr, Path(d) / "v.mp4")
            for seed in (0, 1):
                t = time.perf_counter()
                out = pipe(Path(d) / "v.mp4", seed=seed)
                wall += time.perf_counter() - t
                rows.append(judge_or_none(out.audio[0].mean(0).numpy(), out.sample_rate) | {"clip": clip, "seed": seed})
                print(clip, seed, rows[-1]["note_salience"], rows[-1]["beat_pulse"], file=sys.stderr, flush=True)
    keys = ("note_salience", "beat_pulse")
    median = {k: round(statistics.median(r[k] for r in rows if r[k] is not None), 4) for k in keys}
    result = {"label": args.label, "median": median, "rows": rows, "wall_s": round(wall, 1)}
    text = json.dumps(result, indent=1)
    if args.json:
        Path(args.json).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
