"""Benchmark: phase reconstruction for the mel codec, Griffin-Lim vs PGHI, judged on held-out music.

On the 12-s held-out excerpts of `bench/codec.py` (ufoai tracks, `judges_excerpts.track_excerpts`),
resampled to 16 kHz, rows:

- the original at 16 kHz; pink noise (the judges' floor);
- the codec's 128-band log-mel, *unquantized* (`LogMelFrames`, hop 320, n_fft 1024), inverted by
  fast Griffin-Lim (32, 64 iterations, seeded random phase), by PGHI (`v2meow.signal.pghi`) alone
  and followed by a few Griffin-Lim iterations, and (`--pghipy PYTHON`: an interpreter that has the
  `pghipy` package, e.g. a scratch venv; a reference only, never a dependency) by pghipy's PGHI on
  the same magnitude and window;
- a codec component (`--codec`, default the shipped one) decoded as its config says and with
  `inversion: pghi`.

Columns: note salience and beat pulse (the judges' medians, also as % of the original's), chroma
similarity and log-spectral distance against the original (means), decode speed in x real time on
one thread (log-mel -> audio for the unquantized rows, codes -> audio for the codec rows, on the first
excerpt; every system timed once per round, rounds interleaved so that a shared machine's load hits
all alike, median of `--rounds`; pghipy: its phase time, numba-compiled, plus the inverse STFT).
`--speed-only` skips the judges and the spectral measures.

    .venv/bin/python bench/phase.py --json docs/figures/phase_reconstruction.json \\
        --pghipy /tmp/pghivenv/bin/python
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from codec import judged  # noqa: E402
from common import machine, median_time, pct, pin_one_core, save_json  # noqa: E402
from judges_excerpts import track_excerpts  # noqa: E402
from v2meow import media  # noqa: E402
from v2meow.evaluation import judges  # noqa: E402
from v2meow.evaluation.codec_quality import chroma_similarity, log_spectral_distance  # noqa: E402
from v2meow.tokenizers.acoustic import load_codec  # noqa: E402
from v2meow.tokenizers.acoustic.vocos import LogMelFrames  # noqa: E402

RATE, N_FFT, HOP, N_MELS = 16000, 1024, 320, 128
ORIGINAL = "original (16 kHz)"
PGHIPY = """
import sys, time, numpy as np, pghipy
d = np.load(sys.argv[1]); n_fft, hop = int(sys.argv[3]), int(sys.argv[4])
out = {}
for k in d.files:
    m = np.ascontiguousarray(d[k].T.astype(np.float64))  # [T, F]
    pghipy.pghi(m[:8], n_fft, hop, 0.25645 * n_fft**2, 1e-5)  # compile first
    t = time.perf_counter(); out[k] = pghipy.pghi(m, n_fft, hop, 0.25645 * n_fft**2, 1e-5).T
    out["time_" + k] = np.array(time.perf_counter() - t)
np.savez(sys.argv[2], **out)
"""


def spectral(refs: list[torch.Tensor], outs: list[torch.Tensor]) -> dict[str, float]:
    n = [min(r.numel(), o.numel()) for r, o in zip(refs, outs)]
    return {
        "chroma": float(np.mean([chroma_similarity(r[:k], o[:k], RATE) for r, o, k in zip(refs, outs, n)])),
        "lsd": float(np.mean([log_spectral_distance(r[:k], o[:k]) for r, o, k in zip(refs, outs, n)])),
    }


def row(refs: list[torch.Tensor], outs: list[torch.Tensor] | None) -> dict:
    if outs is None:  # --speed-only
        return {"note_salience": None, "beat_pulse": None, "chroma": float("nan"), "lsd": float("nan")}
    return {**judged([(o.numpy(), RATE) for o in outs]), **spectral(refs, outs)}


def interleaved_speeds(fns: dict[str, Callable[[], object]], seconds: float, rounds: int) -> dict[str, float]:
    """x real time of each `fn` (one call decodes `seconds` of audio): median over rounds, one call each per round."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():
        fn()  # warm-up
    for _ in range(rounds):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return {k: round(seconds / float(np.median(v)), 1) for k, v in times.items()}


def pghipy_rows(python: str, mags: list[torch.Tensor], lengths: list[int]) -> tuple[list[torch.Tensor], float]:
    """pghipy's phase for each magnitude `[F, T]`, in a separate interpreter; (signals, seconds of the first)."""
    with tempfile.TemporaryDirectory() as tmp:
        np.savez(f"{tmp}/in.npz", **{str(i): m.double().numpy() for i, m in enumerate(mags)})
        subprocess.run([python, "-c", PGHIPY, f"{tmp}/in.npz", f"{tmp}/out.npz", str(N_FFT), str(HOP)], check=True)
        got = np.load(f"{tmp}/out.npz")
        phases = [torch.from_numpy(got[str(i)]) for i in range(len(mags))]
        first = float(got["time_0"])
    window = torch.hann_window(N_FFT)
    outs = [
        torch.istft(torch.polar(m, p.float()), N_FFT, HOP, window=window, center=True, length=n)
        for m, p, n in zip(mags, phases, lengths)
    ]
    t = median_time(lambda: torch.istft(torch.polar(mags[0], phases[0].float()), N_FFT, HOP, window=window), 5)
    return outs, first + t


def evaluate(
    data: Path,
    codec_dir: Path,
    excerpts: int,
    seconds: float,
    pghipy: str | None,
    rounds: int = 5,
    speed_only: bool = False,
    log=print,
) -> dict:
    ex = track_excerpts(data, excerpts, seconds)
    refs = [torch.from_numpy(media.resample(w.numpy()[None], sr, RATE)[0]) for _, w, sr in ex]  # [N] each
    refs = [r[: r.numel() // HOP * HOP] for r in refs]
    secs = refs[0].numel() / RATE
    front = LogMelFrames(RATE, N_FFT, HOP, N_MELS)
    with torch.inference_mode():
        logmels = [front(r[None, None]) for r in refs]  # [1, M, T] each
    systems: dict[str, dict] = {ORIGINAL: row(refs, None if speed_only else refs)}
    timed: dict[str, Callable[[], object]] = {}
    extra: dict[str, float] = {}  # seconds measured elsewhere (pghipy's phase)

    def mel_row(label: str, iters: int, method: str) -> None:
        start = time.time()
        with torch.inference_mode():
            outs = None if speed_only else [front.invert(lm, iters, method)[0] for lm in logmels]
        systems[label] = row(refs, outs)
        timed[label] = lambda: front.invert(logmels[0], iters, method)
        log(f"bench phase: {label}: {time.time() - start:.0f} s")

    mel_row("mel128 unquantized, Griffin-Lim 32", 32, "griffin_lim")
    mel_row("mel128 unquantized, Griffin-Lim 64", 64, "griffin_lim")
    mel_row("mel128 unquantized, PGHI", 0, "pghi")
    for k in (4, 8):
        mel_row(f"mel128 unquantized, PGHI + Griffin-Lim {k}", k, "pghi")
    if pghipy:
        with torch.inference_mode():
            mels = [torch.exp(lm[0] * 4.0 - 5.0) for lm in logmels]  # [M, T]
            mags = [torch.nn.functional.pad((torch.linalg.pinv(front.fb) @ m).clamp(min=0.0), (0, 1), mode="replicate")
                    for m in mels]  # fmt: skip
        outs, t = pghipy_rows(pghipy, mags, [r.numel() for r in refs])
        systems["mel128 unquantized, PGHI (pghipy, reference)"] = row(refs, None if speed_only else outs)
        extra["mel128 unquantized, PGHI (pghipy, reference)"] = round(secs / t, 1)
    codec = load_codec(codec_dir)
    shipped = codec.config
    with torch.inference_mode():
        codes = [codec.encode(r[None], sample_rate=RATE) for r in refs]  # [K, T] each
    variants = [(f"codec {codec_dir}, {shipped.inversion} {shipped.griffin_lim_iters} (as shipped)", shipped)]
    variants += [(f"codec {codec_dir}, PGHI + Griffin-Lim {k}", dataclasses.replace(shipped, inversion="pghi",
                  pghi_iters=k)) for k in (0, 4, 8)]  # fmt: skip
    for label, config in variants:
        codec.config = config
        start = time.time()
        with torch.inference_mode():
            outs = None if speed_only else [codec.decode(c, length=r.numel()).mean(0) for c, r in zip(codes, refs)]
        systems[label] = row(refs, outs)

        def decode(config=config):
            codec.config = config
            return codec.decode(codes[0])

        timed[label] = decode
        log(f"bench phase: {label}: {time.time() - start:.0f} s")
    with torch.inference_mode():
        speeds = {**interleaved_speeds(timed, secs, rounds), **extra}
    codec.config = shipped
    for label, s in systems.items():
        s["decode_x_real_time_one_thread"] = speeds.get(label)
    noise = [torch.from_numpy(judges.pink_noise(r.numel(), RATE, seed=i)).float() for i, r in enumerate(refs)]
    systems["pink noise"] = {**row(refs, None if speed_only else noise), "decode_x_real_time_one_thread": None}
    return {"excerpts": [c for c, _, _ in ex], "seconds": seconds, "sample_rate": RATE, "systems": systems}


def table(result: dict) -> str:
    orig = result["systems"][ORIGINAL]
    lines = [
        "| audio | note salience (% of original) | beat pulse (% of original) | chroma | LSD | decode x RT, 1 thread |",
        "|---|---|---|---|---|---|",
    ]
    for label, s in result["systems"].items():
        speed = s["decode_x_real_time_one_thread"]
        lines.append(
            f"| {label} | {pct(s['note_salience'], orig['note_salience'])} | "
            f"{pct(s['beat_pulse'], orig['beat_pulse'])} | {s['chroma']:.3f} | {s['lsd']:.3f} | "
            f"{'-' if speed is None else speed} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="data/demo", help="demo data folder (clips.json, tracks.json)")
    p.add_argument("--codec", default="checkpoints/demo/codec", help="a mel codec component directory")
    p.add_argument("--excerpts", type=int, default=8)
    p.add_argument("--seconds", type=float, default=12.0)
    p.add_argument("--pghipy", metavar="PYTHON", help="an interpreter with pghipy installed: adds its reference row")
    p.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds (median)")
    p.add_argument("--speed-only", action="store_true", help="decode speeds only (no judges)")
    p.add_argument("--json", help="also write the figures to this JSON file")
    args = p.parse_args(argv)
    if not (Path(args.data) / "clips.json").is_file():
        print(f"bench phase: error: {args.data}/clips.json not found (make demo-data)", file=sys.stderr)
        return 2
    pin_one_core()
    result = evaluate(Path(args.data), Path(args.codec), args.excerpts, args.seconds, args.pghipy, args.rounds,
                      args.speed_only, log=lambda m: print(m, file=sys.stderr))  # fmt: skip
    result["machine"] = machine()
    print(table(result))
    save_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
