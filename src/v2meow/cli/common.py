"""What every console entry point shares: one-line errors and exit codes, and one check of every
text argument (`check_args`: valid UTF-8, not empty or invisible) before any work."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator

from v2meow.errors import V2MeowError
from v2meow.safety import validation

EXIT_USAGE = 2  # bad input or arguments, as argparse uses
EXIT_OUT_OF_MEMORY = 1  # an allocation failed (MemoryError, torch's or an mmap's ENOMEM): the machine, not the input


def out_of_memory(e: BaseException) -> bool:
    """MemoryError, or the RuntimeError torch and safetensors raise when an allocation or mmap fails."""
    text = str(e)
    return isinstance(e, MemoryError) or any(
        s in text for s in ("Cannot allocate memory", "can't allocate memory", "out of memory")
    )


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a scheduler's kill, `timeout`) raises KeyboardInterrupt like Ctrl-C, so every
    atomic write in progress removes its temporary file; the previous handler comes back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def parse(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> argparse.Namespace:
    """`parser.parse_args(argv)`, remembering what the user calls each value (`--out`, `input`) for `check_args`;
    every CLI also answers `--version`."""
    from v2meow import __version__

    if not any("--version" in a.option_strings for a in parser._actions):
        parser.add_argument("--version", action="version", version=f"{parser.prog} {__version__}")
    args = parser.parse_args(argv)
    args._names = _names(parser)
    return args


def _names(parser: argparse.ArgumentParser) -> dict[str, str]:
    names: dict[str, str] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                names.update(_names(sub))
        elif action.option_strings:
            names.setdefault(action.dest, max(action.option_strings, key=len))
        else:
            names.setdefault(action.dest, action.metavar if isinstance(action.metavar, str) else action.dest)
    return names


def add_allow_outside(parser: argparse.ArgumentParser) -> None:
    """`--allow-outside-bundle`, the same for every CLI that loads a bundle (`bundle.read_bundle`)."""
    parser.add_argument(
        "--allow-outside-bundle",
        action="store_true",
        help="load components that pipeline.json places outside the bundle directory (an absolute path, "
        "../, or a symlink leading out); refused otherwise",
    )


def check_args(args: argparse.Namespace) -> None:
    """Every text value (and list of texts) in `args` is valid UTF-8 and not empty or invisible
    (`validation.text`): a ConfigError naming the option otherwise."""
    names = getattr(args, "_names", {})
    for dest, value in vars(args).items():
        if dest.startswith("_"):
            continue
        field = names.get(dest, "--" + dest.replace("_", "-"))
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, str):
                validation.text(item, field)


def run(prog: str, main: Callable[[], int | None], args: argparse.Namespace | None = None) -> int:
    """Run `main` after `check_args(args)`; a `V2MeowError` becomes one line on stderr and exit status 2."""
    try:
        with sigterm_as_interrupt():
            if args is not None:
                check_args(args)
            return int(main() or 0)
    except V2MeowError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except (MemoryError, RuntimeError) as e:  # exit 1, not 2: the machine's limit (ulimit -v, RAM), not the input
        if not out_of_memory(e):
            raise
        detail = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        print(f"{prog}: error: out of memory{f' ({detail})' if detail else ''}", file=sys.stderr)
        return EXIT_OUT_OF_MEMORY
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130  # SIGTERM too: the partial outputs were removed like on Ctrl-C
