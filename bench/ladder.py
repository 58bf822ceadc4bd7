"""Benchmark: the rhythm ladder of the demo bundle (`recipes.ladder`) on held-out music.

Per link (codec, stage 3 from true coarse codes, the semantic tokens, stages 2-3 from true
semantic tokens, stage 1 from pulse videos), the median octave-folded tempo deviation (0 = the
same tempo or an octave of it, about 0.25 = chance). Needs the demo data (`make demo-data`);
without it the figure reads `skipped`.

Run: `.venv/bin/python bench/ladder.py [--bundle checkpoints/demo]`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(Path(__file__).resolve().parent), str(ROOT)]  # bench/ helpers; recipes/
from common import machine  # noqa: E402


def run(bundle: str | None = None, clips: int = 8, seeds: int = 2) -> dict:
    from recipes.ladder import run as ladder

    data = ROOT / "data" / "demo"
    if not (data / "clips.json").is_file():
        return {"rhythm_ladder": {"skipped": "no demo data (make demo-data)"}}
    result = ladder(bundle or str(ROOT / "checkpoints" / "demo"), data, clips=clips, seeds=seeds)
    return {
        "rhythm_ladder": {
            "median_deviation": result["median_deviation"],
            "clips": len(result["clips"]),
            "chance": result["chance"],
            "target_stage2": result["target_stage2"],
        },
        "machine": machine(),
    }


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bundle")
    a = p.parse_args()
    print(json.dumps(run(a.bundle), indent=2))
