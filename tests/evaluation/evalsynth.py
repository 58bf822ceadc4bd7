"""Synthetic evaluation data: click tracks, motion-pulse videos, noisy and filtered audio sets."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import soundfile as sf

from v2meow.evaluation.kl import AudioClassifier


def click_track(
    times, duration: float, sample_rate: int = 16_000, freq: float = 1500.0, noise: float = 1e-3, seed: int = 0
) -> np.ndarray:
    """Decaying sine clicks at `times` (s) over faint noise, `[N]` float32."""
    n = round(duration * sample_rate)
    wav = np.zeros(n, np.float32)
    tt = np.arange(round(0.03 * sample_rate)) / sample_rate
    click = (0.8 * np.sin(2 * np.pi * freq * tt) * np.exp(-tt / 0.006)).astype(np.float32)
    for t in times:
        i = round(t * sample_rate)
        if 0 <= i < n:
            seg = wav[i : i + click.size]
            seg += click[: seg.size]
    rng = np.random.default_rng(seed)
    return wav + noise * rng.standard_normal(n).astype(np.float32)


def pulse_times(bpm: float, duration: float, start: float = 0.25) -> np.ndarray:
    """Regular pulses from `start` every 60 / bpm seconds, `[K]`."""
    return np.arange(start, duration - 0.05, 60.0 / bpm)


def write_wav(path: Path, wav: np.ndarray, sample_rate: int = 16_000) -> Path:
    sf.write(str(path), np.asarray(wav, np.float32), sample_rate)
    return path


def pulse_video(
    path: Path,
    times,
    duration: float,
    fps: int = 25,
    size: tuple[int, int] = (48, 64),
    audio: np.ndarray | None = None,
    audio_rate: int = 16_000,
) -> Path:
    """A video whose only motion is a bright square jumping sides at each of `times`; optional AAC track."""
    h, w = size
    times = np.sort(np.asarray(times, np.float64))
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        a = c.add_stream("aac", rate=audio_rate, layout="mono") if audio is not None else None
        n = round(duration * fps)
        for i in range(n):
            side = int(np.searchsorted(times, i / fps, side="right")) % 2  # flips at every pulse
            img = np.full((h, w, 3), 20, np.uint8)
            x0 = 4 if side == 0 else w // 2 + 4
            img[h // 4 : 3 * h // 4, x0 : x0 + w // 2 - 8] = 235
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for p in v.encode(frame):
                c.mux(p)
        for p in v.encode(None):
            c.mux(p)
        if a is not None:
            af = av.AudioFrame.from_ndarray(np.asarray(audio, np.float32)[None], format="fltp", layout="mono")
            af.sample_rate, af.pts, af.time_base = audio_rate, 0, Fraction(1, audio_rate)
            for p in list(a.encode(af)) + list(a.encode(None)):
                c.mux(p)
    return path


def music_like(seed: int, duration: float = 3.0, sample_rate: int = 16_000) -> np.ndarray:
    """A random chord with a random pulse envelope: clips that differ from each other, `[N]`."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(duration * sample_rate)) / sample_rate
    freqs = rng.uniform(110, 1200, size=3)
    tone = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 6.28)) for f in freqs) / 3
    period = rng.uniform(0.3, 0.8)
    env = np.exp(-((t % period) / (0.25 * period)))
    return (0.4 * tone * env + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


class BandClassifier(AudioClassifier):
    """Softmax over the log energy of 8 frequency bands: a toy classifier for tests."""

    name = "bands"
    sample_rate = 16_000
    labels = [f"band{i}" for i in range(8)]

    def probabilities(self, wav):
        spec = np.abs(np.fft.rfft(wav)) ** 2
        logits = np.log(np.array([b.sum() for b in np.array_split(spec, 8)]) + 1e-9)
        e = np.exp(logits - logits.max())
        return e / e.sum()
