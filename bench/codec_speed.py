"""Decode speed (x real time, one thread) of mel codecs on the same 12-s excerpt, in one process, interleaved so
that a shared machine's load hits every codec alike; also the learned codec's network alone (codes -> log-mel).

    OMP_NUM_THREADS=1 PYTHONPATH=src .venv/bin/python bench/codec_speed.py checkpoints/demo/codec runs/melae/v1/codec_best
"""

from __future__ import annotations

import statistics
import sys
import time

import torch

from v2meow.tokenizers.acoustic import MelAECodec, load_codec


def main(argv: list[str]) -> int:
    torch.set_num_threads(1)
    seconds, sr = 12.0, 16000
    g = torch.Generator().manual_seed(0)
    wav = 0.1 * torch.randn(int(seconds * sr), generator=g)  # the speed does not depend on the content
    codecs = {p: load_codec(p) for p in argv}
    codes = {p: c.encode(wav[None], sample_rate=sr) for p, c in codecs.items()}
    jobs = {f"{p} (decode)": (lambda c=c, k=codes[p]: c.decode(k)) for p, c in codecs.items()}
    for p, c in codecs.items():
        if isinstance(c, MelAECodec):
            jobs[f"{p} (network only: codes -> log-mel)"] = lambda c=c, k=codes[p]: c.decode_mel(k[None])
    times: dict[str, list[float]] = {k: [] for k in jobs}
    with torch.inference_mode():
        for _ in range(5):
            for k, fn in jobs.items():
                t = time.perf_counter()
                fn()
                times[k].append(time.perf_counter() - t)
    for k, ts in times.items():
        print(f"{k}: {seconds / statistics.median(ts):.1f} x real time (median of 5)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
