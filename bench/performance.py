"""docs/performance.md: issue 37's figures in one table, from `make bench`'s bench/results.json.

    .venv/bin/python bench/performance.py [bench/results.json] [docs/performance.md]

Each row says what was measured, the figure (medians of the runs each benchmark states), the target
and whether it is met; rows whose benchmark did not run say so. The full per-benchmark table stays in
bench/results.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _get(d: dict, *keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def _met(value, target, higher: bool = False) -> str:
    if value is None or target is None:
        return ""
    return "yes" if (value >= target if higher else value <= target) else "**no**"


def rows(r: dict) -> list[tuple[str, str, str, str]]:
    cli = r.get("startup_and_generate_cli", {})
    e2e = r.get("e2e_demo_bundle", {})
    long = r.get("long_video_cli", {})
    mg = r.get("maskgit_vs_ar_stage2_3_one_thread", {})
    out = []

    def add(what, value, unit, target=None, higher=False, note=""):
        shown = "not run" if value is None else f"{value:g} {unit}".strip() + (f" ({note})" if note else "")
        bound = "" if target is None else f"{'>=' if higher else '<='} {target:g} {unit}".strip()
        out.append((what, shown, bound, _met(value, target, higher)))

    add("`python -c 'import v2meow'`", _get(cli, "import_v2meow", "median_wall_s"), "s", 0.2)
    add("`python -c 'import torch'` (the floor of every generation)", _get(cli, "import_torch", "median_wall_s"), "s")
    add("`v2meow-generate --help`", _get(cli, "generate_help", "median_wall_s"), "s", 0.3)
    for sec, target in (("10", 2.5), ("60", 6.0)):
        g = _get(cli, f"generate_{sec}s") or {}
        rss = g.get("peak_rss_mb")
        add(f"{sec}-s video -> muxed music, whole command (start-up included)", g.get("median_wall_s"), "s", target,
            note=f"RTF {g.get('rtf')}, peak RSS {rss} MB" if g else "")  # fmt: skip
    stages = _get(e2e, "60s", "stages_s")
    if stages:
        total = sum(stages.values())
        shares = ", ".join(f"{k} {100 * v / total:.0f} %" for k, v in stages.items())
        out.append(("60 s in the pipeline (model loaded): each step's share", f"{total:.2f} s: {shares}", "", ""))
    for key, row in long.items():
        if key == "targets" or not isinstance(row, dict):
            continue
        m = row["minutes"]
        add(f"{m:g}-min video (96x64, 8 fps) -> muxed music", row["median_wall_s"], "s", 90 if m == 10 else None,
            note=f"{row['seconds_per_minute']} s per minute, {row['per_minute_vs_first']}x the first length's")  # fmt: skip
        add(f"{m:g}-min video: peak RSS", row.get("peak_rss_mb"), "MB", 1024 if m == 10 else 2048 if m == 60 else None)
        add(f"{m:g}-min video: muxed audio minus video duration", row["audio_minus_video_s"], "s", 0.0)
    for key, row in mg.items():
        add(f"maskgit vs AR stages 2+3 at equal size, {key}", row.get("speedup_x"), "x", 10, higher=True)
    threads = r.get("train_threads") or {}
    for n in ("1 thread", "2 threads"):
        add(f"training tokens/s, stage 2 (v4 recipe), {n}", _get(threads, n, "tokens_per_s"), "")
    return out


def write(results: dict, path: Path) -> str:
    m = results.get("machine", {})
    lines = [
        "# Performance",
        "",
        "Issue 37's figures, written by `make bench` (`bench/performance.py` from bench/results.json; the full",
        "per-benchmark table is bench/results.md). Medians of the runs each benchmark states (`bench/startup.py`,",
        "`bench/long_video.py`, `bench/e2e.py`, `bench/maskgit.py`, `bench/train_threads.py`), run on an idle machine.",
        "",
        f"Machine: {m.get('cpu')}, {m.get('cores')} cores; torch {m.get('torch')}; Python {m.get('python')}.",
        "",
        "| what | measured | target | met |",
        "|---|---|---|---|",
    ]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows(results)]
    text = "\n".join(lines) + "\n"
    for extra in results.get("performance_notes", []):
        text += "\n" + extra + "\n"
    path.write_text(text)
    return text


if __name__ == "__main__":
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "bench" / "results.json"
    dst = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "docs" / "performance.md"
    print(write(json.loads(src.read_text()), dst))
