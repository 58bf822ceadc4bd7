"""Make small test media with PyAV: videos with known content, audio files in many formats."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def frame_pattern(kind: str, i: int, t: float, h: int, w: int) -> np.ndarray:
    """An RGB frame [H, W, 3] uint8 for pattern `kind` at frame index i, time t."""
    img = np.zeros((h, w, 3), np.uint8)
    if kind == "static":
        img[:, : w // 2] = (200, 60, 30)
        img[h // 4 : h // 2, w // 4 : w // 2] = (20, 180, 220)
    elif kind == "moving":  # a white square crossing the frame twice a second
        s = max(4, h // 4)
        x = int((w - s) * (0.5 + 0.5 * np.sin(2 * np.pi * 2 * t)))
        img[h // 3 : h // 3 + s, x : x + s] = 255
    elif kind == "cut":  # dark for the first half, bright after a hard cut at t = 1.0
        img[:] = (15, 15, 15) if t < 1.0 else (230, 230, 230)
    elif kind == "counter":  # brightness encodes the frame index (for timestamp tests)
        img[:] = (i * 7) % 256
    else:
        raise ValueError(kind)
    return img


def make_video(
    path: Path,
    duration: float = 2.0,
    fps: float | Fraction = 25,
    size: tuple[int, int] = (64, 96),
    pattern: str = "moving",
    audio_rate: int | None = None,
    codec: str = "libx264",
) -> Path:
    """Write a video of `duration` s at `fps` with frames from `frame_pattern`; optionally a sine audio track."""
    fps = Fraction(fps).limit_denominator(1001)
    h, w = size
    with av.open(str(path), "w") as c:
        v = c.add_stream(codec, rate=fps)
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        a = None
        if audio_rate:
            a = c.add_stream("aac", rate=audio_rate, layout="mono")
        n = max(1, round(duration * fps))
        for i in range(n):
            t = float(i / fps)
            frame = av.VideoFrame.from_ndarray(frame_pattern(pattern, i, t, h, w), format="rgb24")
            frame.pts = i
            frame.time_base = 1 / fps
            for p in v.encode(frame):
                c.mux(p)
        for p in v.encode(None):
            c.mux(p)
        if a is not None:
            sr = audio_rate
            tt = np.arange(round(n / fps * sr)) / sr
            af = av.AudioFrame.from_ndarray(
                (0.3 * np.sin(2 * np.pi * 440 * tt))[None].astype(np.float32), format="fltp", layout="mono"
            )
            af.sample_rate, af.pts, af.time_base = sr, 0, Fraction(1, sr)
            for p in list(a.encode(af)) + list(a.encode(None)):
                c.mux(p)
    return path


def make_audio(
    path: Path, duration: float = 1.0, rate: int = 44100, channels: int = 1, freq: float = 440.0
) -> np.ndarray:
    """Write a sine tone to `path` (format from suffix); return the samples written [C, N]."""
    t = np.arange(round(duration * rate)) / rate
    wav = np.stack([0.5 * np.sin(2 * np.pi * freq * (1 + 0.5 * ch) * t) for ch in range(channels)]).astype(np.float32)
    suffix = path.suffix.lower()
    if suffix in (".wav", ".flac"):
        import soundfile as sf

        sf.write(str(path), wav.T, rate)
        return wav
    codec = {".ogg": "libopus", ".opus": "libopus", ".mp3": "libmp3lame", ".aac": "aac", ".m4a": "aac"}[suffix]
    fmt = {".ogg": "ogg", ".opus": "opus", ".mp3": "mp3", ".aac": "adts", ".m4a": "mp4"}[suffix]
    layout = "mono" if channels == 1 else "stereo"
    with av.open(str(path), "w", format=fmt) as c:
        s = c.add_stream(codec, rate=rate, layout=layout)
        fmt_in = "fltp"
        frame = av.AudioFrame.from_ndarray(wav, format=fmt_in, layout=layout)
        frame.sample_rate, frame.pts, frame.time_base = rate, 0, Fraction(1, rate)
        for p in list(s.encode(frame)) + list(s.encode(None)):
            c.mux(p)
    return wav
