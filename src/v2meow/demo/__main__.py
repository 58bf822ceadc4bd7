"""`make demo`: generate a soundtrack for the example video with the shipped demo bundle."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from v2meow.cli.generate import default_bundle
from v2meow.cli.generate import main as generate

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "demo.mp4"


def main() -> int:
    bundle = default_bundle()
    if not (bundle / "pipeline.json").exists() or not EXAMPLE.exists():
        missing = [str(p) for p in (bundle / "pipeline.json", EXAMPLE) if not p.exists()]
        print(f"make demo: needs {' and '.join(missing)}; build them with `make demo-bundle`", file=sys.stderr)
        return 2
    out = Path("out") / "demo_v2meow.mp4"
    out.parent.mkdir(exist_ok=True)
    start = time.perf_counter()
    code = generate(["--video", str(EXAMPLE), "--out", str(out), "--seed", "0"])
    if code == 0:
        print(
            f"make demo: wrote {out} ({time.perf_counter() - start:.1f} s); play it with any video player",
            file=sys.stderr,
        )
    return code


if __name__ == "__main__":
    sys.exit(main())
