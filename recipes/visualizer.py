"""A deterministic music visualizer: small videos whose picture follows their music.

Each frame has three layers, driven by `recipes.analysis` of the music:

- a disc that jumps to a new place and swells on every onset (then shrinks back);
  its hue follows the spectral centroid (red = dark timbre, violet = bright);
- concentric rings behind it that zoom out on every beat (a camera pulse), tinted by
  the low/mid/high band shares (red/green/blue) and lit by the loudness;
- a white flash over everything on strong onsets.

So motion energy peaks on onsets and pulses at the tempo, brightness flashes on
accents, and colour drifts with timbre. `render_pulse` draws the same picture for a
metronome (an onset on every beat, a flash on every bar), silent, for tempo tests.
"""

from __future__ import annotations

import colorsys
import math
import os
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from recipes.analysis import MusicAnalysis, analyze
from v2meow import media
from v2meow.errors import ConfigError
from v2meow.safety.outputs import atomic_output

_GOLDEN = math.pi * (3.0 - math.sqrt(5.0))  # golden angle: successive disc places spread evenly
_DECAY = {"onset": 0.15, "beat": 0.12, "flash": 0.08}  # seconds, exponential decay of each pulse
_STRONG = 0.6  # onset strength from which an onset also flashes
_TYPICAL_BANDS = np.array([0.55, 0.35, 0.10])  # usual low/mid/high power shares of music: grey tint


@dataclass
class Controls:
    """What each video frame shows, `T` frames at `fps`."""

    fps: float
    onset: np.ndarray  # [T] 0..1 disc swell
    jump: np.ndarray  # [T] int: index of the disc's current place
    beat: np.ndarray  # [T] 0..1 ring zoom
    flash: np.ndarray  # [T] 0..1 white flash
    hue: np.ndarray  # [T] 0..1 disc hue
    tint: np.ndarray  # [T, 3] 0..1 ring colour
    level: np.ndarray  # [T] 0..1 ring brightness


@dataclass
class RenderInfo:
    """What `render` / `render_pulse` wrote."""

    path: str
    frames: int
    fps: float
    size: tuple[int, int]
    tempo: float | None  # BPM the picture pulses at (estimated, or the pulse's)
    onsets: int
    beats: int


def _pulses(times: np.ndarray, heights: np.ndarray, n: int, fps: float, tau: float) -> np.ndarray:
    """`[n]` train of jumps to `heights` at `times` (seconds), each decaying with time constant `tau`."""
    impulse = np.zeros(n)
    idx = np.round(np.asarray(times) * fps).astype(np.int64)
    ok = (idx >= 0) & (idx < n)
    np.maximum.at(impulse, idx[ok], np.asarray(heights, np.float64)[ok])
    out, decay, level = np.empty(n), math.exp(-1.0 / (tau * fps)), 0.0
    for t in range(n):
        level = max(level * decay, impulse[t])
        out[t] = level
    return out


def _smooth(x: np.ndarray, rate: float, tau: float) -> np.ndarray:
    """One-pole low-pass (time constant `tau` s) along axis 0, run forward then backward: no lag."""
    a = 1.0 - math.exp(-1.0 / (tau * rate))
    y = np.array(x, np.float64)
    for t in range(1, len(y)):
        y[t] = y[t - 1] + a * (y[t] - y[t - 1])
    for t in range(len(y) - 2, -1, -1):
        y[t] = y[t + 1] + a * (y[t] - y[t + 1])
    return y


def music_controls(wav: np.ndarray, sample_rate: int, fps: float, n_frames: int) -> tuple[Controls, MusicAnalysis]:
    """Controls for mono `wav [N]`, and the `MusicAnalysis` they come from."""
    a = analyze(wav, sample_rate)
    frame_at = np.clip(np.round(np.arange(n_frames) / fps * a.rate).astype(np.int64), 0, len(a.envelope) - 1)
    lift = np.log2(np.clip(_smooth(a.centroid, a.rate, 0.5), 150.0, 6000.0) / 150.0) / math.log2(40.0)
    tint = np.sqrt(_smooth(a.bands, a.rate, 0.5) / _TYPICAL_BANDS)  # [F, 3]
    tint /= tint.max(1, keepdims=True).clip(1e-6)
    strong = a.strengths >= _STRONG
    controls = Controls(
        fps=fps,
        onset=_pulses(a.onsets, a.strengths, n_frames, fps, _DECAY["onset"]),
        jump=np.searchsorted(np.round(a.onsets * fps), np.arange(n_frames), side="right"),
        beat=_pulses(a.beats, np.ones(len(a.beats)), n_frames, fps, _DECAY["beat"]),
        flash=_pulses(a.onsets[strong], (a.strengths[strong] - 0.4) / 0.6, n_frames, fps, _DECAY["flash"]),
        hue=0.78 * lift[frame_at],
        tint=tint[frame_at],
        level=_smooth(a.loudness, a.rate, 0.3)[frame_at],
    )
    return controls, a


def pulse_controls(bpm: float, fps: float, n_frames: int, seed: int = 0, beats_per_bar: int = 4) -> Controls:
    """Controls of a metronome at `bpm`: onset + ring zoom every beat, flash every bar; colours drift slowly."""
    if not bpm > 0:
        raise ConfigError(f"bpm must be positive, got {bpm}")
    rng = np.random.default_rng(seed)
    period = 60.0 / bpm
    beats = np.arange(0.0, n_frames / fps, period) + rng.uniform(0.0, period)
    accent = np.where(np.arange(len(beats)) % beats_per_bar == 0, 1.0, 0.75)
    t = np.arange(n_frames) / fps
    hue0, tint_phase = rng.uniform(0, 1), rng.uniform(0, 2 * math.pi, 3)
    tint = 0.6 + 0.4 * np.cos(2 * math.pi * t[:, None] / 20.0 + tint_phase)  # [T, 3] slow colour drift
    return Controls(
        fps=fps,
        onset=_pulses(beats, accent, n_frames, fps, _DECAY["onset"]),
        jump=np.searchsorted(np.round(beats * fps), np.arange(n_frames), side="right"),
        beat=_pulses(beats, np.ones(len(beats)), n_frames, fps, _DECAY["beat"]),
        flash=_pulses(beats[accent == 1.0], np.ones(int((accent == 1.0).sum())), n_frames, fps, _DECAY["flash"]),
        hue=(hue0 + 0.1 * np.sin(2 * math.pi * t / 15.0)) % 1.0 * 0.78,
        tint=tint / tint.max(1, keepdims=True),
        level=np.full(n_frames, 0.8),
    )


def draw(c: Controls, size: tuple[int, int]):
    """Yield the frames `[H, W, 3]` uint8 RGB of controls `c`."""
    h, w = size
    yy, xx = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w) * w / h, indexing="ij")  # [H, W]
    radius = np.sqrt(xx * xx + yy * yy)
    edge = 2.0 / h  # soft edges, about one pixel
    for t in range(len(c.onset)):
        rings = 0.5 + 0.5 * np.cos(2 * math.pi * 2.5 * radius / (1.0 + 0.35 * c.beat[t]))  # [H, W]
        img = c.tint[t] * (0.12 + 0.4 * c.level[t]) * (0.35 + 0.65 * rings)[..., None]  # [H, W, 3]
        angle = c.jump[t] * _GOLDEN
        cx, cy = 0.5 * math.cos(angle), 0.5 * math.sin(angle)
        r = 0.16 + 0.22 * c.onset[t]
        mask = np.clip((r - np.hypot(xx - cx, yy - cy)) / edge + 0.5, 0.0, 1.0)[..., None]
        colour = np.array(colorsys.hsv_to_rgb(float(c.hue[t]), 0.85, 0.55 + 0.45 * float(c.onset[t])))
        img = img * (1.0 - mask) + colour * mask
        img = img + 0.6 * c.flash[t] * (1.0 - img)
        yield np.round(np.clip(img, 0.0, 1.0) * 255.0).astype(np.uint8)


def _check_size(size: tuple[int, int], fps: float) -> tuple[int, int]:
    h, w = int(size[0]), int(size[1])
    if h < 16 or w < 16 or h % 2 or w % 2:
        raise ConfigError(f"video size must be even and at least 16x16, got {h}x{w}")
    if not 1 <= fps <= 60:
        raise ConfigError(f"fps must be in [1, 60], got {fps}")
    return h, w


def encode(frames, path: Path, fps: float, size: tuple[int, int], crf: int = 25) -> int:
    """Encode RGB frames as H.264 (yuv420p) into `path`; returns the frame count.

    x264 runs on one thread with macroblock-tree rate control off: with it on, some
    frame sizes (96x96 among them) encode to different bytes from run to run.
    """
    rate = Fraction(fps).limit_denominator(1001)
    n = 0
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=rate)
        stream.height, stream.width = size
        stream.pix_fmt = "yuv420p"
        stream.options = {
            "crf": str(crf),
            "preset": "medium",
            "threads": "1",
            "g": str(max(1, round(2 * fps))),
            "x264-params": "mbtree=0",
        }
        for n, rgb in enumerate(frames, 1):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = n - 1, 1 / rate
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return n


def render(
    wav: np.ndarray | torch.Tensor,
    sample_rate: int,
    out_path: str | os.PathLike,
    fps: float = 20.0,
    size: tuple[int, int] = (96, 96),
    crf: int = 25,
) -> RenderInfo:
    """Render the visualizer video of `wav` with the music muxed in (AAC), atomically.

    Args:
        wav: mono audio `[N]` or `[1, N]` (several channels are averaged), float.
        sample_rate: its rate.
        out_path: an `.mp4` (or `.mkv`/`.mov`) path.
        fps: video frame rate. 20 (the default) matches the 20-Hz frame reads of the
            `motion` extractor at 10 Hz, so every picture change is seen exactly once.
        size: `(height, width)`, even.
    """
    h, w = _check_size(size, fps)
    x = torch.as_tensor(wav).detach().float().cpu()
    x = (x if x.dim() == 1 else x.reshape(-1, x.shape[-1]).mean(0)).numpy()  # [N]
    if x.size < sample_rate * 0.1:
        raise ConfigError(f"audio too short to render ({x.size} samples)")
    n_frames = max(1, round(x.size / sample_rate * fps))
    controls, a = music_controls(x, sample_rate, fps, n_frames)
    out_path = Path(out_path)
    fd, tmp = tempfile.mkstemp(prefix=f".{out_path.stem}.", suffix=".video.tmp.mp4", dir=out_path.parent)
    os.close(fd)
    try:
        encode(draw(controls, (h, w)), Path(tmp), fps, (h, w), crf)
        media.mux_audio(tmp, torch.from_numpy(x)[None], sample_rate, out_path, bit_rate=64_000)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return RenderInfo(str(out_path), n_frames, fps, (h, w), a.tempo, len(a.onsets), len(a.beats))


def render_pulse(
    bpm: float,
    seconds: float,
    out_path: str | os.PathLike,
    fps: float = 20.0,
    size: tuple[int, int] = (96, 96),
    seed: int = 0,
    crf: int = 25,
) -> RenderInfo:
    """Render a silent video that pulses at `bpm` (same picture vocabulary as `render`), atomically."""
    h, w = _check_size(size, fps)
    n_frames = max(1, round(seconds * fps))
    controls = pulse_controls(bpm, fps, n_frames, seed)
    with atomic_output(out_path) as tmp:
        encode(draw(controls, (h, w)), tmp, fps, (h, w), crf)
    n_beats = int(controls.jump[-1])  # beats shown up to the last frame
    return RenderInfo(str(out_path), n_frames, fps, (h, w), float(bpm), n_beats, n_beats)
