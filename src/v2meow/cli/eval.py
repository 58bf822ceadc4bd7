"""`v2meow-eval`: score generated soundtracks against references, videos and prompts."""

from __future__ import annotations

import argparse
import sys

from v2meow.cli.common import EXIT_USAGE, parse, run

PROG = "v2meow-eval"
DESCRIPTION = """\
Pair files of --generated and --reference by stem name (clip07.wav <-> clip07.mp4)
and write REPORT_DIR/metrics.json, report.md, per_clip.csv and per_clip.png.

Metrics: FAD on an embedding backbone (mel: weight-free, labelled as such; vggish:
torchvggish state dict via --weights; clap: CLAP directory or HF repo id via --weights),
MCC (CLAP cosine, generated vs reference and vs --prompts), KL with --classifier, and
beat alignment / tempo agreement against the video's motion (--videos, or the video
stream of the reference or generated files). Each paired metric comes with its
random-shuffle baseline and every figure with a bootstrap interval.

Missing pairs and unreadable files are listed in the report and on stderr; they
never stop the run.
"""


class _OneLineParser(argparse.ArgumentParser):
    """Argument errors as one line on stderr, exit status 2."""

    def error(self, message: str):
        print(f"{self.prog}: error: {message} (see --help)", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def _positive(kind):
    def parse(text: str):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = _OneLineParser(prog=PROG, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--generated", required=True, metavar="DIR", help="generated audio or video files")
    p.add_argument("--reference", required=True, metavar="DIR", help="reference audio or video files (same stems)")
    p.add_argument(
        "--videos",
        metavar="DIR",
        help="videos for the beat metrics (default: video streams of the reference/generated files)",
    )
    p.add_argument("--prompts", metavar="FILE", help="prompts by stem: .json, .jsonl, .csv or .tsv (text MCC)")
    p.add_argument("--out", required=True, metavar="REPORT_DIR", help="report folder (created if missing)")
    p.add_argument("--backbone", default="mel", choices=["mel", "vggish", "clap"], help="FAD embedding (default: mel)")
    p.add_argument("--weights", metavar="PATH", help="vggish: state dict file; clap: CLAP directory or HF repo id")
    p.add_argument("--clap", metavar="PATH", help="CLAP directory or repo id for MCC when the backbone is not clap")
    p.add_argument("--classifier", metavar="DIR", help="audio-classification checkpoint directory for KL")
    p.add_argument("--classifier-activation", default="auto", choices=["auto", "softmax", "sigmoid"])
    p.add_argument("--seed", type=int, default=0, help="seed of the shuffles and bootstrap (default: 0)")
    p.add_argument(
        "--bootstrap", type=int, default=1000, metavar="N", help="bootstrap resamples, 0 for none (default: 1000)"
    )
    p.add_argument(
        "--shuffles", type=_positive(int), default=10, metavar="N", help="random shuffles per clip (default: 10)"
    )
    p.add_argument(
        "--max-seconds", type=_positive(float), metavar="S", help="evaluate only the first S seconds of each file"
    )
    p.add_argument(
        "--tolerance",
        type=_positive(float),
        default=0.1,
        metavar="S",
        help="beat hit window, +- seconds (default: 0.1)",
    )
    p.add_argument(
        "--sigma",
        type=_positive(float),
        default=0.1,
        metavar="S",
        help="width of the soft beat alignment (default: 0.1)",
    )
    p.add_argument(
        "--beat-window",
        type=_positive(float),
        default=0.2,
        metavar="S",
        help="video beat = motion maximum within +- S (default: 0.2)",
    )
    p.add_argument(
        "--motion-rate", type=_positive(float), default=10.0, metavar="HZ", help="motion energy rate (default: 10)"
    )
    p.add_argument("--device", default="cpu", help="cpu or cuda (vggish, clap, classifier)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parse(p, argv)
    if args.bootstrap < 0:
        p.error(f"--bootstrap must be >= 0, got {args.bootstrap}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run(PROG, lambda: _main(args), args=args)


def _main(args: argparse.Namespace) -> int:
    from v2meow.evaluation import EvalConfig, evaluate, write_report
    from v2meow.evaluation.analysis import RhythmSettings
    from v2meow.evaluation.metrics import BeatSettings
    from v2meow.evaluation.report import prepare_out_dir

    config = EvalConfig(
        generated=args.generated,
        reference=args.reference,
        videos=args.videos,
        prompts=args.prompts,
        backbone=args.backbone,
        weights=args.weights,
        clap=args.clap,
        classifier=args.classifier,
        classifier_activation=args.classifier_activation,
        seed=args.seed,
        bootstrap=args.bootstrap,
        shuffles=args.shuffles,
        max_seconds=args.max_seconds,
        device=args.device,
        rhythm=RhythmSettings(motion_rate=args.motion_rate, beat_window=args.beat_window),
        beats=BeatSettings(tolerance=args.tolerance, sigma=args.sigma),
    )
    from v2meow.safety.outputs import check_output_dir

    prepare_out_dir(args.out)  # fail before the long part
    inputs = [p for p in (args.generated, args.reference, args.videos, args.prompts) if p]
    check_output_dir(args.out, inputs)  # never write the report into an input folder
    result = evaluate(
        config, on_problem=lambda p: print(f"{PROG}: {p.line()}", file=sys.stderr), progress=not args.quiet
    )
    paths = write_report(result, args.out)
    c = result.counts
    print(
        f"{PROG}: {c['evaluated']} of {c['paired']} paired clips evaluated, {c['problems']} problem(s); report in {args.out}",
        file=sys.stderr,
    )
    for name in ("fad", "mcc_audio", "kl", "beat_alignment"):
        m = result.metrics.get(name)
        if m is not None:
            shuffle = m.baselines.get("shuffle")
            extra = f" (shuffle {shuffle.value:.4g})" if shuffle is not None else ""
            print(f"{name}: {m.estimate.value:.4g}{extra}")
    print(paths["markdown"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
