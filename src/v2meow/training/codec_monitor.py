"""Watching a codec train: a loss-curve CSV + PNG and held-out audio examples in the run folder.

    out/losses.csv            step, wall-clock time, then one column per training loss (appended; survives resumes)
    out/losses.png            the curves, redrawn every `every_n_steps`
    out/examples/original_<name>.wav, out/examples/step<N>_<name>.wav
                              held-out excerpts and their token round trip (encode -> decode)

Examples come from the first `examples` audio files of `examples_dir` (sorted by path), an
excerpt of `seconds` starting a third of the way into each file.
"""

from __future__ import annotations

import csv
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch

from v2meow.errors import ConfigError, MediaError
from v2meow.safety.outputs import atomic_output

log = logging.getLogger(__name__)

LOSS_COLUMNS = ("loss_g", "mel", "wave", "commit", "loss_d", "adv", "feat")


@dataclass
class MonitorConfig:
    """The `model.monitor:` section of a codec run config."""

    every_n_steps: int = 500  # PNG + examples interval; 0: never
    log_every_n_steps: int = 10  # rows of losses.csv
    examples_dir: str | None = None  # held-out audio; null: no examples
    examples: int = 2
    seconds: float = 5.0

    def __post_init__(self) -> None:
        if self.every_n_steps < 0 or self.log_every_n_steps <= 0 or self.examples < 0 or self.seconds <= 0:
            raise ConfigError("model.monitor: every_n_steps >= 0, log_every_n_steps > 0, examples >= 0, seconds > 0")


class CodecMonitor(L.Callback):
    """Appends losses to `losses.csv`, and every `every_n_steps` redraws `losses.png` and writes examples."""

    def __init__(self, config: MonitorConfig, out: Path):
        self.config, self.out = config, Path(out)
        self.csv_path = self.out / "losses.csv"
        self._clips: list[tuple[str, torch.Tensor]] | None = None

    def on_train_batch_end(self, trainer: L.Trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if not trainer.is_global_zero:
            return
        step = trainer.global_step  # already incremented: the number of codec steps taken
        if step % self.config.log_every_n_steps == 0:
            self._append(step, getattr(pl_module, "last_logs", {}))
        if self.config.every_n_steps and step % self.config.every_n_steps == 0:
            self.plot()
            self.write_examples(pl_module.inference_codec, step)

    def _append(self, step: int, logs: dict[str, float]) -> None:
        new = not self.csv_path.exists()
        self.out.mkdir(parents=True, exist_ok=True)
        with self.csv_path.open("a", newline="") as f:
            w = csv.writer(f)
            if new:
                w.writerow(["step", "time", *LOSS_COLUMNS])
            w.writerow(
                [step, f"{time.time():.2f}", *("" if logs.get(k) is None else f"{logs[k]:.6g}" for k in LOSS_COLUMNS)]
            )

    def plot(self) -> Path | None:
        """Draw `losses.png` from `losses.csv` (one panel for reconstruction, one for the GAN terms)."""
        if not self.csv_path.exists():
            return None
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        with self.csv_path.open() as f:
            rows = list(csv.DictReader(f))
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
        for ax, keys in zip(axes, (("mel", "wave", "commit"), ("loss_d", "adv", "feat")), strict=True):
            for k in keys:
                pts = [(int(r["step"]), float(r[k])) for r in rows if r.get(k)]
                if pts:
                    ax.plot(*zip(*pts, strict=True), label=k, lw=0.9)
            ax.set(xlabel="codec step")
            if ax.lines:
                ax.legend(fontsize=8)
        axes[0].set(yscale="log", title="reconstruction")
        axes[1].set(title="adversarial")
        fig.tight_layout()
        path = self.out / "losses.png"
        with atomic_output(path) as tmp:
            fig.savefig(tmp, dpi=90, format="png")
        plt.close(fig)
        return path

    def _load_clips(self, sample_rate: int, channels: int) -> list[tuple[str, torch.Tensor]]:
        from v2meow import media
        from v2meow.training.audio_data import scan_audio

        clips = []
        (self.out / "examples").mkdir(parents=True, exist_ok=True)
        for path, duration in scan_audio(self.config.examples_dir)[: self.config.examples]:
            try:
                wav, _ = media.read_audio(
                    path, sample_rate=sample_rate, channels=channels, start=duration / 3, duration=self.config.seconds
                )
            except MediaError as e:
                log.warning("monitor: skipping example %s", e)
                continue
            name = Path(path).stem
            media.write_audio(self.out / "examples" / f"original_{name}.wav", wav, sample_rate)
            clips.append((name, wav))
        return clips

    @torch.no_grad()
    def write_examples(self, codec, step: int) -> None:
        if not self.config.examples_dir or not self.config.examples:
            return
        from v2meow import media

        if self._clips is None:
            self._clips = self._load_clips(codec.sample_rate, codec.channels)
        for name, wav in self._clips:
            rec = codec.decode(codec.encode(wav.to(codec.device)), length=wav.shape[-1]).float().cpu()  # [C, N]
            media.write_audio(self.out / "examples" / f"step{step:08d}_{name}.wav", rec.clamp(-1, 1), codec.sample_rate)
