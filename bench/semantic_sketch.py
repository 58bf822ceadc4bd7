"""Benchmark: what semantic tokens say about the music, on held-out music (docs/tokens.md, "Semantic tokens").

For each tokenizer directory (with its `frames.safetensors`, see `v2meow-tokenizer frames`):

(a) how much of the codec's first coarse level the token pins down, on all held-out clips
    (the eval split of data/demo/clips.json: ufoai, never trained on). Codec level 1 = the first
    level of `--codec`'s codes (50 Hz); each 25-Hz token is paired with its 2 codec frames.
    - `H(L1)`, `H(L1|S)`: plug-in entropies in bits with the Miller-Madow correction
      (`(bins - 1) / (2 n ln 2)` per term), and the raw plug-in `H(L1|S)` (biased low);
    - `xent(L1|S)`: held-out cross-entropy, bits per codec frame, of `p(L1 | S)` counted on the
      training clips (`--train-audio`) and smoothed towards the training marginal of L1
      (Dirichlet, `ALPHA` pseudo-counts): what a model of L1 given the token could achieve,
      free of the plug-in estimate's small-sample bias. `xent(L1)`: the same for the marginal;
    - tokens used and the token entropy H(S).
(b) the *semantic sketch* (audio -> tokens -> average codec frames -> the codec's inversion) on the
    8 held-out excerpts of `bench/judges_excerpts.py`: note salience and beat pulse (the pretrained
    judges, medians), chroma similarity and LSD against the original at 16 kHz (means); beside
    them the original, the codec round trip and pink noise.
Plus each tokenizer's encode speed (x real time, one thread, a 12-s excerpt) and size.

    OMP_NUM_THREADS=1 .venv/bin/python bench/semantic_sketch.py \\
        --tokenizer runs/semantic_v4/shipped_mel=shipped-mel --tokenizer checkpoints/semantic_v4=mel-pitch \\
        --json docs/figures/semantic_tokens.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, median_time, save_json  # noqa: E402
from judges_excerpts import track_excerpts  # noqa: E402
from v2meow import media  # noqa: E402
from v2meow.evaluation import judges  # noqa: E402
from v2meow.evaluation.codec_quality import QualityMeter  # noqa: E402
from v2meow.tokenizers.acoustic import load_codec  # noqa: E402
from v2meow.tokenizers.semantic import SemanticTokenizer, load_token_frames, sketch  # noqa: E402
from v2meow.tokenizers.semantic.frames import frames_per_token  # noqa: E402

RATE = 16000
ALPHA = 4.0  # Dirichlet pseudo-counts of p(L1 | S) towards the training marginal
JUDGED = ("note_salience", "note_events_per_second", "beat_pulse")


def entropy_bits(counts: np.ndarray, miller_madow: bool = True) -> float:
    """Plug-in entropy of a count vector in bits (+ the Miller-Madow bias correction)."""
    c = counts[counts > 0].astype(np.float64)
    n = c.sum()
    h = float(-(c / n * np.log2(c / n)).sum())
    return h + ((len(c) - 1) / (2 * n * math.log(2)) if miller_madow else 0.0)


def conditional_entropy(pairs: np.ndarray, k_s: int, k_l: int, miller_madow: bool = True) -> float:
    """H(L | S) = H(S, L) - H(S) from `pairs [n, 2]` (s, l)."""
    joint = np.bincount(pairs[:, 0] * k_l + pairs[:, 1], minlength=k_s * k_l)
    return entropy_bits(joint, miller_madow) - entropy_bits(np.bincount(pairs[:, 0], minlength=k_s), miller_madow)


def cross_entropy(train: np.ndarray, test: np.ndarray, k_s: int, k_l: int) -> tuple[float, float]:
    """Held-out bits per frame of L under p(L | S) and p(L) counted on `train` pairs (smoothed)."""
    marg = np.bincount(train[:, 1], minlength=k_l) + 0.5
    marg = marg / marg.sum()  # [k_l]
    joint = np.bincount(train[:, 0] * k_l + train[:, 1], minlength=k_s * k_l).reshape(k_s, k_l).astype(np.float64)
    cond = (joint + ALPHA * marg) / (joint.sum(1, keepdims=True) + ALPHA)  # [k_s, k_l]
    return float(-np.log2(cond[test[:, 0], test[:, 1]]).mean()), float(-np.log2(marg[test[:, 1]]).mean())


def split_clips(data: Path, split: str) -> list[Path]:
    clips = json.loads((data / "clips.json").read_text())["clips"]
    return [data / c["path"] for c in sorted(clips, key=lambda c: c["id"]) if c["split"] == split]


def level1(codec, wavs: list[torch.Tensor]) -> list[np.ndarray]:
    with torch.inference_mode():
        return [codec.encode(w[None], sample_rate=RATE)[0].numpy() for w in wavs]  # [Tc] each


def token_pairs(tok: SemanticTokenizer, codec, wavs: list[torch.Tensor], codes: list[np.ndarray]) -> np.ndarray:
    """(token, level-1 code) of every codec frame under a token: `[n, 2]`."""
    s = frames_per_token(tok, codec)
    out = []
    for w, c in zip(wavs, codes):
        tokens = tok.encode(w, RATE).numpy()  # [T]
        t = min(len(tokens), len(c) // s)
        out.append(np.stack([np.repeat(tokens[:t], s), c[: t * s]], 1))
    return np.concatenate(out)


def read_all(paths: list[Path]) -> list[torch.Tensor]:
    return [media.read_audio(p, sample_rate=RATE, channels=1)[0][0] for p in paths]


def judged(rows: list[np.ndarray]) -> dict:
    """Medians of the judges' scores over excerpts, the beat pulse's mean and per-excerpt values beside."""
    scores = [judges.judge_or_none(w, RATE) for w in rows]
    out: dict = {
        k: (None if any(s[k] is None for s in scores) else float(np.median([s[k] for s in scores]))) for k in JUDGED
    }
    beats = [s["beat_pulse"] for s in scores]
    out["beat_pulse_per_excerpt"] = beats
    out["beat_pulse_mean"] = None if None in beats else float(np.mean(beats))
    return out


def spectral(meter: QualityMeter, refs: list[np.ndarray], outs: list[np.ndarray]) -> dict[str, float]:
    rows = [meter.measure(torch.from_numpy(r), torch.from_numpy(o)) for r, o in zip(refs, outs)]
    return {k: float(np.mean([r[k] for r in rows])) for k in ("chroma", "lsd")}


def dir_mb(path: Path) -> float:
    return round(sum(f.stat().st_size for f in path.iterdir() if f.is_file()) / 1e6, 3)


def evaluate(tokenizers: dict[str, Path], codec_dir: Path, data: Path, train_audio: list[Path], log=print) -> dict:
    codec = load_codec(codec_dir).eval()
    k_l = codec.codebook_size
    held = read_all(split_clips(data, "eval"))
    train = read_all(train_audio)
    log(f"semantic sketch: {len(held)} held-out clips, {len(train)} training clips read")
    held_codes, train_codes = level1(codec, held), level1(codec, train)
    h_l1 = entropy_bits(np.bincount(np.concatenate(held_codes), minlength=k_l))
    ex = track_excerpts(data, 8, 12.0)
    refs = [media.resample(w.numpy()[None], sr, RATE)[0] for _, w, sr in ex]  # [N] each, 16 kHz
    meter = QualityMeter(RATE)
    with torch.inference_mode():
        rt = [codec.decode(codec.encode(torch.from_numpy(r)[None], sample_rate=RATE), length=len(r)).mean(0).numpy()
              for r in refs]  # fmt: skip
    systems: dict[str, dict] = {
        "original (16 kHz)": judged(refs),
        "codec round trip": {**judged(rt), **spectral(meter, refs, rt)},
        "pink noise": judged([judges.pink_noise(len(r), RATE, seed=i) for i, r in enumerate(refs)]),
    }
    log("semantic sketch: references judged")
    rows = {}
    for label, path in tokenizers.items():
        start = time.time()
        tok = SemanticTokenizer.from_pretrained(path).eval()
        table = load_token_frames(path, tok.vocab_size)
        k_s = tok.vocab_size
        test = token_pairs(tok, codec, held, held_codes)
        fit = token_pairs(tok, codec, train, train_codes)
        xent, xent_marg = cross_entropy(fit, test, k_s, k_l)
        used = np.bincount(test[::2, 0], minlength=k_s)
        sketches = [sketch(tok, table, codec, torch.from_numpy(r), RATE).numpy() for r in refs]
        speed = len(refs[0]) / RATE / median_time(lambda t=tok: t.encode(torch.from_numpy(refs[0]), RATE), repeats=3)
        rows[label] = {
            "backbone": tok.config.backbone,
            "k": k_s,
            "H_L1_given_S": conditional_entropy(test, k_s, k_l),
            "H_L1_given_S_plugin": conditional_entropy(test, k_s, k_l, miller_madow=False),
            "xent_L1_given_S": xent,
            "xent_L1": xent_marg,
            "H_S": entropy_bits(used),
            "tokens_used": int((used > 0).sum()),
            "sketch": {**judged(sketches), **spectral(meter, refs, sketches)},
            "encode_x_real_time_one_thread": round(speed, 1),
            "mb_with_frames": dir_mb(Path(path)),
        }
        log(f"semantic sketch: {label} measured in {time.time() - start:.0f} s")
    return {
        "held_out_clips": len(held),
        "held_out_codec_frames": int(sum(len(c) for c in held_codes)),
        "training_clips": len(train),
        "excerpts": [c for c, _, _ in ex],
        "codec": str(codec_dir),
        "H_L1": h_l1,
        "H_L1_plugin": entropy_bits(np.bincount(np.concatenate(held_codes), minlength=k_l), miller_madow=False),
        "references": systems,
        "tokenizers": rows,
    }


def _f(v: float | None, digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def table(result: dict) -> str:
    ref = result["references"]
    rt_beat = ref["codec round trip"]["beat_pulse"]
    base = next(iter(result["tokenizers"].values()))
    lines = [
        f"H(L1) on held-out music: {result['H_L1']:.2f} bits ({result['held_out_codec_frames']} codec frames of "
        f"{result['held_out_clips']} clips). References (8 excerpts): "
        + "; ".join(
            f"{k}: notes {_f(v['note_salience'])}, beat {_f(v['beat_pulse'])}"
            + (f", chroma {_f(v['chroma'])}" if "chroma" in v else "")
            for k, v in ref.items()
        ),
        "",
        "| tokenizer | K | H(L1 given S), bits (vs first row) | plug-in | xent(L1 given S) / xent(L1) (vs first row) | "
        "H(S) | tokens used | sketch notes | sketch beat, median (% of round trip) | beat, mean | sketch chroma | "
        "sketch LSD | encode x RT | MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, r in result["tokenizers"].items():
        s = r["sketch"]
        rel = 100 * (r["H_L1_given_S"] / base["H_L1_given_S"] - 1)
        rel_x = 100 * (r["xent_L1_given_S"] / base["xent_L1_given_S"] - 1)
        beat = (
            f"{_f(s['beat_pulse'])} ({100 * s['beat_pulse'] / rt_beat:.0f} %)" if s["beat_pulse"] and rt_beat else "n/a"
        )
        lines.append(
            f"| {label} ({r['backbone']}) | {r['k']} | {r['H_L1_given_S']:.2f} ({rel:+.0f} %) | "
            f"{r['H_L1_given_S_plugin']:.2f} | {r['xent_L1_given_S']:.2f} / {r['xent_L1']:.2f} ({rel_x:+.0f} %) | "
            f"{r['H_S']:.2f} | {r['tokens_used']} | {_f(s['note_salience'])} | {beat} | {_f(s['beat_pulse_mean'])} | "
            f"{_f(s['chroma'])} | {_f(s['lsd'])} | "
            f"{r['encode_x_real_time_one_thread']} | {r['mb_with_frames']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tokenizer", action="append", required=True, metavar="DIR[=LABEL]",
                   help="tokenizer directory with frames.safetensors (repeatable; the first is the baseline)")  # fmt: skip
    p.add_argument("--codec", default="checkpoints/demo/codec", help="the mel codec whose level 1 is predicted")
    p.add_argument("--data", default="data/demo", help="demo data folder (clips.json, tracks.json)")
    p.add_argument("--train-audio", default=None, help="training clips (default: the train split of clips.json)")
    p.add_argument("--json", help="also write the figures to this JSON file")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    data = Path(args.data)
    if not (data / "clips.json").is_file():
        print(f"bench semantic_sketch: error: {data}/clips.json not found (make demo-data)", file=sys.stderr)
        return 2
    tokenizers = {}
    for item in args.tokenizer:
        path, _, label = item.partition("=")
        tokenizers[label or path] = Path(path)
    train = split_clips(data, "train")
    if args.train_audio:
        from v2meow.cli.tokenizer import find_audio

        train = find_audio(args.train_audio)
    result = evaluate(tokenizers, Path(args.codec), data, train, log=lambda m: print(m, file=sys.stderr))
    result["machine"] = machine()
    print(table(result))
    save_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
