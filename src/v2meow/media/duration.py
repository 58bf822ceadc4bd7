"""Duration policy: how long the music for a video will be, checked against a limit before any model work.

The music lasts as long as the video stream's timeline (`media.probe`'s duration, which
`media.read_frames` covers). A crafted file can claim hours with a handful of frames (10 KB,
3 frames, the last at 6 h): `music_length` refuses a video over the limit, naming its length,
and `uncovered` says when the frames cover much less of the timeline than it claims. Every
entry point calls `music_length`: `v2meow-generate --max-seconds` (default 600 s),
`V2MeowPipeline.__call__(max_seconds=...)` (no limit by default) and the app (`Limits.max_seconds`).
"""

from __future__ import annotations

import os
from typing import Any

import av

from v2meow.errors import EmptyMediaError
from v2meow.media import avio
from v2meow.safety import validation

HELD_SECONDS = 10.0  # one frame shown longer than this, and over half the timeline: the frames do not cover it
MAX_PACKETS = 100_000  # packets read (not decoded) looking for such a frame; a longer video is not searched further


def uncovered(path: str | os.PathLike, duration: float) -> str:
    """A note (one clause) when one frame of the video is shown for most of its `duration` seconds
    (a gap in the frames' timestamps, or a last frame held to a far end), else ``""``.
    Reads packet timestamps only (no decoding)."""
    times: list[float] = []
    with avio.open_media(path) as c:
        stream = next((s for s in c.streams.video if not avio.is_attached_picture(s)), None)
        if stream is None or stream.time_base is None:
            return ""
        start = stream.start_time or 0
        try:
            for packet in c.demux(stream):
                if packet.pts is not None:
                    times.append(float((packet.pts - start) * stream.time_base))
                if len(times) > MAX_PACKETS:
                    return ""
        except av.FFmpegError:
            return ""  # a damaged file is reported by the decoder, which reads it next
    if not times:
        return ""
    times.sort()
    ends = times[1:] + [max(duration, times[-1])]
    held, at = max((end - t, t) for t, end in zip(times, ends))
    if held <= max(HELD_SECONDS, duration / 2):
        return ""
    count = f"{len(times)} video frame{'s' if len(times) != 1 else ''}"
    return f"its {count} do not cover that timeline: the frame at {at:.2f} s is held for {validation.length_text(held)}"


def music_length(video: str | os.PathLike | Any, limit: float | None, limit_name: str, lift: str) -> tuple[float, str]:
    """`(seconds of music, note)` for `video` (a file, or `Features` already extracted), with `note`
    from `uncovered` (``""`` when the frames cover the timeline); a MediaError naming the file,
    its length, `limit_name` (e.g. "the --max-seconds limit") and `lift` (how to lift it) when the
    video is longer than `limit` seconds (None: no limit)."""
    if hasattr(video, "duration") and not isinstance(video, (str, os.PathLike)):  # Features
        return validation.duration_limit(float(video.duration), limit, "the video", limit_name, lift), ""
    info = avio.probe(video)
    note = uncovered(video, info.duration) if info.has_video and info.duration > 0 else ""
    return validation.duration_limit(info.duration, limit, str(video), limit_name, lift, note), note


def check_audible(seconds: float, sample_rate: int, what: str) -> None:
    """EmptyMediaError naming `what` when `seconds` hold not one sample at `sample_rate` (a corrupt time scale)."""
    if round(seconds * sample_rate) < 1:
        raise EmptyMediaError(f"{what}: lasts {seconds:.3g}s, less than one audio sample")
