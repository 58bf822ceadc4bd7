"""`v2meow-prepare`: media files -> the versioned, resumable cache that training reads."""

from __future__ import annotations

import argparse
import json
import sys

from v2meow.cli.common import parse, run

PROG = "v2meow-prepare"
MAX_SKIP_LINES = 50

DESCRIPTION = """\
Prepare a training cache: per clip, visual features (absent for audio-only music),
semantic tokens, acoustic codes, a style embedding, duration and provenance.

Input: a folder (every video file with its own audio track, and every audio-only
file: wav, flac, ogg, opus, mp3, m4a, ... under it) or a CSV manifest with columns
video,audio,caption,split (audio: a separate music file for the video; audio-only
rows have no video; paths relative to the CSV).

Long inputs are cut into --clip-seconds clips (a last clip shorter than
--min-seconds is dropped). Re-running the same command resumes: finished items are
skipped, and a killed run (even SIGKILL) loses only the items not yet flushed to a
shard. Bad files are skipped with one line each. With --stretch, every clip also
gives one time-stretched item per factor (keys "<clip key>@x<factor>", the clip's
split kept), and a re-run skips the (clip, factor) items already cached. --shard i/n splits the sources
between runs (SLURM arrays, several machines); they may write into one --out
directory, or into several that `v2meow-cache merge` combines.
"""

EPILOG = """\
example:
  v2meow-prepare --input videos/ --out cache/ --features clip+i3d \\
      --semantic ckpt/semantic --codec ckpt/codec --style ckpt/style --workers 4
  # tempo augmentation (5 items per clip) and the rhythm channel
  v2meow-prepare ... --stretch 0.8,0.9,1.1,1.25 --rhythm
  # SLURM array job: one shard per task, all into the same cache
  v2meow-prepare ... --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT
"""

# --weights NAME=PATH -> the keyword of that extractor's loader (as in v2meow-features)
WEIGHT_ARGS = {"clip": "pretrained", "i3d": "path"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog=PROG, description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    io = p.add_argument_group("input and output")
    io.add_argument("--input", required=True, help="media folder or CSV manifest (video,audio,caption,split)")
    io.add_argument("--out", required=True, help="cache directory (created; an existing cache is resumed)")
    io.add_argument("--split", default="train", help="split of items with none given (default: train)")
    io.add_argument("--report", metavar="FILE.json", help="also write the final report as JSON")
    comp = p.add_argument_group("components")
    comp.add_argument("--features", required=True, help="visual extractors: clip+i3d, motion, ... or none")
    comp.add_argument("--feature-rate", type=float, default=1.0, help="visual feature rate in Hz (default: 1)")
    comp.add_argument(
        "--weights",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="local weight file of an extractor, e.g. clip=/models/ViT-L-14.pt (repeatable)",
    )
    comp.add_argument("--debug-features", action="store_true", help="tiny random clip/i3d models (tests only)")
    comp.add_argument("--semantic", required=True, metavar="DIR", help="semantic tokenizer directory")
    comp.add_argument("--codec", required=True, metavar="DIR", help="acoustic codec directory")
    comp.add_argument("--style", metavar="DIR", help="style embedder directory (default: no style embeddings)")
    comp.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    clip = p.add_argument_group("clips")
    clip.add_argument("--clip-seconds", type=float, default=30.0, help="clip length (default: 30)")
    clip.add_argument("--min-seconds", type=float, default=1.0, help="shortest last clip kept (default: 1)")
    clip.add_argument(
        "--hash",
        choices=("quick", "full"),
        default="quick",
        help="content hash in the keys: quick = size + first/last MiB (default), full = every byte",
    )
    beats = p.add_argument_group("beat weights (VMAs video-beat alignment; docs/options.md)")
    beats.add_argument(
        "--beat-weights",
        action="store_true",
        help="also store per-semantic-token loss weights: 1 where a music onset meets a video beat, "
        "alpha elsewhere (train with model.beat_weights: true)",
    )
    beats.add_argument("--beat-alpha", type=float, default=0.05, help="weight of the other steps (default: 0.05, VMAs)")
    beats.add_argument(
        "--beat-delta",
        type=float,
        default=0.2,
        metavar="S",
        help="video-beat and coincidence window, +-seconds (default: 0.2)",
    )
    aug = p.add_argument_group("rhythm channel and tempo augmentation (docs/options.md)")
    aug.add_argument(
        "--rhythm",
        action="store_true",
        help="also store the rhythm channel of every item's music: its onset peaks (one per +-0.2 s) as "
        "Gaussian pulses at the semantic rate, [T_s, 1] 'rhythm' (a stage input: extra_streams); "
        "the same as --channel rhythm",
    )
    aug.add_argument(
        "--channel",
        action="append",
        default=[],
        metavar="NAME",
        help="also store this condition channel of every item's music at the semantic rate (v2meow.features.channels; "
        "repeatable)",
    )
    aug.add_argument(
        "--stretch",
        metavar="R1,R2,...",
        help="tempo augmentation: besides each clip, one item per factor r, the clip played r times as "
        "fast (pitch kept; video features stretched alike), e.g. 0.8,0.9,1.1,1.25 (each in [0.5, 2]); "
        "tokens, codes, style, beat weights and rhythm come from the stretched audio",
    )
    aug.add_argument(
        "--keep-audio",
        type=int,
        default=0,
        metavar="RATE",
        help="also store every item's (stretched) music, mono 16-bit at RATE Hz (e.g. 24000: about "
        "170 MB per hour), so `v2meow-cache recode` can re-encode the codes with another codec later",
    )
    runp = p.add_argument_group("running")
    runp.add_argument("--workers", type=int, default=1, help="worker processes (default: 1)")
    runp.add_argument("--threads", type=int, default=0, help="torch threads per process (default: cores / workers)")
    runp.add_argument("--shard", metavar="I/N", help="only shard I of N of the sources (0-based)")
    runp.add_argument("--items-per-shard", type=int, default=64, help="items per cache shard file (default: 64)")
    runp.add_argument(
        "--flush-seconds", type=float, default=300.0, help="also flush a shard after this many seconds (default: 300)"
    )
    runp.add_argument("--retry-skipped", action="store_true", help="retry items an earlier run skipped")
    runp.add_argument("--start-method", choices=("spawn", "forkserver"), default="spawn", help="worker start method")
    runp.add_argument("--quiet", action="store_true", help="no progress bar")
    return parse(p, argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run(PROG, lambda: _main(args), args=args)


def _weights(items: list[str]) -> tuple:
    from v2meow.errors import ConfigError

    out = []
    for item in items:
        name, sep, path = item.partition("=")
        name, path = name.strip().lower(), path.strip()
        if not sep or name not in WEIGHT_ARGS or not path:
            raise ConfigError(f"--weights expects clip=PATH or i3d=PATH, got '{item}'")
        out.append((name, ((WEIGHT_ARGS[name], path),)))
    return tuple(out)


def _keep_audio(rate: int) -> int:
    from v2meow.errors import ConfigError

    if rate != 0 and not 8000 <= rate <= 192_000:
        raise ConfigError(f"--keep-audio must be 0 (off) or a rate from 8000 to 192000 Hz, got {rate}")
    return rate


def _channels(args: argparse.Namespace) -> tuple[str, ...]:
    """--rhythm and every --channel, each once, in order; an unknown name is a ConfigError naming the known ones."""
    from v2meow.features.channels import channel

    names = tuple(dict.fromkeys((["rhythm"] if args.rhythm else []) + list(args.channel)))
    for name in names:
        channel(name)
    return names


def _main(args: argparse.Namespace) -> int:
    from v2meow.data.prepare import PrepareConfig, prepare
    from v2meow.data.work import parse_stretch
    from v2meow.safety.outputs import atomic_output, check_output_dir, check_outputs

    stretch = parse_stretch(args.stretch)  # a bad list fails before anything is loaded or written
    check_output_dir(args.out, [args.input])  # before any model loads
    if args.report:
        check_outputs([args.report], [args.input], option="--report")
    cfg = PrepareConfig(
        features=args.features,
        semantic=args.semantic,
        codec=args.codec,
        style=args.style,
        feature_rate=args.feature_rate,
        feature_weights=_weights(args.weights),
        feature_debug=args.debug_features,
        clip_seconds=args.clip_seconds,
        min_seconds=args.min_seconds,
        hash_mode=args.hash,
        device=args.device,
        threads=args.threads,
        beat_weights=args.beat_weights,
        beat_alpha=args.beat_alpha,
        beat_delta=args.beat_delta,
        channels=_channels(args),
        stretch=stretch,
        keep_audio=_keep_audio(args.keep_audio),
    )
    report = prepare(
        args.input,
        args.out,
        cfg,
        split=args.split,
        shard=args.shard,
        workers=args.workers,
        items_per_shard=args.items_per_shard,
        flush_seconds=args.flush_seconds or None,
        retry_skipped=args.retry_skipped,
        progress=not args.quiet,
        start_method=args.start_method,
    )
    lines = report.lines()
    if len(report.skipped) > MAX_SKIP_LINES:
        more = len(report.skipped) - MAX_SKIP_LINES
        lines = lines[: 2 + MAX_SKIP_LINES] + [
            f"... and {more} more skipped (--report FILE.json or v2meow-cache info lists them)"
        ]
    for line in lines:
        print(f"{PROG}: {line}", file=sys.stderr)
    if args.report:
        with atomic_output(args.report) as tmp:
            tmp.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
