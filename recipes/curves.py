"""Validation curves of several training runs in one figure: validation loss against target tokens
seen, with the targets' unigram and bigram entropies (the first run's `entropy.json`) as dashed lines.
Used for the scaling studies in docs/training.md.

    python -m recipes.curves runs/study/s1_w64_d4 runs/study/s1_w128_d4 runs/study/s1_w192_d6 \\
        --out docs/figures/stage1_study.png [--json docs/figures/stage1_study.json]

Each run is a `v2meow-train` output folder (its CSV logs under RUN/logs); a run's label is its
folder name, or `NAME=RUN`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from v2meow.errors import V2MeowError
from v2meow.training.plots import read_metrics


def val_curve(run: Path) -> list[tuple[int, float, float]]:
    """(step, tokens seen, validation loss) at each validation of `run`; tokens seen at a validation
    step is the training count logged at or before it (interpolated between logged steps)."""
    series = read_metrics(run / "logs")
    val, seen = series.get("val/loss", []), series.get("train/tokens_seen", [])
    if not val or not seen:
        raise V2MeowError(f"{run}: no val/loss or train/tokens_seen in {run / 'logs'} (a run with data.val_split)")
    out = []
    for step, loss in val:
        before = [(s, t) for s, t in seen if s <= step] or seen[:1]
        after = [(s, t) for s, t in seen if s > step]
        (s0, t0), (s1, t1) = before[-1], (after[0] if after else before[-1])
        tokens = t0 if s1 == s0 else t0 + (t1 - t0) * (step - s0) / (s1 - s0)
        out.append((step, tokens, loss))
    return out


def plot(curves: dict[str, list[tuple[int, float, float]]], entropy: dict | None, path: Path) -> None:
    from matplotlib.figure import Figure

    from v2meow.safety.outputs import atomic_output

    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    for name, rows in curves.items():
        ax.plot([r[1] / 1e6 for r in rows], [r[2] for r in rows], marker="o", markersize=3, label=name)
    for i, key in enumerate(("unigram", "bigram")):
        if entropy and entropy.get(key) is not None:
            ax.axhline(entropy[key], linestyle="--", linewidth=1.0, color=f"C{len(curves) + i}", label=f"{key} H")
    ax.set(xlabel="target tokens seen (millions)", ylabel="validation loss (nats)", title="validation loss")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=100)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m recipes.curves", description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", help="run folders, or NAME=RUN")
    p.add_argument("--out", required=True, help="the figure (PNG)")
    p.add_argument("--json", help="also write the curves as JSON here")
    a = p.parse_args(argv)
    try:
        named = [r.split("=", 1) if "=" in r else (Path(r).name, r) for r in a.runs]
        curves = {name: val_curve(Path(run)) for name, run in named}
        first = Path(named[0][1]) / "entropy.json"
        entropy = json.loads(first.read_text()) if first.exists() else None
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        plot(curves, entropy, Path(a.out))
        if a.json:
            from v2meow.safety.outputs import atomic_output

            table = {n: [{"step": s, "tokens": round(t), "val_loss": round(v, 4)} for s, t, v in rows]
                     for n, rows in curves.items()}  # fmt: skip
            with atomic_output(a.json) as tmp:
                tmp.write_text(json.dumps({"entropy": entropy, "runs": table}, indent=1) + "\n")
    except V2MeowError as e:
        print(f"recipes.curves: error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
