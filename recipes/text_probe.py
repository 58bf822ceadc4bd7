"""Does the text steer at other guidance scales? `make proof`'s text test, swept over the style
condition's guidance scale in stage 1.

    python -m recipes.text_probe                       # scales 1, 3, 6 on the demo bundle
    python -m recipes.text_probe --scales 1,6 --json docs/figures/text_guidance.json
    python -m recipes.text_probe --scales 3,6 --skip-clips 8     # confirm on the next 8 clips

For each scale: each word pair of `recipes.proof.TEXT_PAIRS` ("fast" vs "slow", "intense" vs
"calm", "bright" vs "dark") on the same held-out clip with the same seed, the share of paired runs
in which the first word's measure (tempo, onsets per second, spectral centroid) comes out higher,
with a one-sided sign test.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m recipes.text_probe", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--bundle", default="checkpoints/demo")
    p.add_argument("--data", default="data/demo")
    p.add_argument("--scales", default="1,3,6", help="style guidance scales of stage 1, comma-separated")
    p.add_argument("--clips", type=int, default=8)
    p.add_argument(
        "--skip-clips", type=int, default=0, help="leave out the first N held-out clips (a fresh set to confirm on)"
    )
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)
    try:
        scales = [float(s) for s in args.scales.split(",")]
    except ValueError:
        print(f"text_probe: error: --scales expects numbers separated by commas, got '{args.scales}'", file=sys.stderr)
        return 2
    import torch

    from recipes.proof import held_out, text_control
    from v2meow.pipelines import V2MeowPipeline

    torch.set_num_threads(1)
    pipe = V2MeowPipeline.from_pretrained(args.bundle)
    clips = held_out(Path(args.data), args.skip_clips + args.clips)[args.skip_clips :]
    results = []
    for scale in scales:
        t0 = time.time()
        r = text_control(pipe, Path(args.data), clips, args.seconds, args.seeds, guidance=scale)
        results.append({**r, "wall_s": time.time() - t0})
        cells = ", ".join(
            f"{name} {x['wins']}/{x['runs']} (p = {x['sign_test_p']:.3f})" for name, x in r["pairs"].items()
        )
        print(f"style guidance {scale:g}: {cells}", flush=True)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        clip_ids = [c["id"] for c in clips]
        Path(args.json).write_text(
            json.dumps({"bundle": args.bundle, "clips": clip_ids, "results": results}, indent=2) + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
