"""`v2meow-features`: visual features of one video, written to a safetensors file."""

from __future__ import annotations

import argparse
import sys

from v2meow.cli.common import parse, run

DESCRIPTION = """\
Extract visual features from a video and write them to OUT.safetensors
(tensor `features` [T, D], tensor `times` [T], metadata: rate, extractor ids, dims).

Extractors: motion (weight-free, runs anywhere), clip (open_clip ViT-L-14,
needs its weights), i3d (pytorchvideo I3D-R50, needs its weights). Several
names joined by ',' or '+' are fused: each stream is resampled to one rate
and the columns are concatenated in the order given.
"""


# --weights NAME=PATH -> the keyword of that extractor's loader
WEIGHT_ARGS = {"clip": "pretrained", "i3d": "path"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="v2meow-features", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--video", required=True, help="input video file")
    p.add_argument("--extractors", default="motion", help="e.g. motion, clip, clip+i3d, motion,clip (default: motion)")
    p.add_argument("--out", required=True, help="output .safetensors file (written atomically)")
    p.add_argument(
        "--rate", type=float, default=None, help="output rate in Hz (default: each extractor's own; fused: the highest)"
    )
    p.add_argument(
        "--weights",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="local weight file for an extractor, e.g. clip=/models/ViT-L-14.pt (repeatable)",
    )
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--debug", action="store_true", help="tiny random clip/i3d models (no weights; for testing only)")
    p.add_argument(
        "--trust-pickle",
        action="store_true",
        help="allow weight files that run code when loaded (OpenAI's TorchScript .pt, pickles holding objects); "
        "only for files from a source you trust",
    )
    return parse(p, argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run("v2meow-features", lambda: _main(args), args=args)


def _main(args: argparse.Namespace) -> int:
    from v2meow.errors import ConfigError
    from v2meow.features.registry import build_extractor
    from v2meow.features.storage import save_features
    from v2meow.features.video import extract_video
    from v2meow.safety.outputs import check_outputs

    check_outputs([args.out], [args.video], [".safetensors"])  # before any extractor loads
    overrides = {}
    for item in args.weights:
        name, sep, path = item.partition("=")
        name, path = name.strip().lower(), path.strip()
        if not sep or name not in WEIGHT_ARGS or not path:
            raise ConfigError(f"--weights expects clip=PATH or i3d=PATH, got '{item}'")
        overrides[name] = {WEIGHT_ARGS[name]: path}
    extractor = build_extractor(
        args.extractors, rate=args.rate, debug=args.debug, trust_pickle=args.trust_pickle, **overrides
    )
    extractor = extractor.to(args.device)
    feats = extract_video(extractor, args.video)
    save_features(args.out, feats, source=args.video)
    print(
        f"{args.out}: {feats.features.shape[0]} steps x {feats.features.shape[1]} dims "
        f"at {feats.rate:g} Hz ({', '.join(feats.extractor_ids)})",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
