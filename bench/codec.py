"""Benchmark: what a codec round trip keeps of held-out music, judged by two pretrained models.

On 12-s excerpts of HELD-OUT music (ufoai tracks, never trained on; the first `--excerpts`
eval clips of data/demo/clips.json with a steady tempo, read from the original 44.1-kHz track
files), in one run:

- rows: the original at its own rate, the original at 16 kHz, each codec's round trip, the
  weight-free 80-band mel + Griffin-Lim (48 iterations) reference, and pink noise;
- the judges (`v2meow.evaluation.judges`, `make judges`): note salience and note events per
  second (basic-pitch), beat pulse (madmom), each also as % of the original's;
- against the original at 16 kHz: log-spectral distance, spectral flatness gap, chroma
  similarity, multi-scale mel distance, tempo deviation (`v2meow.evaluation.codec_quality`);
- per codec: decode speed (x real time, one thread), component size, distinct codes per level.

    .venv/bin/python bench/codec.py                                  # the shipped demo codec
    .venv/bin/python bench/codec.py --codec runs/demo_v3/codec_mel128=mel128 --codec checkpoints/demo/codec=shipped
    .venv/bin/python bench/codec.py --json runs/codec.json           # table on stdout, figures in JSON

Targets (issue 25): note salience >= 90 % of the original's, beat pulse >= 95 %, LSD no worse
than the mel80 + Griffin-Lim reference, chroma >= 0.95, decode >= 20x real time on one core,
component <= 12 MB. Without the judges installed their columns say "n/a".
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, median_time, pct, pin_one_core, save_json  # noqa: E402
from judges_excerpts import track_excerpts  # noqa: E402
from v2meow import media  # noqa: E402
from v2meow.evaluation import judges  # noqa: E402
from v2meow.evaluation.codec_quality import QualityMeter, mel_griffin_lim, summarize  # noqa: E402
from v2meow.tokenizers.acoustic import AcousticCodec, load_codec  # noqa: E402

EVAL_RATE = 16000
REFERENCE = "mel80+griffin-lim48 (no weights)"
ORIGINAL = "original (44.1 kHz)"
JUDGED = ("note_salience", "note_events_per_second", "beat_pulse")


def component_mb(path: Path) -> float:
    return round(sum(f.stat().st_size for f in path.iterdir() if f.is_file()) / 1e6, 2)


def decode_speed(codec: AcousticCodec, wav: torch.Tensor, repeats: int = 3) -> float:
    with torch.inference_mode():
        codes = codec.encode(wav[None], sample_rate=EVAL_RATE)  # [K, T]
        t = median_time(lambda: codec.decode(codes), repeats=repeats)
    return round(wav.shape[-1] / EVAL_RATE / t, 1)


def roundtrip(codec: AcousticCodec, wav: np.ndarray, rate: int) -> np.ndarray:
    """Mono `[N]` at `rate` -> the codec's reconstruction `[M]` at the codec's rate."""
    x = torch.from_numpy(media.resample(wav[None], rate, codec.sample_rate))  # [1, M]
    with torch.inference_mode():
        return codec.decode(codec.encode(x, sample_rate=codec.sample_rate), length=x.shape[-1]).mean(0).numpy()  # [M]


def usage(codec: AcousticCodec, wavs: list[np.ndarray]) -> list[int]:
    with torch.inference_mode():
        codes = torch.cat(
            [codec.encode(torch.from_numpy(w)[None], sample_rate=EVAL_RATE) for w in wavs], dim=-1
        )  # [K, T]
    return [int(torch.unique(c).numel()) for c in codes]


def judged(rows: list[tuple[np.ndarray, int]]) -> dict[str, float | None]:
    """Median judges' scores over excerpts (None without the extra)."""
    scores = [judges.judge_or_none(w, sr) for w, sr in rows]
    return {
        k: (None if any(s[k] is None for s in scores) else float(np.median([s[k] for s in scores]))) for k in JUDGED
    }


def evaluate(codecs: dict[str, Path], data: Path, excerpts: int = 8, seconds: float = 12.0, log=print) -> dict:
    """Figures per system over the held-out excerpts."""
    ex = track_excerpts(data, excerpts, seconds)
    refs = [media.resample(w.numpy()[None], sr, EVAL_RATE)[0] for _, w, sr in ex]  # [N] each at 16 kHz
    meter = QualityMeter(EVAL_RATE)
    systems: dict[str, dict] = {
        ORIGINAL: judged([(w.numpy(), sr) for _, w, sr in ex]),
        "original (16 kHz)": judged([(r, EVAL_RATE) for r in refs]),
    }
    for label, path in codecs.items():
        codec = load_codec(path)
        start = time.time()
        outs = [roundtrip(codec, r, EVAL_RATE) for r in refs]
        at16 = [media.resample(o[None], codec.sample_rate, EVAL_RATE)[0] for o in outs]
        rows = [meter.measure(torch.from_numpy(r), torch.from_numpy(o)) for r, o in zip(refs, at16)]
        systems[label] = {**judged([(o, codec.sample_rate) for o in outs]), **summarize(rows),
                          "decode_x_real_time_one_core": decode_speed(codec, torch.from_numpy(refs[0])),
                          "component_mb": component_mb(Path(path)), "codec_id": codec.codec_id,
                          "codebook_usage": usage(codec, refs), "per_excerpt": rows}  # fmt: skip
        log(f"bench codec: {label} measured in {time.time() - start:.0f} s")
    outs = [mel_griffin_lim(torch.from_numpy(r), EVAL_RATE).numpy() for r in refs]
    rows = [meter.measure(torch.from_numpy(r), torch.from_numpy(o)) for r, o in zip(refs, outs)]
    systems[REFERENCE] = {**judged([(o, EVAL_RATE) for o in outs]), **summarize(rows), "per_excerpt": rows}
    systems["pink noise"] = judged([(judges.pink_noise(len(w), sr, seed=i), sr) for i, (_, w, sr) in enumerate(ex)])
    return {"excerpts": [c for c, _, _ in ex], "seconds": seconds, "sample_rate": EVAL_RATE, "systems": systems}


def table(result: dict) -> str:
    orig = result["systems"][ORIGINAL]
    lines = [
        f"Held-out excerpts: {len(result['excerpts'])} x {result['seconds']:g} s (ufoai tracks); spectral measures at "
        f"{result['sample_rate']} Hz against the original; judges' figures are medians.",
        "",
        "| system | note salience (% of original) | note events/s | beat pulse (% of original) | LSD | abs flatness gap | "
        "chroma | mel distance | tempo dev | decode x RT, 1 thread | MB | codes used per level |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, s in result["systems"].items():
        spectral = (f"{s['lsd']:.3f} | {s['flatness_gap']:.3f} | {s['chroma']:.3f} | {s['mel_distance']:.3f} | "
                    f"{s['tempo_deviation_median']:.3f}") if "lsd" in s else "- | - | - | - | -"  # fmt: skip
        lines.append(
            f"| {label} | {pct(s['note_salience'], orig['note_salience'])} | {pct(s['note_events_per_second'], None, 2)} | "
            f"{pct(s['beat_pulse'], orig['beat_pulse'])} | {spectral} | {s.get('decode_x_real_time_one_core', '-')} | "
            f"{s.get('component_mb', '-')} | {s.get('codebook_usage', '-')} |"
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
        key = {REFERENCE: "codec_reference_mel_gl", "shipped": "codec_quality_shipped"}.get(label, f"codec_{label}")
        flat[key] = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in s.items() if k != "per_excerpt"}
    return {**flat, "machine": machine()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--codec", action="append", metavar="DIR[=LABEL]",
                   help="codec component directory (repeatable; default checkpoints/demo/codec)")  # fmt: skip
    p.add_argument("--data", default="data/demo", help="demo data folder (clips.json, tracks.json)")
    p.add_argument("--excerpts", type=int, default=8)
    p.add_argument("--seconds", type=float, default=12.0)
    p.add_argument("--json", help="also write the figures (with per-excerpt rows) to this JSON file")
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
    result = evaluate(codecs, Path(args.data), args.excerpts, args.seconds, log=lambda m: print(m, file=sys.stderr))
    result["machine"] = machine()
    print(table(result))
    save_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
