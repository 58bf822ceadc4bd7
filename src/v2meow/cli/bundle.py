"""`v2meow-bundle create|inspect`: assemble a bundle from trained components, or describe one."""

from __future__ import annotations

import argparse
import json
import sys

from v2meow.cli.common import add_allow_outside, parse, run
from v2meow.safety import validation
from v2meow.stages.roles import ROLE_SPECS

_STAGE_ARGS = " ".join(f"--{r.key} runs/{r.key}/{r.key}" for r in ROLE_SPECS)
DESCRIPTION = f"""\
A bundle is a directory that v2meow-generate, v2meow-app and V2MeowPipeline load: the
component directories, pipeline.json (feature extractor, component names, generation
defaults) and SHA256SUMS. Format: docs/bundle.md.

examples:
  v2meow-bundle create {_STAGE_ARGS} \\
      --codec runs/codec/codec --semantic tok/semantic --style tok/style --out checkpoints/mine
  v2meow-bundle inspect checkpoints/demo
  v2meow-bundle inspect checkpoints/mine --json
"""

CREATE = """\
Copy the components into a new bundle directory, write pipeline.json and SHA256SUMS, and
check that the components fit together (vocabularies, rates, codebooks, dims): components
that disagree are named and no bundle is written. The bundle appears under --out only once
it is complete.
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="v2meow-bundle", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    c = sub.add_parser(
        "create",
        help="assemble a bundle from component directories",
        description=CREATE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for name, what in (
        *((r.key, f"{r.label} ({r.writes})") for r in ROLE_SPECS),
        ("codec", "the acoustic codec (SoundStream or EnCodec)"),
        ("semantic", "the semantic tokenizer the stages were trained with (checked, not run)"),
    ):
        c.add_argument(f"--{name}", required=True, metavar="DIR", help=f"component directory of {what}")
    c.add_argument(
        "--style", metavar="DIR", help="style embedder (for --text prompts); omit for a bundle without style input"
    )
    c.add_argument(
        "--features",
        default="motion",
        metavar="SPEC",
        help="feature extractor spec the stages were trained on, e.g. motion, clip+i3d (default: motion)",
    )
    c.add_argument("--feature-rate", type=float, metavar="HZ", help="feature rate (default: stage 1's feature_rate)")
    c.add_argument(
        "--temperatures", metavar="T1,T2,T3", help="per-stage sampling temperatures (default: the paper's 1.0,0.95,0.4)"
    )
    c.add_argument(
        "--context-seconds",
        metavar="C1,C2,C3",
        help="per-stage primed context between windows (default: 4,4,1, at most half of each stage's window)",
    )
    c.add_argument(
        "--guidance",
        action="append",
        metavar="ROLE.CONDITION=SCALE",
        help="a classifier-free guidance scale the bundle applies by default, e.g. semantic.rhythm=3 "
        "(roles: semantic, coarse, fine; a condition the stage reads, or 'all'; ROLE=SCALE: all of them); "
        "repeat for more; the same spelling as v2meow-generate --guidance; default: none",
    )
    c.add_argument(
        "--weights-dtype",
        choices=("float32", "float16", "bfloat16"),
        help="store the three stages' float weights in this dtype (float16: half the bytes; they load into "
        "float32 models); default: as trained",
    )
    c.add_argument(
        "--out", required=True, metavar="BUNDLE", help="bundle directory to write (must not exist, or be empty)"
    )
    c.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing bundle at --out (only once the new one is complete)",
    )
    i = sub.add_parser(
        "inspect",
        help="list a bundle's components, sizes, rates, vocabularies and check them",
        description="Components, sizes, parameter counts, rates, vocabularies, feature spec, "
        "generation defaults, compatibility verdict and SHA256SUMS check of a bundle.",
    )
    i.add_argument("bundle", help="bundle directory")
    i.add_argument("--json", action="store_true", help="print JSON instead of text")
    add_allow_outside(i)
    return parse(p, argv)


def _triple(text: str | None, name: str) -> tuple[float, float, float] | None:
    from v2meow.errors import ConfigError

    if text is None:
        return None
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"--{name} expects numbers separated by commas, got '{text}'") from None
    if len(values) == 1:
        values = values * 3
    if len(values) != 3:
        raise ConfigError(f"--{name} expects 1 or 3 values, got {len(values)}")
    return values  # type: ignore[return-value]


def _main(args: argparse.Namespace) -> int:
    from v2meow.pipelines.assemble import create_bundle, format_inspection, inspect_bundle

    if args.command == "inspect":
        info = inspect_bundle(args.bundle, allow_outside=args.allow_outside_bundle)
        print(json.dumps(info, indent=2) if args.json else format_inspection(info))
        return 0 if info["compatible"] and info["sha256"].get("ok", True) else 1
    from v2meow.safety.outputs import check_output_dir

    components = {n: getattr(args, n) for n in (*(r.key for r in ROLE_SPECS), "codec", "semantic", "style")}
    check_output_dir(args.out, [p for p in components.values() if p])  # never an input, nor a folder holding one
    out = create_bundle(
        args.out,
        components,
        features=args.features,
        feature_rate=args.feature_rate,
        overwrite=args.overwrite,
        weights_dtype=args.weights_dtype,
        temperatures=_triple(args.temperatures, "temperatures"),
        context_seconds=_triple(args.context_seconds, "context-seconds"),
        guidance=validation.parse_guidance(args.guidance),
    )
    print(format_inspection(inspect_bundle(out)), file=sys.stderr)
    print(out)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run("v2meow-bundle", lambda: _main(args), args=args)


if __name__ == "__main__":
    sys.exit(main())
