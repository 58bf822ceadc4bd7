"""A compact codec-training pack: 16 kHz mono FLAC excerpts of the demo's TRAINING tracks.

    python -m recipes.audio_pack --data data/demo --out .devpack/codec_audio --max-mb 35

Reads `tracks.json` of the demo data, keeps the tracks of the training split only (never
the held-out package), and writes `excerpts` evenly spaced excerpts of `seconds` from each
track, as `<package>/<track>-<i>.flac`, until the pack would exceed `--max-mb`. Excerpts
that are near-silent (peak below -40 dBFS) are skipped. Each file is written atomically.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from v2meow import media
from v2meow.errors import ConfigError


def build_pack(data: Path, out: Path, seconds: float, excerpts: int, max_mb: float, sample_rate: int = 16000) -> dict:
    index = data / "tracks.json"
    if not index.is_file():
        raise ConfigError(f"{index}: not found (build the demo data first)")
    tracks = [t for t in json.loads(index.read_text())["tracks"] if t["split"] == "train"]
    if not tracks:
        raise ConfigError(f"{index}: no training tracks")
    total, files, seen = 0, 0, 0.0
    budget = max_mb * 1e6
    for i in range(excerpts):  # round-robin over tracks so a smaller budget still covers every track
        for t in tracks:
            start = t["duration"] * (i + 0.5) / excerpts - seconds / 2
            if start < 0 or start + seconds > t["duration"]:
                continue
            wav, _ = media.read_audio(
                data / t["path"], sample_rate=sample_rate, channels=1, start=start, duration=seconds
            )
            if float(wav.abs().max()) < 0.01:
                continue
            path = out / t["package"] / f"{Path(t['path']).stem}-{i}.flac"
            path.parent.mkdir(parents=True, exist_ok=True)
            media.write_audio(path, wav, sample_rate)
            size = path.stat().st_size
            if total + size > budget:
                path.unlink()
                return {"files": files, "bytes": total, "seconds": seen}
            total, files, seen = total + size, files + 1, seen + wav.shape[-1] / sample_rate
    return {"files": files, "bytes": total, "seconds": seen}


def main(argv: list[str] | None = None) -> int:
    from v2meow.cli.common import parse, run

    p = argparse.ArgumentParser(
        prog="python -m recipes.audio_pack", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data", default="data/demo", help="demo data folder (with tracks.json)")
    p.add_argument("--out", default=".devpack/codec_audio", help="output folder")
    p.add_argument("--seconds", type=float, default=15.0, help="excerpt length")
    p.add_argument("--excerpts", type=int, default=3, help="excerpts per track")
    p.add_argument("--max-mb", type=float, default=35.0, help="size budget of the pack (MB)")
    args = parse(p, argv)

    def go() -> int:
        r = build_pack(Path(args.data), Path(args.out), args.seconds, args.excerpts, args.max_mb)
        print(f"audio_pack: {r['files']} files, {r['seconds'] / 60:.1f} min, {r['bytes'] / 1e6:.1f} MB in {args.out}")
        return 0

    return run("audio_pack", go, args=args)


if __name__ == "__main__":
    sys.exit(main())
