"""Speed of the `motion` extractor on a 720p video, decoding included, as a real-time factor.

    python bench/bench_motion.py [--seconds 60] [--threads 1]

Writes a synthetic 1280x720 30-fps H.264 video to a temporary folder (or takes
`--video`), then times
`media.read_frames` at the extractor's frame rate and size plus `extract`.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from v2meow import media
from v2meow.features.motion import MotionExtractor


def write_video(path: Path, seconds: float, fps: int = 30, h: int = 720, w: int = 1280) -> None:
    yy, xx = np.mgrid[0:h, 0:w]
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=Fraction(fps), options={"preset": "ultrafast"})
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        for i in range(int(seconds * fps)):
            t = i / fps
            img = np.empty((h, w, 3), np.uint8)
            img[..., 0] = (xx + 200 * math.sin(t)) % 256
            img[..., 1] = (yy + 50 * t) % 256
            img[..., 2] = 128 + 100 * math.sin(2 * math.pi * 2 * t)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--threads", type=int, default=1, help="torch and decoder threads")
    ap.add_argument("--video", type=Path, help="time this video instead of a synthetic one")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ext = MotionExtractor()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.video or Path(tmp) / "bench.mp4"
        if args.video is None:
            write_video(path, args.seconds)
        t0 = time.perf_counter()
        v = media.read_frames(path, rate=ext.frame_rate, size=ext.frame_size, threads=args.threads)
        t1 = time.perf_counter()
        out = ext.extract(v.frames, v.times, v.duration)
        t2 = time.perf_counter()
    total, seconds = t2 - t0, v.duration
    print(f"{seconds:g}-s video, {v.frames.shape[0]} frames at {ext.frame_rate:g} Hz -> {tuple(out.shape)}")
    print(f"decode {t1 - t0:.2f}s  extract {t2 - t1:.2f}s  total {total:.2f}s  = {seconds / total:.1f}x real time")


if __name__ == "__main__":
    main()
