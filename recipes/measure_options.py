"""Measure a stage-1 option on the demo data: beat alignment of generated music vs the shuffle baseline.

    python -m recipes.measure_options runs/demo/stage1/stage1 runs/demo/stage1_beats/stage1

Each stage-1 directory replaces the demo bundle's stage 1 (stages 2-3 and the codec stay);
music is generated for held-out clips and scored against its own video and shuffled videos
with `v2meow-eval`'s beat alignment. Writes a markdown table to stdout.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from recipes.proof import beat_alignment, held_out
from v2meow.pipelines import V2MeowPipeline
from v2meow.stages.ar_semantic import Stage1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m recipes.measure_options",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("stage1", nargs="+", help="stage-1 component directories to compare")
    p.add_argument("--bundle", default="checkpoints/demo")
    p.add_argument("--data", default="data/demo")
    p.add_argument("--clips", type=int, default=8)
    p.add_argument("--seconds", type=float, default=10.0)
    args = p.parse_args(argv)
    pipe = V2MeowPipeline.from_pretrained(args.bundle)
    clips = held_out(Path(args.data), args.clips)
    print("| stage 1 | beat alignment, own video | shuffled videos | ratio |\n|---|---|---|---|")
    for directory in args.stage1:
        pipe.stage1 = Stage1.from_pretrained(directory).eval()
        r = beat_alignment(pipe, Path(args.data), clips, args.seconds)
        print(f"| `{directory}` | {r['own']:.3f} | {r['shuffled']:.3f} | {r['ratio']:.2f}x |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
