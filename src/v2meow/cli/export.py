"""`v2meow-export CKPT OUT_DIR`: turn a training checkpoint into a component directory."""

from __future__ import annotations

import argparse
import sys

from v2meow.cli.common import parse, run

DESCRIPTION = """\
Read a Lightning .ckpt written by `v2meow-train` (loaded with weights_only=True: no code
in it runs), rebuild the component from the config embedded in it, and write OUT_DIR/
config.json + model.safetensors. The model type comes from the checkpoint: any stage kind
(v2meow.stages.registry) or trainable codec (v2meow.tokenizers.acoustic.registry).
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="v2meow-export", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("ckpt", help="a .ckpt from v2meow-train (e.g. runs/codec/checkpoints/last.ckpt)")
    p.add_argument("out_dir", help="component directory to write")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing non-empty OUT_DIR (only once the new component is complete)",
    )
    p.add_argument(
        "--trust-pickle",
        action="store_true",
        help="read a sharded (FSDP) checkpoint directory, whose index is a pickle that can run code",
    )
    return parse(p, argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run("v2meow-export", lambda: _main(args), args=args)


def _main(args: argparse.Namespace) -> int:
    from v2meow.safety.outputs import atomic_directory, check_output_dir
    from v2meow.training.export import export_checkpoint

    check_output_dir(args.out_dir, [args.ckpt])  # not the checkpoint, nor a folder holding it
    with atomic_directory(args.out_dir, overwrite=args.overwrite) as tmp:  # like bundle create: --overwrite to replace
        export_checkpoint(args.ckpt, tmp, trust_pickle=args.trust_pickle)
    print(f"v2meow-export: wrote {args.out_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
