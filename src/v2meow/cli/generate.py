"""`v2meow-generate`: write a soundtrack for a video (or a folder of videos)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from v2meow.cli.common import run
from v2meow.errors import ConfigError, V2MeowError
from v2meow.resources import default_bundle, resolve_bundle

__all__ = ["default_bundle", "main"]  # default_bundle: re-exported for make demo (python -m v2meow.demo)

VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi"}

DESCRIPTION = """\
Generate music for a silent video with V2Meow's three stages, optionally steered by a
short text, and write it muxed into a copy of the video (.mp4/.mkv/.mov: the video stream
is copied, not re-encoded) or as audio only (.wav/.flac). The music lasts exactly as long
as the video. Without --bundle: $V2MEOW_BUNDLE, else the demo bundle (the repository's
checkpoints/demo, or the copy installed with the package).

examples:
  v2meow-generate --video clip.mp4 --out clip_music.mp4
  v2meow-generate --video clip.mp4 --text "drum and bass" --num-samples 4 --out outdir/
  v2meow-generate --video-dir videos/ --out-dir soundtracks/     # skips done and bad files
"""


def _floats(text: str, name: str, count: int = 3) -> tuple:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"--{name} expects numbers separated by commas, got '{text}'") from None
    if len(values) == 1:
        values = values * count
    if len(values) != count:
        raise ConfigError(f"--{name} expects 1 or {count} values, got {len(values)}")
    return values


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="v2meow-generate", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--video", help="input video")
    src.add_argument("--video-dir", help="folder of videos (with --out-dir)")
    p.add_argument("--out", help="output .mp4/.mkv/.mov (muxed), .wav/.flac (audio), or a directory (both); default: <video>_v2meow.mp4 here")
    p.add_argument("--out-dir", help="output folder for --video-dir")
    p.add_argument("--text", help='style prompt, e.g. "drum and bass" (needs a bundle with a style embedder)')
    p.add_argument("--bundle", help="bundle directory (default: the shipped demo bundle)")
    p.add_argument("--seed", type=int, default=0, help="random seed: same seed and inputs give identical audio (default 0)")
    p.add_argument("--temperatures", help="per-stage temperatures, default from the bundle (paper: 1.0,0.95,0.4)")
    p.add_argument("--top-k", help="top-k per stage (one value or three; 0 = off)")
    p.add_argument("--top-p", help="top-p per stage (one value or three; 1 = off)")
    p.add_argument("--cfg", help="classifier-free guidance scale per stage (one value or three; 1 = off)")
    p.add_argument("--num-samples", type=int, help="candidates per video; with --text they are ranked by text similarity")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where to run (default cpu)")
    p.add_argument("--cuda-graphs", action="store_true", help="with --device cuda: replay each decode step as a captured CUDA graph (faster)")
    p.add_argument("--dtype", default="float32", choices=["float32", "bf16"],
                   help="weights of the three stages (bf16: --device cuda only; they run under bf16 autocast there anyway)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p.parse_args(argv)


def _overrides(args: argparse.Namespace) -> dict:
    o = {"seed": args.seed, "num_samples": args.num_samples}
    if args.temperatures:
        o["temperatures"] = _floats(args.temperatures, "temperatures")
    if args.top_k:
        o["top_k"] = tuple(int(v) for v in _floats(args.top_k, "top-k"))
    if args.top_p:
        o["top_p"] = _floats(args.top_p, "top-p")
    if args.cfg:
        o["cfg"] = _floats(args.cfg, "cfg")
    if args.cuda_graphs:
        o["cuda_graphs"] = True
    return o


def _outputs(video: Path, out: str | None) -> list[Path]:
    """Files to write for `video`: from --out (file or directory) or the default."""
    if out is None:
        return [Path.cwd() / f"{video.stem}_v2meow.mp4"]
    path = Path(out)
    if path.is_dir() or out.endswith(os.sep):
        return [path / f"{video.stem}_v2meow.mp4", path / f"{video.stem}_v2meow.wav"]
    if path.suffix.lower() not in {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".wav", ".flac"}:
        raise ConfigError(f"{out}: --out must end in .mp4, .mkv, .mov, .wav or .flac, or be a directory")
    return [path]


def _load(args: argparse.Namespace):
    from v2meow.pipelines import V2MeowPipeline

    bundle = resolve_bundle(args.bundle)  # --bundle, $V2MEOW_BUNDLE, the demo bundle (source tree or wheel)
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("--device cuda: no CUDA device is available")
    return V2MeowPipeline.from_pretrained(bundle, device=args.device, progress=not args.quiet, dtype=args.dtype)


def _one(pipe, video: Path, outputs: list[Path], args) -> list[Path]:
    if args.text is not None and not args.text.strip():
        raise ConfigError("--text is empty")
    from v2meow.pipelines.outputs import write_outputs

    result = pipe(video, text=args.text, **_overrides(args))
    return write_outputs(video, result, outputs)


def _main(args: argparse.Namespace) -> int:
    if args.video_dir and not args.out_dir:
        raise ConfigError("--video-dir needs --out-dir")
    if args.cuda_graphs and args.device != "cuda":
        raise ConfigError("--cuda-graphs needs --device cuda")
    if args.dtype != "float32" and args.device != "cuda":
        raise ConfigError(f"--dtype {args.dtype} needs --device cuda")
    _overrides(args)  # validate numbers before loading anything
    pipe = _load(args)
    if args.video:
        for path in _one(pipe, Path(args.video), _outputs(Path(args.video), args.out), args):
            print(path)
        return 0
    src, dst = Path(args.video_dir), Path(args.out_dir)
    if not src.is_dir():
        raise ConfigError(f"{src}: not a directory")
    dst.mkdir(parents=True, exist_ok=True)
    videos = sorted(p for p in src.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    done = failed = skipped = 0
    for video in videos:
        outputs = _outputs(video, str(dst) + os.sep)
        if all(o.exists() for o in outputs):
            skipped += 1
            continue
        try:
            _one(pipe, video, outputs, args)
            done += 1
        except V2MeowError as e:
            failed += 1
            print(f"v2meow-generate: skipped: {e}", file=sys.stderr)
    print(f"v2meow-generate: {done} generated, {skipped} already done, {failed} skipped as bad", file=sys.stderr)
    return 2 if failed and not (done or skipped) else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run("v2meow-generate", lambda: _main(args))


if __name__ == "__main__":
    sys.exit(main())
