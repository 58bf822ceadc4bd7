"""What every console entry point shares: one-line errors and exit codes."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator

from v2meow.errors import V2MeowError

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


def run(prog: str, main: Callable[[], int | None]) -> int:
    """Run `main`; a `V2MeowError` becomes one line on stderr and exit status 2."""
    try:
        with sigterm_as_interrupt():
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
