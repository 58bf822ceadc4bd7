"""The audio-only cache that stage 2 on the issue-34 tokens trains from (configs/demo/v4/stage2_maskgit.yaml).

    python -m recipes.stage2_v4 [--data data/demo] [--out runs/s2v4] [--semantic checkpoints/semantic_v4]

Writes `<out>/manifest.csv` (one audio-only row per training track: the 71 tracks of the two training
packages, the same 6 held out as `valid` as demo recipe 3, `recipes.bundle.held_out_tracks`; the eval
package never appears) and prepares `<out>/cache` with `v2meow-prepare --features none --rhythm`: the
semantic tokens of `--semantic`, the codes of the demo bundle's codec, and the rhythm channel, in 30-s
clips (775 items, 6.2 h of music; 4 min on one core). Rerunning resumes; a finished cache is left alone.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from recipes.bundle import TRAIN_PACKAGES, _cli, _run, held_out_tracks, row_split, write_manifest_csv


def write_manifest(data: Path, path: Path) -> dict[str, int]:
    """The audio-only manifest of the training tracks -> rows per split."""
    tracks = json.loads((data / "tracks.json").read_text())["tracks"]
    valid = held_out_tracks(tracks)
    rows = [
        {"video": "", "audio": str((data / t["path"]).resolve()), "caption": "", "split": row_split(t["package"], t["id"], valid)}
        for t in sorted(tracks, key=lambda t: t["id"])
        if t["package"] in TRAIN_PACKAGES
    ]  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    write_manifest_csv(path, rows)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["split"]] = counts.get(r["split"], 0) + 1
    return counts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m recipes.stage2_v4", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data", default="data/demo", help="the demo data (python -m recipes.demo_data)")
    p.add_argument("--out", default="runs/s2v4")
    p.add_argument("--semantic", default="checkpoints/semantic_v4", help="semantic tokenizer directory")
    p.add_argument("--codec", default="checkpoints/demo/codec", help="codec directory")
    args = p.parse_args(argv)
    data, out = Path(args.data), Path(args.out)
    if not (data / "tracks.json").is_file():
        print(f"recipes.stage2_v4: {data}/tracks.json not found; fetch the demo data first", file=sys.stderr)
        return 2
    counts = write_manifest(data, out / "manifest.csv")
    print(f"recipes.stage2_v4: {out / 'manifest.csv'}: {counts}", file=sys.stderr)
    _run(
        _cli(
            "v2meow.cli.prepare", "--input", str(out / "manifest.csv"), "--out", str(out / "cache"),
            "--features", "none", "--semantic", args.semantic, "--codec", args.codec, "--rhythm",
            "--keep-audio", "16000", "--workers", "1", "--threads", "1", "--report", str(out / "prepare.json"),
        )
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
