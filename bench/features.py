"""Benchmark: `motion` features of a 60-s 720p video, decoding included, on one core.

Target (issue 2): >= 20x real time. Run: `.venv/bin/python bench/features.py`.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, median_time, pin_one_core
from mediagen import make_video
from v2meow.features.registry import build_extractor
from v2meow.features.video import extract_video


def run(duration: float = 60.0, repeats: int = 5) -> dict:
    pin_one_core()
    with tempfile.TemporaryDirectory() as d:
        path = make_video(Path(d) / "bench720p.mp4", duration=duration, fps=30, size=(720, 1280), pattern="moving")
        extractor = build_extractor("motion")
        seconds = median_time(lambda: extract_video(extractor, path, threads=1), repeats=repeats)
    return {
        "motion_features_720p": {
            "video_seconds": duration,
            "source": "1280x720 H.264 30 fps (generated)",
            "median_wall_s": round(seconds, 3),
            "x_real_time_one_core": round(duration / seconds, 1),
            "repeats": repeats,
            "target_x_real_time": 20,
        },
        "machine": machine(),
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
