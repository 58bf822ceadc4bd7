"""Benchmark: long videos through `v2meow-generate` (issue 37): wall time, seconds per minute of video,
peak RSS, and whether the muxed audio lasts exactly as long as the video. Synthetic low-resolution
videos (96x64, 8 fps, a pulse at 120 BPM), the demo bundle, every core; each length `--repeats`
times in fresh processes (the median wall, the largest peak).

    .venv/bin/python bench/long_video.py [--minutes 10,30,60] [--repeats 1] [--json out.json]

Targets: 10 min <= 90 s and <= 1 GB; 60 min <= 2 GB; seconds per minute of video within 15 % of
the 10-minute run's at every length.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]
from common import machine, save_json  # noqa: E402
from startup import entry, timed  # noqa: E402


def one(minutes: float, repeats: int, bundle: str, extra: tuple[str, ...] = ()) -> dict:
    from recipes.visualizer import render_pulse
    from v2meow import media

    with tempfile.TemporaryDirectory() as d:
        video, out = Path(d) / "long.mp4", Path(d) / "o.mp4"
        render_pulse(120, minutes * 60, video, fps=8, size=(64, 96))
        figures = timed([*entry("v2meow-generate"), "--video", str(video), "--out", str(out), "--bundle", bundle,
                         "--max-seconds", "0", *extra], repeats)  # fmt: skip
        wav, rate = media.read_audio(out, channels=1)
        duration = media.probe(video).duration
    return {
        "minutes": minutes,
        **figures,
        "seconds_per_minute": round(figures["median_wall_s"] / minutes, 2),
        "audio_minus_video_s": round(wav.shape[-1] / rate - duration, 4),
    }


def run(
    minutes: tuple[float, ...] | None = None,
    repeats: int | None = None,
    bundle: str = str(ROOT / "checkpoints" / "demo"),
) -> dict:
    """`make bench`: 10 minutes, 3 runs, unless BENCH_LONG_MINUTES (e.g. "10,30,60") and BENCH_LONG_REPEATS say otherwise."""
    import os

    minutes = minutes or tuple(float(m) for m in os.environ.get("BENCH_LONG_MINUTES", "10").split(","))
    repeats = repeats or int(os.environ.get("BENCH_LONG_REPEATS", "3"))
    if not (Path(bundle) / "pipeline.json").exists():
        return {"long_video_cli": {"skipped": f"no bundle at {bundle} (make demo-bundle)"}}
    rows = {f"{m:g}min": one(m, repeats, bundle) for m in minutes}
    rows["10min_pghi"] = one(10.0, repeats, bundle, ("--phase", "pghi")) | {"phase": "pghi"}
    base = rows[f"{minutes[0]:g}min"]["seconds_per_minute"]
    for row in rows.values():
        row["per_minute_vs_first"] = round(row["seconds_per_minute"] / base, 3)
    rows["targets"] = {
        "10min_wall_s": 90,
        "10min_peak_rss_mb": 1024,
        "60min_peak_rss_mb": 2048,
        "per_minute_spread": 0.15,
    }
    return {"long_video_cli": rows}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", default="10", help="comma-separated lengths in minutes")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--json")
    args = p.parse_args()
    result = run(tuple(float(m) for m in args.minutes.split(",")), args.repeats) | {"machine": machine()}
    print(json.dumps(result, indent=2))
    save_json(args.json, result)
