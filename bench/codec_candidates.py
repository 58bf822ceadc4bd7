"""Benchmark: which mel-codec design keeps the notes — candidates judged by two pretrained models.

Each candidate is a real `VocosCodec` (encoder `mel`, `inversion: griffin_lim`) with its own rate,
mel bands, STFT size and residual-VQ budget; its codebooks are fitted by residual k-means
(`v2meow.training.codebooks.fit_residual_codebooks`, as `v2meow-codec fit-mel` does) on frames
sampled from the TRAINING tracks (wesnoth, warzone2100). On 12-s excerpts of HELD-OUT ufoai tracks
read at their own 44.1 kHz, in one run: the original, the original at the codec's rate, each
candidate unquantized (mel -> Griffin-Lim) and quantized (the codec round trip), and pink noise,
judged by basic-pitch (note salience, note events/s) and madmom (beat pulse), plus chroma
similarity and log-spectral distance against the original at 16 kHz, decode speed (one thread)
and codebook usage per level.

    .venv/bin/python bench/codec_candidates.py --json runs/codec_study/candidates.json
    .venv/bin/python bench/codec_candidates.py --only mel128_16k --budgets 8x1024,12x1024

Needs the demo data (make demo-data) and the judges (make judges).
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, median_time, pin_one_core, save_json
from judges_excerpts import track_excerpts
from v2meow import media
from v2meow.evaluation import judges
from v2meow.evaluation.codec_quality import chroma_similarity, log_spectral_distance
from v2meow.tokenizers.acoustic import rvq
from v2meow.tokenizers.acoustic.vocos import VocosCodec, VocosCodecConfig
from v2meow.training.codebooks import fit_residual_codebooks

METRIC_RATE = 16000
#: name -> (sample_rate, hop_length, n_mels, mel_n_fft)
DESIGNS = {
    "mel80_16k": (16000, 320, 80, 1024),  # the shipped codec's front end
    "mel128_16k": (16000, 320, 128, 1024),
    "mel128_16k_fft2048": (16000, 320, 128, 2048),
    "mel128_24k": (24000, 480, 128, 1536),
    "mel160_24k": (24000, 480, 160, 1536),
}


def build(design: str, levels: int = 1, size: int = 2, gl_iters: int = 32) -> VocosCodec:
    sr, hop, mels, nfft = DESIGNS[design]
    cfg = VocosCodecConfig(
        sample_rate=sr,
        hop_length=hop,
        encoder="mel",
        n_mels=mels,
        mel_n_fft=nfft,
        num_quantizers=levels,
        codebook_size=size,
        num_coarse=1,
        inversion="griffin_lim",
        griffin_lim_iters=gl_iters,
        kmeans_init=False,
        backbone_dim=8,
        backbone_intermediate=8,
        backbone_layers=1,
    )
    return VocosCodec(cfg).eval()


def train_frames(data: Path, codec: VocosCodec, max_frames: int, seed: int = 0, log=print) -> np.ndarray:
    """Log-mel frames `[N, n_mels]` of every training track (subsampled to `max_frames`)."""
    tracks = [t for t in json.loads((data / "tracks.json").read_text())["tracks"] if t["split"] == "train"]
    frames, start = [], time.time()
    for t in tracks:
        wav, _ = media.read_audio(data / t["path"], sample_rate=codec.sample_rate, channels=1)  # [1, N]
        with torch.no_grad():
            frames.append(codec.encoder(wav[None])[0].T.numpy())  # [T, M]
    x = np.concatenate(frames)
    log(f"codec candidates: {len(x)} frames from {len(tracks)} training tracks in {time.time() - start:.0f} s")
    rng = np.random.default_rng(seed)
    return x[rng.choice(len(x), min(max_frames, len(x)), replace=False)]


def at_rate(wav: np.ndarray | torch.Tensor, src: int, dst: int) -> np.ndarray:
    x = wav.numpy() if isinstance(wav, torch.Tensor) else wav
    return media.resample(np.asarray(x, np.float32)[None], src, dst)[0]


def measure(ref16: np.ndarray, est: np.ndarray, rate: int) -> dict:
    """Judges on `est` at its own rate; chroma and LSD against the 16-kHz original."""
    e16 = at_rate(est, rate, METRIC_RATE)[: len(ref16)]
    e16 = np.pad(e16, (0, len(ref16) - len(e16)))
    r, e = torch.from_numpy(ref16), torch.from_numpy(e16)
    return {
        **judges.judge(est, rate).as_dict(),
        "chroma": chroma_similarity(r, e, METRIC_RATE),
        "lsd": log_spectral_distance(r, e),
    }


def usage(codec: VocosCodec, wavs: list[np.ndarray]) -> list[int]:
    """Distinct codes used per level on the held-out excerpts."""
    with torch.no_grad():
        codes = torch.cat([codec.encode(torch.from_numpy(w)[None, None])[0] for w in wavs], dim=-1)  # [K, T]
    return [int(torch.unique(c).numel()) for c in codes]


def median_row(rows: list[dict]) -> dict:
    return {k: float(np.median([r[k] for r in rows])) for k in rows[0]}


def run(
    data: Path,
    designs: list[str],
    budgets: list[tuple[int, int]],
    excerpts: int,
    max_frames: int,
    gl_iters: int = 32,
    log=print,
) -> dict:
    ex = track_excerpts(data, excerpts, 12.0)
    log(f"codec candidates: {len(ex)} held-out excerpts: {', '.join(c for c, _, _ in ex)}")
    ref16 = [at_rate(w, sr, METRIC_RATE) for _, w, sr in ex]
    systems: dict[str, dict] = {}

    def add(label: str, outputs: list[tuple[np.ndarray, int]], extra: dict | None = None) -> None:
        t = time.time()
        rows = [measure(r, e, rate) for r, (e, rate) in zip(ref16, outputs)]
        systems[label] = {**median_row(rows), **(extra or {}), "per_excerpt": rows}
        s = systems[label]
        log(
            f"  {label}: notes {s['note_salience']:.3f}, events/s {s['note_events_per_second']:.2f}, beat {s['beat_pulse']:.3f}, "
            f"chroma {s['chroma']:.3f}, lsd {s['lsd']:.3f} ({time.time() - t:.0f} s)"
        )

    add("original (44.1 kHz)", [(w.numpy(), sr) for _, w, sr in ex])
    add("pink noise", [(judges.pink_noise(len(w), sr, seed=i), sr) for i, (_, w, sr) in enumerate(ex)])
    for design in designs:
        probe = build(design, gl_iters=gl_iters)
        sr = probe.sample_rate
        wavs = [at_rate(w, r, sr) for _, w, r in ex]
        if f"original ({sr // 1000} kHz)" not in systems:
            add(f"original ({sr // 1000} kHz)", [(w, sr) for w in wavs])
        with torch.no_grad():
            outs = [
                probe.encoder.invert(probe.encoder(torch.from_numpy(w)[None, None]), probe.config.griffin_lim_iters)[
                    0
                ].numpy()
                for w in wavs
            ]
        add(f"{design} unquantized", [(o, sr) for o in outs])
        if not budgets:
            continue
        frames = train_frames(data, probe, max_frames, log=log)
        for levels, size in budgets:
            codec = build(design, levels, size, gl_iters)
            t = time.time()
            rvq.set_codebooks(codec.quantizer, fit_residual_codebooks(frames, levels, size))
            fit_s = time.time() - t
            with torch.no_grad():
                outs = [codec.decode(codec.encode(torch.from_numpy(w)[None, None]))[0, 0].numpy() for w in wavs]
                codes = codec.encode(torch.from_numpy(wavs[0])[None, None])
                speed = len(wavs[0]) / sr / median_time(functools.partial(codec.decode, codes), repeats=3)
            add(
                f"{design} {levels}x{size}",
                [(o, sr) for o in outs],
                {
                    "fit_seconds": round(fit_s),
                    "decode_x_real_time_one_core": round(speed, 1),
                    "codebook_usage": usage(codec, wavs),
                    "tokens_per_second": levels * codec.frame_rate,
                    "codebook_mb": round(levels * size * codec.config.n_mels * 4 / 1e6, 2),
                },
            )
    return {
        "excerpts": [c for c, _, _ in ex],
        "seconds": 12.0,
        "train_frames": max_frames,
        "griffin_lim_iters": gl_iters,
        "systems": systems,
    }


def table(result: dict) -> str:
    ref = result["systems"]["original (44.1 kHz)"]
    lines = [
        "| system | note salience (% of original) | note events/s | beat pulse (% of original) | chroma | LSD | decode x RT | usage per level |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, s in result["systems"].items():
        lines.append(
            f"| {label} | {s['note_salience']:.3f} ({100 * s['note_salience'] / ref['note_salience']:.0f} %) | "
            f"{s['note_events_per_second']:.2f} | {s['beat_pulse']:.3f} ({100 * s['beat_pulse'] / ref['beat_pulse']:.0f} %) | "
            f"{s['chroma']:.3f} | {s['lsd']:.3f} | {s.get('decode_x_real_time_one_core', '-')} | "
            f"{s.get('codebook_usage', '-')} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="data/demo")
    p.add_argument("--only", help=f"comma-separated designs (default all: {', '.join(DESIGNS)})")
    p.add_argument(
        "--budgets", default="", help="comma-separated LEVELSxSIZE residual-VQ budgets to fit, e.g. 8x1024,12x1024"
    )
    p.add_argument("--excerpts", type=int, default=8)
    p.add_argument("--max-frames", type=int, default=200_000, help="training frames the k-means sees")
    p.add_argument("--gl-iters", type=int, default=32, help="Griffin-Lim iterations of every candidate")
    p.add_argument("--json", help="also write the figures (with per-excerpt rows) here")
    args = p.parse_args(argv)
    pin_one_core()
    missing = {k: v for k, v in judges.available().items() if v}
    if missing:
        print(f"codec candidates: error: {'; '.join(missing.values())}", file=sys.stderr)
        return 2
    designs = args.only.split(",") if args.only else list(DESIGNS)
    unknown = [d for d in designs if d not in DESIGNS]
    if unknown:
        print(f"codec candidates: error: unknown design(s) {', '.join(unknown)}", file=sys.stderr)
        return 2
    budgets = [tuple(int(v) for v in b.split("x")) for b in args.budgets.split(",") if b]
    result = run(
        Path(args.data),
        designs,
        budgets,
        args.excerpts,
        args.max_frames,
        args.gl_iters,
        log=lambda m: print(m, file=sys.stderr, flush=True),
    )
    result["machine"] = machine()
    print(table(result))
    save_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
