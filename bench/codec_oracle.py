"""Benchmark: which link of a mel codec loses the music: its quantizer or its vocoder?

Each link is fed the truth in turn, on the held-out clips of `bench/codec.py`: the vocoder
from the quantized and from the unquantized log-mel, Griffin-Lim from both, and the
weight-free reference; then Griffin-Lim from the quantized mel at several iteration counts
(decode speed on one thread). Needs a codec with the `mel` encoder.

    .venv/bin/python bench/codec_oracle.py --codec checkpoints/demo/codec [--iters 0,8,16,32,64]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from codec import EVAL_RATE, held_out_clips, load_excerpts
from v2meow.evaluation.codec_quality import QualityMeter, mel_griffin_lim, summarize
from v2meow.tokenizers.acoustic import load_codec, rvq


def row(label: str, s: dict, extra: str = "") -> str:
    return (
        f"| {label} |{extra} {s['lsd']:.3f} | {s['flatness_gap']:.3f} | {s['chroma']:.3f} | {s['mel_distance']:.3f} |"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--codec", default="checkpoints/demo/codec", help="a codec component with encoder 'mel'")
    p.add_argument("--data", default="data/demo")
    p.add_argument("--clips", type=int, default=8)
    p.add_argument("--iters", default="0,8,16,32,64", help="Griffin-Lim iteration counts to time")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    codec = load_codec(args.codec).eval()
    if getattr(codec.config, "encoder", None) != "mel":
        print(f"codec_oracle: error: {args.codec} is not a mel codec", file=sys.stderr)
        return 2
    clips = load_excerpts(Path(args.data), held_out_clips(Path(args.data), args.clips), 10.0)
    meter, rows = QualityMeter(EVAL_RATE), {}
    iters = codec.config.griffin_lim_iters
    with torch.inference_mode():
        for _, wav in clips:
            z = codec.encoder(wav[None, None])  # [1, M, T]
            q = rvq.dequantize(codec.quantizer, rvq.quantize(codec.quantizer, z.transpose(1, 2))).transpose(
                1, 2
            )  # [1, M, T]
            for label, y in (
                ("vocoder, quantized mel", codec.decoder(q)[0, 0]),
                ("vocoder, true mel (quantizer bypassed)", codec.decoder(z)[0, 0]),
                (f"Griffin-Lim {iters} it., quantized mel (vocoder bypassed)", codec.encoder.invert(q, iters)[0]),
                (f"Griffin-Lim {iters} it., true mel (both bypassed)", codec.encoder.invert(z, iters)[0]),
                ("reference: 80-band mel at 62.5 fps + Griffin-Lim 48", mel_griffin_lim(wav, EVAL_RATE)),
            ):
                rows.setdefault(label, []).append(meter.measure(wav, y))
    print(f"{args.codec}, {len(clips)} held-out clips x 10 s\n")
    print("| decoding | LSD | abs flatness gap | chroma | mel distance |\n|---|---|---|---|---|")
    for label, r in rows.items():
        print(row(label, summarize(r)))
    print(
        "\n| Griffin-Lim iterations | x real time, 1 thread | LSD | abs flatness gap | chroma | mel distance |\n|---|---|---|---|---|---|"
    )
    codes = [codec.encode(w[None], sample_rate=EVAL_RATE) for _, w in clips]
    for n in (int(v) for v in args.iters.split(",")):
        codec.config = dataclasses.replace(codec.config, inversion="griffin_lim", griffin_lim_iters=n)
        start = time.perf_counter()
        with torch.inference_mode():
            outs = [codec.decode(c)[0] for c in codes]
        speed = 10.0 * len(clips) / (time.perf_counter() - start)
        print(row(str(n), summarize([meter.measure(w, y) for (_, w), y in zip(clips, outs)]), f" {speed:.0f} |"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
