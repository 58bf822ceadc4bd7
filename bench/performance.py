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
    for key, what, target in (
        ("generate_10s", "10-s video", 2.5), ("generate_60s", "60-s video", 6.0),
        ("generate_60s_pghi", "60-s video, `--phase pghi`", 6.0),
    ):  # fmt: skip
        g = _get(cli, key) or {}
        rss = g.get("peak_rss_mb")
        add(f"{what} -> muxed music, whole command (start-up included)", g.get("median_wall_s"), "s", target,
            note=f"RTF {g.get('rtf')}, peak RSS {rss} MB" if g else "")  # fmt: skip
    stages = _get(e2e, "60s", "stages_s")
    if stages:
        total = sum(stages.values())
        shares = ", ".join(f"{k} {100 * v / total:.0f} %" for k, v in stages.items())
        out.append(("60 s in the pipeline (model loaded): each step's share", f"{total:.2f} s: {shares}", "", ""))
    for key, row in long.items():
        if key == "targets" or not isinstance(row, dict):
            continue
        m, phase = row["minutes"], ", `--phase pghi`" if row.get("phase") else ""
        if phase:
            add(f"{m:g}-min video{phase} -> muxed music", row["median_wall_s"], "s", 90 if m == 10 else None,
                note=f"peak RSS {row.get('peak_rss_mb')} MB")  # fmt: skip
            continue
        add(f"{m:g}-min video (96x64, 8 fps) -> muxed music", row["median_wall_s"], "s", 90 if m == 10 else None,
            note=f"{row['seconds_per_minute']} s per minute, {row['per_minute_vs_first']}x the first length's")  # fmt: skip
        add(f"{m:g}-min video: peak RSS", row.get("peak_rss_mb"), "MB", 1024 if m == 10 else 2048 if m == 60 else None)
        add(f"{m:g}-min video: muxed audio minus video duration, magnitude", abs(row["audio_minus_video_s"]), "s", 0.0)
    per_minute = [row["seconds_per_minute"] for key, row in long.items() if isinstance(row, dict) and "minutes" in row
                  and not row.get("phase")]  # fmt: skip
    if len(per_minute) > 1:
        add("seconds per minute of video, spread over the lengths above (max / min - 1)",
            round(max(per_minute) / min(per_minute) - 1, 3), "", 0.15)  # fmt: skip
    for key, row in mg.items():
        add(f"maskgit vs AR stages 2+3 at equal size, {key}", row.get("speedup_x"), "x", 10, higher=True)
    threads = r.get("train_threads") or {}
    for n in ("1 thread", "2 threads"):
        add(f"training tokens/s, stage 2 (v4 recipe), {n}", _get(threads, n, "tokens_per_s"), "")
    return out


NOTES = """
## What the figures rest on

- **Start-up.** Every console script answers `--help`, `--version` and a refused argument before importing
  torch, PyAV or numpy (`tests/cli/test_startup.py`). A generation imports torch, PyAV, numpy and the bundle
  only: the codec's residual VQ loads as a lookup (`rvq.ResidualLookup`, without vector-quantize-pytorch,
  einx and torch._dynamo), the meta-device check of each component skips random initialisers (whose meta
  kernels import torch._dynamo), and the BS.1770 meter, the true-peak interpolator and the limiter are numpy
  (equal to pyloudnorm and scipy to 1e-6 LU and 1e-12; no scipy.signal, scipy.ndimage or pyloudnorm import).
  What is left is mostly `import torch` itself (the row above), which this torch build (CUDA-enabled) pays
  on every run.
- **Long pieces.** Generation runs in overlapping windows. An AR stage reads the overlap as a KV-cached prompt;
  a MaskGIT stage fills a window that continues a prompt in passes proportional to the frames it fills
  (ceil(16 x new / window) instead of 16), so a long piece costs what its new frames cost in one fresh
  window. The judges of 30-s generations (4 held-out excerpts x 2 seeds, `bench/judge_windows.py`) stay
  within noise: note salience 0.327 -> 0.317, beat pulse 0.250 -> 0.259 (per-piece spread 0.09 and 0.15;
  docs/figures/maskgit_proportional.json).
- **Memory.** Features are extracted a minute at a time, codes are decoded 30 s at a time into one output
  array, and loudness normalisation works in float32 with the true peak and the limiter run piece by piece
  (margins make the result the whole signal's): memory grows with the audio itself, about 4 bytes a sample
  per copy.
"""


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
    text = "\n".join(lines) + "\n" + NOTES
    path.write_text(text)
    return text


if __name__ == "__main__":
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "bench" / "results.json"
    dst = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "docs" / "performance.md"
    print(write(json.loads(src.read_text()), dst))
