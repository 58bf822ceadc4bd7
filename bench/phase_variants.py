"""Benchmark: PGHI design choices for the mel codec, by spectral convergence (no judges; a few minutes).

On the held-out excerpts of `bench/phase.py` (16 kHz), the codec's 128-band log-mel, unquantized,
-> pseudo-inverse magnitude -> each variant; spectral convergence (dB, STFT 1024 / hop 256 against
the original, lower is better) and chroma similarity, means over excerpts:

- Griffin-Lim 8 / 32 / 64 (seeded random phase);
- PGHI on the codec's own grid (hop 320, redundancy 3.2) or on the magnitude interpolated to hop
  160 / 80 (`upsample` 2 / 4), each then inverted on its grid;
- PGHI then 2 / 4 / 8 / 16 fast Griffin-Lim iterations at hop 320;
- PGHI with other tolerances (`tol`: of the loudest coefficient; `frame_tol`: of each frame's).

    .venv/bin/python bench/phase_variants.py --json docs/figures/phase_variants.json
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, pin_one_core, save_json  # noqa: E402
from judges_excerpts import track_excerpts  # noqa: E402
from v2meow import media  # noqa: E402
from v2meow.evaluation.codec_quality import chroma_similarity  # noqa: E402
from v2meow.signal.griffin_lim import griffin_lim  # noqa: E402
from v2meow.signal.pghi import interpolate_frames, pghi, pghi_phase  # noqa: E402
from v2meow.tokenizers.acoustic.vocos import LogMelFrames  # noqa: E402

RATE, N_FFT, HOP = 16000, 1024, 320


def convergence_db(x: torch.Tensor, y: torch.Tensor) -> float:
    window = torch.hann_window(N_FFT)
    a = torch.stft(x, N_FFT, 256, window=window, return_complex=True).abs()
    b = torch.stft(y, N_FFT, 256, window=window, return_complex=True).abs()
    return float(20 * torch.log10(torch.linalg.norm(a - b) / torch.linalg.norm(a)))


def pghi_with(mag: torch.Tensor, length: int, upsample: int = 1, **tols) -> torch.Tensor:
    """PGHI on `mag` `[F, T]` interpolated `upsample` times, inverted on that grid."""
    hop = HOP // upsample
    fine = interpolate_frames(mag, upsample)  # [F, T']
    phase = torch.from_numpy(pghi_phase(fine.numpy(), N_FFT, hop, **tols)).float()
    return torch.istft(torch.polar(fine, phase), N_FFT, hop, window=torch.hann_window(N_FFT), length=length)


def gl(mag: torch.Tensor, length: int, iters: int) -> torch.Tensor:
    return griffin_lim(mag, N_FFT, HOP, length, iters=iters)


def pghi_gl(mag: torch.Tensor, length: int, iters: int) -> torch.Tensor:
    return pghi(mag, N_FFT, HOP, length, iters=iters)


VARIANTS = {
    **{f"Griffin-Lim {k}": partial(gl, iters=k) for k in (8, 32, 64)},
    **{f"PGHI, hop {HOP // u}": partial(pghi_with, upsample=u) for u in (1, 2, 4)},
    **{f"PGHI + Griffin-Lim {k}": partial(pghi_gl, iters=k) for k in (2, 4, 8, 16)},
    **{
        f"PGHI, tol {t:g}, frame_tol {ft:g}": partial(pghi_with, tol=t, frame_tol=ft)
        for t, ft in ((1e-5, 0.0), (1e-3, 1e-2), (1e-3, 3e-2), (1e-2, 0.0))
    },
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="data/demo")
    p.add_argument("--excerpts", type=int, default=8)
    p.add_argument("--json", help="also write the figures to this JSON file")
    args = p.parse_args(argv)
    if not (Path(args.data) / "clips.json").is_file():
        print(f"bench phase_variants: error: {args.data}/clips.json not found (make demo-data)", file=sys.stderr)
        return 2
    pin_one_core()
    ex = track_excerpts(Path(args.data), args.excerpts, 12.0)
    refs = [torch.from_numpy(media.resample(w.numpy()[None], sr, RATE)[0]) for _, w, sr in ex]
    refs = [r[: r.numel() // HOP * HOP] for r in refs]  # [N] each
    front = LogMelFrames(RATE, N_FFT, HOP, 128)
    with torch.inference_mode():
        mels = [torch.exp(front(r[None, None])[0] * 4.0 - 5.0) for r in refs]  # [M, T]
        mags = [torch.nn.functional.pad((torch.linalg.pinv(front.fb) @ m).clamp(min=0.0), (0, 1), mode="replicate")
                for m in mels]  # fmt: skip
        rows = {}
        for label, fn in VARIANTS.items():
            outs = [fn(m, r.numel()) for m, r in zip(mags, refs)]
            rows[label] = {
                "spectral_convergence_db": float(np.mean([convergence_db(r, o) for r, o in zip(refs, outs)])),
                "chroma": float(np.mean([chroma_similarity(r, o, RATE) for r, o in zip(refs, outs)])),
            }
    print("| variant | spectral convergence (dB) | chroma |\n|---|---|---|")
    for label, r in rows.items():
        print(f"| {label} | {r['spectral_convergence_db']:.2f} | {r['chroma']:.3f} |")
    save_json(args.json, {"excerpts": [c for c, _, _ in ex], "variants": rows, "machine": machine()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
