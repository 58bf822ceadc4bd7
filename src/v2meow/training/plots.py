"""`loss.png`: the curves of whatever a run logs, redrawn on every checkpoint and at the end.

When training starts, `LossPlot` prints where the plot and the TensorBoard logs are.

`LossPlot` is a Lightning callback that reads the run's CSV logs (`out/logs/version_*/metrics.csv`,
one folder per start, so a resumed run's curves continue) and draws one panel per metric name,
train and val overlaid: `train/loss` and `val/loss` share the "loss" panel, `train/acc` and
`val/acc` the "acc" panel, a codec's `train/mel` its own panel. It knows no metric by name
beyond putting loss and accuracy first, so any training module gets its curves. Reference
values (e.g. the targets' unigram and bigram entropies, `training/entropy.py`) are drawn as
dashed horizontal lines in the panel they name.
"""

from __future__ import annotations

import csv
import math
import re
import sys
from collections import defaultdict
from pathlib import Path

from lightning.pytorch.callbacks import Callback

PLOT_NAME = "loss.png"
SKIP = {"epoch", "step", "lr", "lr-AdamW"}
NOT_DRAWN = {"train/tokens_seen"}  # read, but no curve to compare
FIRST = ("loss", "acc")  # panels drawn first, in this order
MAX_PANELS = 6

Series = dict[str, list[tuple[int, float]]]  # metric name -> [(global step, value)]
References = dict[str, dict[str, float]]  # panel name -> {label: value}, e.g. {"loss": {"unigram H": 5.1}}


def read_metrics(log_dir: str | Path) -> Series:
    """Every numeric column of every `version_*/metrics.csv` under `log_dir`, by step (later starts win)."""
    by_key: dict[str, dict[int, float]] = defaultdict(dict)
    versions = sorted(Path(log_dir).glob("version_*/metrics.csv"), key=lambda p: _version(p.parent.name))
    for path in versions:
        with path.open(newline="") as f:
            for row in csv.DictReader(f):
                try:
                    step = int(float(row.get("step") or ""))
                except ValueError:
                    continue
                for key, text in row.items():
                    if key in SKIP or not text:
                        continue
                    try:
                        value = float(text)
                    except ValueError:
                        continue
                    if math.isfinite(value):
                        by_key[key][step] = value
    return {k: sorted(v.items()) for k, v in by_key.items() if v}


def _version(name: str) -> int:
    m = re.search(r"(\d+)$", name)
    return int(m.group(1)) if m else -1


def panels(series: Series) -> dict[str, list[str]]:
    """Metric keys grouped by name after the split prefix (`train/loss`, `val/loss` -> "loss")."""
    groups: dict[str, list[str]] = defaultdict(list)
    for key in sorted(set(series) - NOT_DRAWN):
        groups[key.split("/", 1)[-1]].append(key)
    order = [n for n in FIRST if n in groups] + sorted(n for n in groups if n not in FIRST)
    return {n: groups[n] for n in order[:MAX_PANELS]}


def plot_metrics(
    series: Series, path: str | Path, title: str = "", references: References | None = None
) -> Path | None:
    """Draw `series` into `path` (PNG, written atomically); None when nothing was logged yet.

    `references` adds dashed horizontal lines to the panels they name, each labelled."""
    from matplotlib.figure import Figure

    from v2meow.safety.outputs import atomic_output

    groups = panels(series)
    if not groups:
        return None
    cols = min(3, len(groups))
    rows = math.ceil(len(groups) / cols)
    fig = Figure(figsize=(4.2 * cols, 3.0 * rows), layout="constrained")
    for i, (name, keys) in enumerate(groups.items()):
        ax = fig.add_subplot(rows, cols, i + 1)
        for key in keys:
            steps, values = zip(*series[key])
            marker = "o" if len(steps) < 20 else None
            ax.plot(steps, values, label=key, marker=marker, markersize=3, linewidth=1.2)
        for j, (label, value) in enumerate((references or {}).get(name, {}).items()):
            if value is not None and math.isfinite(value):
                ax.axhline(value, linestyle="--", linewidth=1.0, color=f"C{len(keys) + j}", label=label)
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    path = Path(path)
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=100)
    return path


def watch_lines(out: str | Path) -> str:
    """Where to watch a run: its TensorBoard folder and its loss plot."""
    out = Path(out)
    return (
        f"TensorBoard: tensorboard --logdir {out / 'tb'}; loss curves: {out / PLOT_NAME} "
        "(redrawn on every checkpoint and at the end)"
    )


class LossPlot(Callback):
    """Write `out/loss.png` from the run's CSV logs on every checkpoint and at the end of training.

    Args:
        out: the run directory (holds `logs/` from the CSV logger).
        title: figure title, e.g. the stage name.
        references: dashed reference lines per panel (`plot_metrics`); may be set before fit.
    """

    def __init__(self, out: str | Path, title: str = "", references: References | None = None):
        self.out, self.title, self.references = Path(out), title, references

    @property
    def path(self) -> Path:
        return self.out / PLOT_NAME

    def draw(self, trainer) -> Path | None:
        if not trainer.is_global_zero:
            return None
        for logger in trainer.loggers:  # flush buffered rows so the plot is current
            if type(logger).__name__ == "CSVLogger":
                logger.save()
        return plot_metrics(read_metrics(self.out / "logs"), self.path, self.title, self.references)

    def on_fit_start(self, trainer, pl_module) -> None:  # after the config was checked: bad input stays one line
        if trainer.is_global_zero:
            print(f"v2meow-train: {watch_lines(self.out)}", file=sys.stderr, flush=True)

    def on_save_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        self.draw(trainer)

    def on_train_end(self, trainer, pl_module) -> None:
        self.draw(trainer)
