"""Precompute the mel codec's log-mel frames of the TRAINING tracks once, for `v2meow.training.melae`.

Reads data/demo/tracks.json, takes the tracks of the train split (never the eval split), computes the
fixed `LogMelFrames` (16 kHz, hop 320 = 50 frames/s, n_fft 1024, 128 bands: preset `mel128`) of each
track, and writes `<out>/<package>__<name>.npy` (`[T, 128]` float16) plus `<out>/index.json` saying which
tracks are held out for validation (every `--val-every`-th track of each package, by id).

    OMP_NUM_THREADS=1 python -m recipes.melae_frames --data data/demo --out runs/melae/frames
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from v2meow import media
from v2meow.tokenizers.acoustic.vocos import LogMelFrames

SAMPLE_RATE, N_FFT, HOP, N_MELS = 16000, 1024, 320, 128


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="data/demo")
    p.add_argument("--out", default="runs/melae/frames")
    p.add_argument("--val-every", type=int, default=10, help="every n-th track of a package is validation")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    data, out = Path(args.data), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tracks = [t for t in json.loads((data / "tracks.json").read_text())["tracks"] if t["split"] == "train"]
    front = LogMelFrames(SAMPLE_RATE, N_FFT, HOP, N_MELS)
    index, start = [], time.time()
    by_package: dict[str, int] = {}
    for t in sorted(tracks, key=lambda t: t["id"]):
        n = by_package.get(t["package"], 0)
        by_package[t["package"]] = n + 1
        name = t["id"].replace("/", "__") + ".npy"
        if not (out / name).is_file():
            wav, _ = media.read_audio(data / t["path"], sample_rate=SAMPLE_RATE, channels=1)  # [1, N]
            with torch.no_grad():
                mel = front(wav[None])[0].T.numpy()  # [T, 128]
            np.save(out / name, mel.astype(np.float16))
        frames = int(np.load(out / name, mmap_mode="r").shape[0])
        index.append({"id": t["id"], "file": name, "frames": frames, "val": n % args.val_every == args.val_every - 1})
        print(f"{t['id']}: {frames} frames ({time.time() - start:.0f} s)", flush=True)
    (out / "index.json").write_text(json.dumps({"sample_rate": SAMPLE_RATE, "hop": HOP, "n_mels": N_MELS,
                                                 "n_fft": N_FFT, "tracks": index}, indent=1))  # fmt: skip
    val = sum(i["frames"] for i in index if i["val"])
    print(f"{len(index)} tracks, {sum(i['frames'] for i in index)} frames, {val} held out for validation")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
