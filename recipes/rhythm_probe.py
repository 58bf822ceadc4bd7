"""Tempo following (as `make proof` measures it) over stage 1's guidance on the rhythm channel.

    python -m recipes.rhythm_probe --scales 3,8                  # seeds 0-2, as make proof
    python -m recipes.rhythm_probe --scales 3,8 --first-seed 3   # confirm on fresh seeds

Pulse videos at `recipes.proof.TEMPI` x `--seeds` seeds; per scale: Spearman(pulse BPM, music
BPM), the median octave-folded tempo deviation and how many runs land within 0.08.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m recipes.rhythm_probe", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--bundle", default="checkpoints/demo")
    p.add_argument("--scales", default="3,8", help="rhythm guidance scales of stage 1, comma-separated")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--seconds", type=float, default=10.0)
    args = p.parse_args(argv)
    try:
        scales = [float(s) for s in args.scales.split(",")]
    except ValueError:
        print(
            f"rhythm_probe: error: --scales expects numbers separated by commas, got '{args.scales}'", file=sys.stderr
        )
        return 2
    import torch

    from recipes.proof import tempo_following
    from v2meow.pipelines import V2MeowPipeline
    from v2meow.signal.rhythm import octave_deviation

    torch.set_num_threads(1)
    pipe = V2MeowPipeline.from_pretrained(args.bundle)
    with tempfile.TemporaryDirectory() as work:
        for scale in scales:
            r = tempo_following(
                pipe, Path(work), args.seconds, args.seeds, cfg_rhythm=scale, first_seed=args.first_seed
            )
            devs = [octave_deviation(t, bpm) for bpm, _, t in r["rows"] if math.isfinite(t)]
            result = {
                "rhythm_guidance": scale,
                "seeds": [args.first_seed, args.first_seed + args.seeds - 1],
                "spearman": round(r["spearman"], 3),
                "median_deviation": round(r["median_deviation"], 3),
                "within_0.08": int(sum(d <= 0.08 for d in devs)),
                "runs": len(r["rows"]),
            }
            print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
