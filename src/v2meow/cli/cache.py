"""`v2meow-cache`: inspect (`info`), list skips (`skipped`) and combine (`merge`) prepared caches."""

from __future__ import annotations

import argparse
import json
import sys

from v2meow.cli.common import parse, run

PROG = "v2meow-cache"

DESCRIPTION = """\
info     items, hours, per-split counts, skips grouped by reason, the components
         and token statistics (vocabulary / codebook usage, perplexity, most
         common semantic tokens) of a cache made by v2meow-prepare. --verify
         checks each shard against the checksum written with it and names the
         bad ones (delete a bad shard and re-run v2meow-prepare to rebuild it).
skipped  every skipped item with its reason, one per line.
merge    combine caches made by separate `--shard i/n` runs (or machines) into
         --out: shard files are copied (or hard-linked with --link) after a check
         that all were made by the same components. Not needed when the runs
         wrote into one directory: the reader unions every shard it finds.
recode   a copy of a cache prepared with --keep-audio RATE, its codes encoded
         by another codec (--codec DIR) from the stored audio; everything else is
         unchanged. Resumable: rerun the same command.
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog=PROG, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="summary of a cache")
    info.add_argument("cache", help="cache directory")
    info.add_argument(
        "--max-items", type=int, default=2000, help="items read for token statistics (0: none; default 2000)"
    )
    info.add_argument("--json", action="store_true", help="print the summary as JSON")
    info.add_argument(
        "--verify",
        action="store_true",
        help="check every shard against the checksum recorded when it was written; bad shards are named (exit 2)",
    )
    skipped = sub.add_parser("skipped", help="list skipped items")
    skipped.add_argument("cache", help="cache directory")
    merge = sub.add_parser("merge", help="combine caches into --out")
    merge.add_argument("sources", nargs="+", help="cache directories")
    merge.add_argument("--out", required=True, help="merged cache directory (created, or an existing one to add to)")
    merge.add_argument(
        "--link", action="store_true", help="hard-link shard files instead of copying (same file system)"
    )
    recode = sub.add_parser(
        "recode", help="copy a cache with its codes re-encoded by another codec (needs --keep-audio)"
    )
    recode.add_argument("cache", help="source cache, prepared with --keep-audio RATE")
    recode.add_argument("--codec", required=True, help="the new codec's component directory")
    recode.add_argument("--out", required=True, help="the recoded cache (created; rerun the same command to resume)")
    return parse(p, argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run(PROG, lambda: _main(args), args=args)


def _main(args: argparse.Namespace) -> int:
    if args.command == "info":
        from v2meow.data.info import cache_info, check_verdicts, format_info, verify_cache

        if args.verify:
            from v2meow.data.cache import read_manifest

            read_manifest(args.cache)  # not a cache: that error, not "0 shards ok"
            print(check_verdicts(args.cache, verify_cache(args.cache)), file=sys.stderr)
        info = cache_info(args.cache, max_items=max(0, args.max_items))
        print(json.dumps(info, indent=2) if args.json else "\n".join(format_info(info)))
    elif args.command == "skipped":
        from v2meow.data.cache import CacheReader

        reader = CacheReader(args.cache)
        keys = reader.keys()
        for s in reader.skipped():
            if s["key"] not in keys:  # a later run may have prepared it
                print(f"{s['source']}\t{s['reason']}")
    elif args.command == "recode":
        from tqdm import tqdm

        from v2meow.data.recode import describe_recode, recode_cache
        from v2meow.safety.outputs import check_output_dir

        check_output_dir(args.out, [args.cache, args.codec])
        counts = recode_cache(
            args.cache,
            args.out,
            args.codec,
            progress=lambda xs: tqdm(list(xs), desc="recode", unit="shard", file=sys.stderr),
        )
        print(
            f"{PROG}: recoded {counts['items']} item(s) in {counts['shards']} shard(s) "
            f"({counts['unchanged']} already there); {describe_recode(args.out)}",
            file=sys.stderr,
        )
    else:
        from v2meow.data.cache import CacheReader, merge_caches

        counts = merge_caches(args.sources, args.out, link=args.link)
        reader = CacheReader(args.out)
        print(
            f"{PROG}: {args.out}: copied {counts['shards']} shard(s) and {counts['skip_files']} skip file(s) "
            f"({counts['unchanged']} already there); {len(reader)} item(s)"
            + (f", {reader.duplicates} duplicate copies ignored" if reader.duplicates else ""),
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
