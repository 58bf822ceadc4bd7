"""Write an evaluation result: metrics.json, report.md, per_clip.csv and per_clip.png.

Every file is written atomically (a temporary file renamed into place), so a report
folder never holds a half-written file.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path

from v2meow.errors import OutputError
from v2meow.evaluation.bootstrap import Estimate
from v2meow.safety.outputs import atomic_output

LEGEND = (
    "Random shuffle: generated audio scored against another clip's video, reference or prompt.",
    "Reference shuffle: another clip's reference audio as the candidate (V2Meow Table 1's baseline).",
    "Reference: the clip's own reference audio, where that is not trivially perfect.",
    "FAD, density and coverage compare whole sets; pairing does not enter them, so they have no shuffle rows.",
    "Pink noise: the pretrained judges' scores of 1/f noise as long as each generated clip (their floor).",
)
BASELINE_ROWS = (
    ("shuffle", "random shuffle"),
    ("reference_shuffle", "reference shuffle (V2Meow)"),
    ("reference", "reference"),
    ("noise", "pink noise"),
)


def write_report(result, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write the four report files into `out_dir` (created if missing); returns their paths.

    Args:
        result: an `EvalResult`.
    """
    out = prepare_out_dir(out_dir)
    data = result.to_dict()
    paths = {
        "json": _write_text(out / "metrics.json", json.dumps(data, indent=2, allow_nan=False) + "\n"),
        "markdown": _write_text(out / "report.md", markdown(data)),
        "csv": _write_text(out / "per_clip.csv", per_clip_csv(data["per_clip"])),
    }
    paths["png"] = plot_per_clip(result, out / "per_clip.png")
    return paths


def prepare_out_dir(out_dir: str | os.PathLike) -> Path:
    """Create the report folder if needed and check it is writable (call before a long run)."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{out}: cannot create the report folder ({e.strerror})") from None
    if not os.access(out, os.W_OK):
        raise OutputError(f"{out}: the report folder is not writable")
    return out


def _write_text(path: Path, text: str) -> Path:
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def _fmt(x: float | None) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return f"{x:.4g}"


def _cell(d: dict | None, with_ci: bool = False) -> str:
    if not d or d.get("value") is None:
        return "–"
    lo, hi = d["ci"]
    return f"{_fmt(d['value'])} [{_fmt(lo)}, {_fmt(hi)}]" if with_ci else _fmt(d["value"])


def markdown(data: dict) -> str:
    """The report as a markdown page (a table of figures, notes and problems)."""
    cfg, counts = data["config"], data["counts"]
    level = round(100 * cfg["level"])
    lines = [
        "# v2meow evaluation",
        "",
        f"- generated: `{cfg['generated']}`; reference: `{cfg['reference']}`"
        + (f"; videos: `{cfg['videos']}`" if cfg["videos"] else ""),
        f"- embedding backbone: {data['backbone']['label']}",
        f"- clips evaluated: {counts['evaluated']} of {counts['paired']} paired ({counts['generated_files']} generated, "
        f"{counts['reference_files']} reference files; {counts['with_video']} with video)",
        f"- {level}% bootstrap intervals over clips ({cfg['bootstrap']} resamples), "
        f"{cfg['shuffles']} random shuffles per clip, seed {cfg['seed']}",
        "",
        f"| metric | generated [{level}% CI] | "
        + " | ".join(label for _, label in BASELINE_ROWS)
        + " | generated − shuffle | n |",
        "|---|---|" + "---|" * len(BASELINE_ROWS) + "---|---|",
    ]
    for m in data["metrics"].values():
        arrow = "↑" if m["higher_is_better"] else "↓"
        row = [f"{m['title']} {arrow}", _cell(m, with_ci=True)]
        row += [_cell(m["baselines"].get(key)) for key, _ in BASELINE_ROWS]
        row += [_cell(m.get("vs_shuffle"), with_ci=True), str(m["n"])]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", *LEGEND]
    notes = list(data["notes"]) + [f"{k}: {m['note']}" for k, m in data["metrics"].items() if m.get("note")]
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    if data["problems"]:
        lines += ["", f"## Problems ({len(data['problems'])})", ""]
        lines += [f"- `{p['stem']}` ({p['kind']}): {p['message']}" for p in data["problems"]]
    return "\n".join(lines) + "\n"


def per_clip_csv(rows: list[dict]) -> str:
    """Per-clip rows as CSV (empty cells for missing values)."""
    buf = io.StringIO()
    keys = list(dict.fromkeys(k for r in rows for k in r)) or ["stem"]
    w = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: "" if r.get(k) is None else r[k] for k in keys})
    return buf.getvalue()


def plot_per_clip(result, path: Path) -> Path:
    """One panel per per-clip metric: each clip's score (dot) against its shuffle baseline (cross), and
    the judges' pink-noise floor (dotted)."""
    from matplotlib.figure import Figure  # the object API: no pyplot, no global backend change

    panels = [m for m in result.metrics.values() if m.per_clip is not None]
    n = len(result.stems)
    fig = Figure(figsize=(max(6.0, min(16.0, 0.3 * n + 4)), 2.2 * max(1, len(panels)) + 0.6), layout="constrained")
    axes = fig.subplots(max(1, len(panels)), 1, squeeze=False, sharex=True)[:, 0]
    if not panels:
        axes[0].text(0.5, 0.5, "no per-clip metrics (set-level FAD only)", ha="center", va="center")
        axes[0].set_axis_off()
    x = list(range(n))
    for ax, m in zip(axes, panels, strict=False):
        ax.plot(x, m.per_clip, "o", color="tab:blue", ms=4, label="generated")
        if m.per_clip_shuffle is not None:
            ax.plot(x, m.per_clip_shuffle, "x", color="0.55", ms=4, label="shuffle")
        lines = (
            (m.estimate, "-", "tab:blue"),
            (m.baselines.get("shuffle"), "--", "0.55"),
            (m.baselines.get("noise"), ":", "tab:red"),
        )
        for est, style, color in lines:
            if isinstance(est, Estimate) and math.isfinite(est.value):
                ax.axhline(est.value, ls=style, color=color, lw=1)
        ax.set_title(f"{m.title} ({'higher' if m.higher_is_better else 'lower'} is better)", fontsize=9, loc="left")
        ax.tick_params(labelsize=7)
        ax.grid(axis="y", alpha=0.3)
    if panels:
        axes[0].legend(fontsize=7, loc="best")
        bottom = axes[len(panels) - 1]
        if n <= 40:  # name the clips; beyond that the index is more readable
            bottom.set_xticks(x, result.stems, rotation=45, ha="right", fontsize=7)
        else:
            bottom.set_xlabel("clip (per_clip.csv order)", fontsize=8)
    with atomic_output(path) as tmp:
        fig.savefig(str(tmp), format="png", dpi=100)
    return path
