"""Benchmark: what a user waits for from the first keystroke (issue 37), each figure the median of
`--repeats` fresh processes on this machine's cores:

- `import v2meow`, `import torch` (the floor every generation pays), `v2meow-generate --help`;
- `v2meow-generate --video V --out O.mp4` for a 10-s and a 60-s video (the demo bundle, muxed
  output): wall time from the command to the written file, start-up included, RTF, peak RSS.

    .venv/bin/python bench/startup.py [--repeats 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]
from common import machine, save_json, unpin  # noqa: E402

# runs a console entry point in this interpreter, then prints its peak RSS (VmHWM restarts at exec)
_WRAP = """
import sys
from importlib import import_module
module, function = sys.argv[1].split(":")
try:
    code = getattr(import_module(module), function)(sys.argv[2:])
except SystemExit as e:
    code = e.code
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")]
print("PEAK_RSS_MB", int(hwm[0].split()[1]) / 1024 if hwm else -1, file=sys.stderr)
sys.exit(code or 0)
"""


def timed(argv: list[str], repeats: int) -> dict:
    """Median wall seconds (and peak RSS) of `argv` run `repeats` times, each in a fresh process."""
    walls, peaks = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        p = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, preexec_fn=unpin)
        walls.append(time.perf_counter() - t)
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {p.stderr[-1500:]}")
        peaks += [float(line.split()[1]) for line in p.stderr.splitlines() if line.startswith("PEAK_RSS_MB")]
    out = {"median_wall_s": round(statistics.median(walls), 3), "runs_s": [round(w, 3) for w in walls]}
    if peaks:
        out["peak_rss_mb"] = round(max(peaks))
    return out


def entry(name: str) -> list[str]:
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    return [sys.executable, "-c", _WRAP, scripts[name]]


def generation(seconds: float, repeats: int, bundle: str, extra: tuple[str, ...] = ()) -> dict:
    from recipes.visualizer import render_pulse

    with tempfile.TemporaryDirectory() as d:
        video = Path(d) / "pulse.mp4"
        render_pulse(120, seconds, video)
        out = timed([*entry("v2meow-generate"), "--video", str(video), "--out", str(Path(d) / "o.mp4"),
                     "--bundle", bundle, *extra], repeats)  # fmt: skip
    return {"music_seconds": seconds, **out, "rtf": round(out["median_wall_s"] / seconds, 3)}


def run(repeats: int = 3, bundle: str = str(ROOT / "checkpoints" / "demo")) -> dict:
    py = sys.executable
    out = {
        "import_v2meow": timed([py, "-c", "import v2meow"], repeats),
        "import_torch": timed([py, "-c", "import torch"], repeats),
        "generate_help": timed([*entry("v2meow-generate"), "--help"], repeats),
        "targets": {
            "generate_help_s": 0.3,
            "import_v2meow_s": 0.2,
            "generate_10s_wall_s": 2.5,
            "generate_60s_wall_s": 6.0,
        },
    }
    if (Path(bundle) / "pipeline.json").exists():
        out["generate_10s"] = generation(10.0, repeats, bundle)
        out["generate_60s"] = generation(60.0, repeats, bundle)
        out["generate_60s_pghi"] = generation(60.0, repeats, bundle, ("--phase", "pghi"))
    return {"startup_and_generate_cli": out}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json")
    args = p.parse_args()
    result = run(args.repeats) | {"machine": machine()}
    print(json.dumps(result, indent=2))
    save_json(args.json, result)
