"""Beat markers for a video editor: the beats and downbeats of a soundtrack, written as CSV or EDL.

The beats are the project's own tracker (`signal.rhythm.music_beats`: dynamic programming on the
onset envelope at the estimated tempo). Downbeats assume four beats to a bar (the meter of most
of the music a soundtrack is cut to) and pick, of the four phases, the one whose beats carry the
most low-frequency onset strength (bass and kick drums mark the bar); a piece with fewer than
four beats has no downbeat.

Formats, chosen by the file's suffix (`write_markers`):

    .csv   a header `time_s,downbeat`, then one row per beat (`0.500,1`), seconds with 3 decimals;
    .edl   an edit decision list of timeline markers as DaVinci Resolve imports them (Timeline >
           Import > Timeline Markers from EDL): one zero-length event per beat at its timecode,
           `|C:ResolveColorRed` for a downbeat, `|C:ResolveColorBlue` for another beat.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from v2meow.errors import ConfigError
from v2meow.safety.outputs import atomic_output

SUFFIXES = (".csv", ".edl")
BEATS_PER_BAR = 4


@dataclass
class Markers:
    """Beat times and downbeat flags of one piece of music."""

    times: np.ndarray  # [B] seconds, ascending
    downbeat: np.ndarray  # [B] bool


def check_suffix(path: str | os.PathLike, option: str = "--markers") -> Path:
    """`path` if its suffix names a marker format, else a ConfigError naming the formats."""
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise ConfigError(f"{option} {path}: the file must end in {' or '.join(SUFFIXES)} (the format)")
    return path


def beat_markers(wav: np.ndarray, sample_rate: int) -> Markers:
    """Beats and downbeats of mono music `wav [N]` (or `[C, N]`, averaged)."""
    from v2meow.signal.rhythm import ENVELOPE_RATE, music_beats, onset_envelope

    x = np.asarray(wav, np.float32)
    x = x.mean(0) if x.ndim == 2 else x
    times = music_beats(x, sample_rate)  # [B] s
    downbeat = np.zeros(times.shape[0], bool)
    if times.shape[0] >= BEATS_PER_BAR:
        env = onset_envelope(_lowpass(x, sample_rate), sample_rate)  # [F] onset strength below ~200 Hz
        idx = np.clip(np.round(times * ENVELOPE_RATE).astype(int), 0, env.shape[0] - 1)
        strength = env[idx]  # [B]
        phase = int(np.argmax([strength[p::BEATS_PER_BAR].mean() for p in range(BEATS_PER_BAR)]))
        downbeat[phase::BEATS_PER_BAR] = True
    return Markers(times=times, downbeat=downbeat)


def _lowpass(x: np.ndarray, sample_rate: int, cutoff: float = 200.0) -> np.ndarray:
    from scipy.signal import butter, sosfiltfilt

    return sosfiltfilt(butter(4, cutoff, fs=sample_rate, output="sos"), x).astype(np.float32)


def write_markers(path: str | os.PathLike, markers: Markers, fps: float = 25.0, title: str = "v2meow") -> Path:
    """Write `markers` to `path` atomically, in the format of its suffix (`fps`: the EDL's timecode rate)."""
    path = check_suffix(path)
    text = _csv(markers) if path.suffix.lower() == ".csv" else _edl(markers, fps, title)
    with atomic_output(path) as tmp:
        tmp.write_text(text)
    return path


def _csv(m: Markers) -> str:
    rows = [f"{t:.3f},{int(d)}" for t, d in zip(m.times, m.downbeat)]
    return "\n".join(["time_s,downbeat", *rows]) + "\n"


def timecode(seconds: float, fps: float) -> str:
    """HH:MM:SS:FF (non-drop) of `seconds` at a whole `fps` (25, 30, 24; 29.97 counts as 30)."""
    rate = max(1, round(fps))
    frames = int(math.floor(seconds * rate + 1e-6))
    return (
        f"{frames // (3600 * rate):02d}:{frames // (60 * rate) % 60:02d}:{frames // rate % 60:02d}:{frames % rate:02d}"
    )


def _edl(m: Markers, fps: float, title: str) -> str:
    lines = [f"TITLE: {title}", "FCM: NON-DROP FRAME", ""]
    rate = max(1, round(fps))
    for n, (t, down) in enumerate(zip(m.times, m.downbeat), start=1):
        start, end = timecode(t, fps), timecode(t + 1.0 / rate, fps)
        color, name = ("ResolveColorRed", "Downbeat") if down else ("ResolveColorBlue", "Beat")
        lines.append(f"{n:03d}  001      V     C        {start} {end} {start} {end}  ")
        lines.append(f" |C:{color} |M:{name} {n} |D:1")
        lines.append("")
    return "\n".join(lines)
