"""`v2meow-convert`: third-party checkpoints -> formats v2meow loads (no pickle in the output)."""

from __future__ import annotations

import argparse
import sys

from v2meow.cli.common import parse, run

PROG = "v2meow-convert"

DESCRIPTION = """\
Convert third-party checkpoints into safetensors directories v2meow loads.

  fairseq-hubert IN.pt OUT_DIR
      A fairseq HuBERT checkpoint (e.g. hubert_base_ls960.pt, or a HuBERT trained with
      fairseq on your own data) -> a transformers HubertModel directory
      (config.json, model.safetensors, preprocessor_config.json). fairseq itself is
      not needed. Use OUT_DIR as `--weights` of `v2meow-tokenizer fit-kmeans
      --backbone hubert`.

About --trust-pickle: a .pt file is a Python pickle, and unpickling can run arbitrary
code. The file is first read with torch.load(weights_only=True), which only rebuilds
tensors and plain containers and is safe. Many fairseq checkpoints also hold other
objects (an argparse Namespace of training arguments, meters); reading those needs a
full unpickle, which happens only with --trust-pickle. Pass it only for files from a
source you trust.
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog=PROG, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="{fairseq-hubert}")
    h = sub.add_parser(
        "fairseq-hubert",
        help="fairseq HuBERT .pt -> transformers HubertModel directory (safetensors)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    h.add_argument("input", help="fairseq checkpoint (.pt), or a bare state dict (.pt / .safetensors)")
    h.add_argument("out_dir", help="output directory (written atomically)")
    h.add_argument(
        "--trust-pickle",
        action="store_true",
        help="allow a full unpickle when the safe weights-only read refuses the file (unpickling can run code)",
    )
    h.add_argument("--overwrite", action="store_true", help="replace an existing non-empty OUT_DIR")
    return parse(p, argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run(PROG, lambda: _fairseq_hubert(args), args=args)


def _fairseq_hubert(args: argparse.Namespace) -> int:
    from transformers.utils import logging as hf_logging

    from v2meow.safety.outputs import check_output_dir
    from v2meow.tokenizers.semantic.fairseq_load import convert_fairseq_hubert

    check_output_dir(args.out_dir, [args.input])
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    out, notes = convert_fairseq_hubert(
        args.input, args.out_dir, trust_pickle=args.trust_pickle, overwrite=args.overwrite
    )
    for note in notes:
        print(f"{PROG}: note: {note}", file=sys.stderr)
    print(f"{out}: transformers HubertModel (safetensors) from {args.input}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
