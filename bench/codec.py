"""Benchmark: what a codec round trip keeps of held-out music, against a weight-free reference.

On held-out demo clips (the eval split of data/demo/clips.json: ufoai, never trained on),
10-s excerpts at 16 kHz mono, for each codec given AND for the weight-free 80-band mel +
Griffin-Lim (48 iterations) reference, in the same run:

  log-spectral distance, spectral flatness (and |flatness - original|), chroma similarity,
  multi-scale mel distance, tempo preservation (octave-folded deviation, median),
  decode speed (x real time, one thread), component size.

    .venv/bin/python bench/codec.py                                  # the shipped demo codec
    .venv/bin/python bench/codec.py --codec runs/demo/codec_v2/codec --codec checkpoints/demo/codec
    .venv/bin/python bench/codec.py --json bench/codec.json          # table on stdout, figures in JSON

Targets (issue 16): LSD and |flatness gap| no worse than the reference, chroma >= 0.97,
median tempo deviation <= 0.02, decode >= 20x real time on one core, component <= 10 MB.
Metric definitions: `v2meow.evaluation.codec_quality`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, median_time, pin_one_core
from v2meow import media
from v2meow.evaluation.codec_quality import QualityMeter, mel_griffin_lim, summarize
from v2meow.tokenizers.acoustic import AcousticCodec, load_codec

EVAL_RATE = 16000
REFERENCE = "mel80+griffin-lim48 (no weights)"


def held_out_clips(data: Path, n: int) -> list[dict]:
    """The first `n` eval-split clips of `data/clips.json`, by id."""
    index = json.loads((data / "clips.json").read_text())["clips"]
    return sorted((c for c in index if c["split"] == "eval"), key=lambda c: c["id"])[:n]


def load_excerpts(data: Path, clips: list[dict], seconds: float) -> list[tuple[str, torch.Tensor]]:
    out = []
    for c in clips:
        wav, _ = media.read_audio(data / c["path"], sample_rate=EVAL_RATE, channels=1, duration=seconds)
        out.append((c["id"], wav[0]))  # [N]
    return out


def component_mb(path: Path) -> float:
    return round(sum(f.stat().st_size for f in path.iterdir() if f.is_file()) / 1e6, 2)


def decode_speed(codec: AcousticCodec, wav: torch.Tensor, repeats: int = 3) -> float:
    with torch.inference_mode():
        codes = codec.encode(wav[None], sample_rate=EVAL_RATE)  # [K, T]
        t = median_time(lambda: codec.decode(codes), repeats=repeats)
    return round(wav.shape[-1] / EVAL_RATE / t, 1)


def roundtrip(codec: AcousticCodec, wav: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        rec = codec.decode(codec.encode(wav[None], sample_rate=EVAL_RATE))  # [C, M] at codec rate
    rec = rec.mean(0).numpy()
    if codec.sample_rate != EVAL_RATE:
        rec = media.resample(rec[None], codec.sample_rate, EVAL_RATE)[0]
    return torch.from_numpy(rec).float()


def evaluate(codecs: dict[str, Path], data: Path, clips: int = 8, seconds: float = 10.0, log=print) -> dict:
    """Figures per system (each codec and the reference) over the held-out excerpts."""
    excerpts = load_excerpts(data, held_out_clips(data, clips), seconds)
    meter = QualityMeter(EVAL_RATE)
    systems: dict[str, dict] = {}
    for label, path in codecs.items():
        codec = load_codec(path)
        start = time.time()
        rows = [meter.measure(wav, roundtrip(codec, wav)) for _, wav in excerpts]
        systems[label] = {
            **summarize(rows),
            "decode_x_real_time_one_core": decode_speed(codec, excerpts[0][1]),
            "component_mb": component_mb(Path(path)),
            "codec_id": codec.codec_id,
            "per_clip": rows,
        }
        log(f"bench codec: {label} measured in {time.time() - start:.0f} s")
    start = time.time()
    rows = [meter.measure(wav, mel_griffin_lim(wav, EVAL_RATE)) for _, wav in excerpts]
    systems[REFERENCE] = {**summarize(rows), "per_clip": rows}
    log(f"bench codec: reference measured in {time.time() - start:.0f} s")
    return {"clips": [c for c, _ in excerpts], "seconds": seconds, "sample_rate": EVAL_RATE, "systems": systems}


def table(result: dict) -> str:
    lines = [
        f"Held-out clips: {len(result['clips'])} x {result['seconds']:g} s at {result['sample_rate']} Hz (eval split, ufoai).",
        "",
        "| system | LSD (lower) | flatness (orig) | abs flatness gap | chroma sim | mel distance | tempo dev (median) | decode x RT, 1 thread | MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, s in result["systems"].items():
        speed = s.get("decode_x_real_time_one_core", "-")
        lines.append(
            f"| {label} | {s['lsd']:.3f} | {s['flatness']:.3f} ({s['flatness_original']:.3f}) | {s['flatness_gap']:.3f} | "
            f"{s['chroma']:.3f} | {s['mel_distance']:.3f} | {s['tempo_deviation_median']:.3f} | {speed} | {s.get('component_mb', '-')} |"
        )
    return "\n".join(lines)


def run(codec: str = "checkpoints/demo/codec", data: str = "data/demo") -> dict:
    """`make bench` entry: the shipped codec vs the reference when the demo data and bundle exist."""
    pin_one_core()
    if not (Path(data) / "clips.json").is_file() or not Path(codec).is_dir():
        return {"codec_quality": {"skipped": f"needs {data}/clips.json and {codec}"}}
    result = evaluate({"shipped": Path(codec)}, Path(data), log=lambda m: print(m, file=sys.stderr))
    flat = {}
    for label, s in result["systems"].items():
        key = "codec_reference_mel_gl" if label == REFERENCE else "codec_quality_shipped"
        flat[key] = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in s.items() if k != "per_clip"}
    return {**flat, "machine": machine()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--codec",
        action="append",
        metavar="DIR[=LABEL]",
        help="codec component directory (repeatable; default checkpoints/demo/codec)",
    )
    p.add_argument("--data", default="data/demo", help="demo data folder (clips.json)")
    p.add_argument("--clips", type=int, default=8)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--json", help="also write the figures (with per-clip rows) to this JSON file")
    args = p.parse_args(argv)
    pin_one_core()
    codecs = {}
    for item in args.codec or ["checkpoints/demo/codec"]:
        path, _, label = item.partition("=")
        if not Path(path).is_dir():
            print(f"bench codec: error: {path}: no such codec directory", file=sys.stderr)
            return 2
        codecs[label or path] = Path(path)
    if not (Path(args.data) / "clips.json").is_file():
        print(f"bench codec: error: {args.data}/clips.json not found (make demo-data)", file=sys.stderr)
        return 2
    result = evaluate(codecs, Path(args.data), args.clips, args.seconds, log=lambda m: print(m, file=sys.stderr))
    result["machine"] = machine()
    print(table(result))
    if args.json:
        from v2meow.io import atomic_output

        with atomic_output(args.json) as tmp:
            tmp.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
