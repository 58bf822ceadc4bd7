"""`make bench`: run every benchmark, write bench/results.json and bench/results.md."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # bench/ helpers; the repository root for recipes/

BENCHMARKS = [
    "features",
    "semantic",
    "codec",
    "stages",
    "maskgit",
    "prepare",
    "stretch",
    "peer",
    "compile",
    "e2e",
    "startup",
    "long_video",
    "train_threads",
    "gpu",
    "ladder",
]


def main() -> int:
    import torch

    results: dict = {}
    threads: dict[str, int] = {}
    for name in BENCHMARKS:
        print(f"bench: {name} ...", file=sys.stderr)
        out = importlib.import_module(name).run()
        results.update(out)
        threads.update({key: torch.get_num_threads() for key in out if key != "machine"})
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    m = results.get("machine", {})
    lines = [f"Machine: {m.get('cpu')}, {m.get('cores')} cores; torch {m.get('torch')}; Python {m.get('python')}.", ""]
    lines += ["| benchmark | torch threads | figure |", "|---|---|---|"]
    for key, value in results.items():
        if key == "machine":
            continue
        figures = ", ".join(f"{k}={v}" for k, v in value.items())
        inner = {v["torch_threads"] for v in value.values() if isinstance(v, dict) and "torch_threads" in v}
        lines.append(f"| {key} | {value.get('torch_threads', min(inner) if inner else threads.get(key))} | {figures} |")
    lines += ["", "e2e runs each duration in a fresh process on every core."]
    (HERE / "results.md").write_text("\n".join(lines) + "\n")
    print((HERE / "results.md").read_text())
    from performance import write

    print(write(results, HERE.parent / "docs" / "performance.md"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
