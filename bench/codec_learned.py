"""Benchmark: does a learned mel codec (`melae`) keep the notes? Judges on held-out music, per checkpoint.

On the first `--excerpts` steady-tempo eval clips of data/demo/clips.json (12 s of ufoai tracks, never trained
on, `bench/judges_excerpts.py`), rows:

- the original (44.1 kHz) and at 16 kHz;
- the unquantized 128-band log-mel (the codecs' own `LogMelFrames`) inverted the same way (pseudo-inverse +
  Griffin-Lim, `--gl-iters`): the ceiling of every mel codec here, so the gap to it is the quantizer's;
- the k-means mel codec (`--kmeans`, default the shipped `checkpoints/demo/codec`, preset mel128);
- each `--codec DIR[=LABEL]` (learned codecs, e.g. `runs/melae/v1/codec_step5000`), decoded with the same
  Griffin-Lim iterations (and, with `--coarse`, from its coarse levels alone);
- pink noise.

Columns: median note salience, note events/s and beat pulse (and % of the original's), median chroma similarity
against the original at 16 kHz, code entropy (bits) and perplexity per level over all excerpts, decode speed
(x real time, one thread, median of 3 on the first excerpt), weights MB. The rows that do not depend on the
learned codec are cached in `--baseline-cache` (delete it to measure them again).

    OMP_NUM_THREADS=1 PYTHONPATH=src .venv/bin/python bench/codec_learned.py \
        --codec runs/melae/v1/codec_step5000=melae-5k --json runs/melae/eval/step5000.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import median_time, save_json  # noqa: E402
from judges_excerpts import track_excerpts  # noqa: E402
from v2meow import media  # noqa: E402
from v2meow.evaluation import judges  # noqa: E402
from v2meow.evaluation.codec_quality import chroma_similarity  # noqa: E402
from v2meow.tokenizers.acoustic import AcousticCodec, load_codec  # noqa: E402
from v2meow.tokenizers.acoustic.vocos import LogMelFrames  # noqa: E402
from v2meow.training.melae import code_stats  # noqa: E402

RATE = 16000
JUDGED = ("note_salience", "note_events_per_second", "beat_pulse")


def judged(outs: list[np.ndarray], rate: int) -> dict:
    scores = [judges.judge_or_none(w, rate) for w in outs]
    return {
        k: (None if any(s[k] is None for s in scores) else float(np.median([s[k] for s in scores]))) for k in JUDGED
    }


def chroma(refs: list[np.ndarray], outs: list[np.ndarray]) -> float:
    return float(
        np.median([chroma_similarity(torch.from_numpy(r), torch.from_numpy(o), RATE) for r, o in zip(refs, outs)])
    )


def weights_mb(path: Path) -> float:
    return round((path / "model.safetensors").stat().st_size / 1e6, 2)


def codec_row(codec: AcousticCodec, path: Path, refs: list[np.ndarray], levels: int | None = None) -> dict:
    """Round trips of every excerpt (all levels, or the first `levels`), judged."""
    with torch.inference_mode():
        codes = [codec.encode(torch.from_numpy(r)[None], sample_rate=RATE) for r in refs]  # [K, T] each
        outs = [codec.decode(c[:levels], length=len(r)).mean(0).numpy() for c, r in zip(codes, refs)]
        speed = median_time(lambda: codec.decode(codes[0][:levels]), repeats=3)
    stats = code_stats(torch.cat(codes, dim=-1)[None], codec.codebook_size)
    return {**judged(outs, codec.sample_rate), "chroma": chroma(refs, outs), **stats,
            "decode_x_real_time_one_thread": round(len(refs[0]) / RATE / speed, 1),
            "weights_mb": weights_mb(path), "codec_id": codec.codec_id}  # fmt: skip


def baselines(ex, refs: list[np.ndarray], kmeans: Path, gl_iters: int, log=print) -> dict:
    rows = {"original (44.1 kHz)": judged([w.numpy() for _, w, _ in ex], ex[0][2])}
    rows["original (16 kHz)"] = {**judged(refs, RATE), "chroma": 1.0}
    front = LogMelFrames(RATE, 1024, 320, 128)
    with torch.inference_mode():
        outs = []
        for r in refs:
            n = len(r) // 320 * 320
            outs.append(np.pad(front.invert(front(torch.from_numpy(r[:n])[None, None]), gl_iters)[0].numpy(),
                               (0, len(r) - n)))  # fmt: skip
    rows[f"unquantized 128-band mel, GL{gl_iters}"] = {**judged(outs, RATE), "chroma": chroma(refs, outs)}
    log("bench: unquantized mel measured")
    codec = load_codec(kmeans)
    if hasattr(codec.config, "griffin_lim_iters"):
        codec.config = dataclasses.replace(codec.config, griffin_lim_iters=gl_iters)
    rows[f"k-means mel128 8x1024 ({kmeans}), GL{gl_iters}"] = codec_row(codec, kmeans, refs)
    log("bench: k-means codec measured")
    rows["pink noise"] = judged([judges.pink_noise(len(w), sr, seed=i) for i, (_, w, sr) in enumerate(ex)], ex[0][2])
    return rows


def table(systems: dict) -> str:
    orig = next(iter(systems.values()))
    pct = lambda k, s: "n/a" if s.get(k) is None else f"{s[k]:.3f} ({100 * s[k] / orig[k]:.0f} %)"  # noqa: E731
    lines = ["| system | note salience (% orig) | note events/s | beat pulse (% orig) | chroma | entropy bits per level "
             "| perplexity per level | decode x RT | MB |", "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for label, s in systems.items():
        ev = "n/a" if s.get("note_events_per_second") is None else f"{s['note_events_per_second']:.2f}"
        ch = f"{s['chroma']:.3f}" if "chroma" in s else "-"
        lines.append(f"| {label} | {pct('note_salience', s)} | {ev} | {pct('beat_pulse', s)} | {ch} | "
                     f"{s.get('entropy_bits', '-')} | {s.get('perplexity', '-')} | "
                     f"{s.get('decode_x_real_time_one_thread', '-')} | {s.get('weights_mb', '-')} |")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--codec", action="append", default=[], metavar="DIR[=LABEL]", help="learned codec (repeatable)")
    p.add_argument("--kmeans", default="checkpoints/demo/codec", help="the k-means mel codec to compare with")
    p.add_argument("--data", default="data/demo")
    p.add_argument("--excerpts", type=int, default=8)
    p.add_argument("--seconds", type=float, default=12.0)
    p.add_argument("--gl-iters", type=int, default=64)
    p.add_argument("--coarse", action="store_true", help="also judge each learned codec from its coarse levels")
    p.add_argument("--baseline-cache", default="runs/melae/eval/baselines.json")
    p.add_argument("--json", help="write the figures here")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    if not (Path(args.data) / "clips.json").is_file():
        log(f"bench codec_learned: error: {args.data}/clips.json not found")
        return 2
    start = time.time()
    ex = track_excerpts(Path(args.data), args.excerpts, args.seconds)
    refs = [media.resample(w.numpy()[None], sr, RATE)[0] for _, w, sr in ex]  # [N] at 16 kHz each
    cache = Path(args.baseline_cache)
    key = {"excerpts": [c for c, _, _ in ex], "gl_iters": args.gl_iters, "kmeans": args.kmeans}
    cached = json.loads(cache.read_text()) if cache.is_file() else {}
    if cached.get("key") == key:
        systems = dict(cached["systems"])
    else:
        systems = baselines(ex, refs, Path(args.kmeans), args.gl_iters, log)
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps({"key": key, "systems": systems}, indent=1))
    noise = systems.pop("pink noise")
    for item in args.codec:
        path, _, label = item.partition("=")
        codec = load_codec(path)
        codec.config = dataclasses.replace(codec.config, griffin_lim_iters=args.gl_iters)
        label = label or path
        c = codec.config  # a codec whose config asks for PGHI keeps it (`inversion: pghi`)
        phase = f"PGHI+{c.pghi_iters}" if getattr(c, "inversion", "") == "pghi" else f"GL{args.gl_iters}"
        systems[f"{label}, {phase}"] = codec_row(codec, Path(path), refs)
        if args.coarse:
            systems[f"{label}, coarse {codec.num_coarse} levels"] = codec_row(codec, Path(path), refs, codec.num_coarse)
        log(f"bench: {label} measured ({time.time() - start:.0f} s)")
    systems["pink noise"] = noise
    print(table(systems))
    save_json(args.json, {"excerpts": key["excerpts"], "seconds": args.seconds, "systems": systems})
    return 0


if __name__ == "__main__":
    sys.exit(main())
