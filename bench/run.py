"""`make bench`: run every benchmark, write bench/results.json and bench/results.md."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

BENCHMARKS = ["features", "semantic", "codec", "stages", "prepare", "peer", "e2e", "gpu"]


def main() -> int:
    results: dict = {}
    for name in BENCHMARKS:
        print(f"bench: {name} ...", file=sys.stderr)
        results.update(importlib.import_module(name).run())
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = ["| benchmark | figure |", "|---|---|"]
    for key, value in results.items():
        if key == "machine":
            continue
        figures = ", ".join(f"{k}={v}" for k, v in value.items())
        lines.append(f"| {key} | {figures} |")
    m = results.get("machine", {})
    lines.append("")
    lines.append(f"Machine: {m}")
    (HERE / "results.md").write_text("\n".join(lines) + "\n")
    print((HERE / "results.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
