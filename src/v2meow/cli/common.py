"""What every console entry point shares: one-line errors and exit codes."""

from __future__ import annotations

import sys
from collections.abc import Callable

from v2meow.errors import V2MeowError

EXIT_USAGE = 2  # bad input or arguments, as argparse uses


def run(prog: str, main: Callable[[], int | None]) -> int:
    """Run `main`; a `V2MeowError` becomes one line on stderr and exit status 2."""
    try:
        return int(main() or 0)
    except V2MeowError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
