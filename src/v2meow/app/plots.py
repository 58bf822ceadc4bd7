"""The picture shown under each candidate: waveform on top, log-mel spectrogram below."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from v2meow.safety.outputs import atomic_output
from v2meow.signal.dsp import log_mel_spectrogram

N_FFT, HOP, N_MELS = 1024, 256, 80


def envelope(mono: np.ndarray, sample_rate: int, points: int = 2000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Min and max of `mono [N]` over `points` equal slices (times at slice starts).

    Plotting every k-th sample instead would alias: a periodic sound can look flat.
    """
    step = max(1, -(-mono.shape[0] // points))
    n = -(-mono.shape[0] // step) * step
    padded = np.pad(mono, (0, n - mono.shape[0]), mode="edge").reshape(-1, step)
    return np.arange(padded.shape[0]) * step / sample_rate, padded.min(1), padded.max(1)


def soundtrack_figure(
    wav: torch.Tensor,
    sample_rate: int,
    path: str | os.PathLike,
    title: str = "",
    beats=None,
    span: tuple[float, float] | None = None,
) -> Path:
    """Draw `wav [C, N]` (mixed to mono) as a waveform over a log-mel spectrogram; save a PNG.
    `beats` (`signal.markers.Markers`): beat lines on the waveform, downbeats darker; `span`: a
    regenerated range, shaded."""
    from matplotlib.figure import Figure  # the object API: thread-safe, no global backend

    mono = wav.float().mean(0).numpy() if wav.dim() == 2 else wav.float().numpy()
    duration = mono.shape[0] / sample_rate
    fig = Figure(figsize=(6.4, 3.2), dpi=100, layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(1, 2))
    peak = float(np.abs(mono).max()) if mono.size else 0.0
    times, low, high = envelope(mono, sample_rate)
    top.fill_between(times, low, high, linewidth=0.4, color="#e8590c")
    top.set_ylim(
        -1.05 * max(peak, 1e-4), 1.05 * max(peak, 1e-4)
    )  # scaled to the peak: quiet music still shows its shape
    top.set_yticks([])
    top.set_ylabel("wave")
    if beats is not None:
        for t, down in zip(beats.times, beats.downbeat):
            top.axvline(t, color="#1c7ed6" if down else "#a5d8ff", linewidth=1.0 if down else 0.5)
    if span is not None:
        for ax in (top, bottom):
            ax.axvspan(*span, color="#fab005", alpha=0.25, linewidth=0)
    loudness = f"peak {20 * np.log10(peak):.0f} dBFS" if peak > 0 else "silent"
    top.set_title(f"{title}  ({loudness})" if title else loudness, fontsize=9, loc="left")
    mel = log_mel_spectrogram(mono, sample_rate, N_FFT, HOP, N_MELS, 0.0, sample_rate / 2, center=True)
    bottom.imshow(mel.T, origin="lower", aspect="auto", cmap="magma", extent=(0.0, duration, 0, N_MELS))
    bottom.set_ylabel("mel band")
    bottom.set_xlabel("time (s)")
    bottom.set_xlim(0.0, duration)
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)
