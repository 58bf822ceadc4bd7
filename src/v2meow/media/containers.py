"""The containers v2meow writes, and which video codecs each can hold by copy (no file is opened here).

`tests/test_mux.py` muxes every pair PyAV can write here and checks frames and durations;
a pair must also be one FFmpeg's muxer accepts (`OutputContainer.supported_codecs`).
"""

from __future__ import annotations

import functools
import io
import os
from pathlib import Path

from v2meow.errors import MediaError

# Output container per suffix: (FFmpeg format, audio codec). Exactly these are accepted; the
# video stream is copied, so it must be one the container holds (`COPYABLE`). tests/test_mux.py
# muxes every pair PyAV can write here and checks frames and durations.
OUTPUT_CONTAINERS = {
    ".mp4": ("mp4", "aac"),
    ".mov": ("mov", "aac"),
    ".mkv": ("matroska", "aac"),
    ".webm": ("webm", "libopus"),
}
AUDIO_SUFFIXES = (".wav", ".flac")  # audio-only outputs
OUT_SUFFIXES = (*OUTPUT_CONTAINERS, *AUDIO_SUFFIXES)  # every output v2meow-generate writes
# Video codecs (FFmpeg decoder names) each container takes by copy; None: any.
COPYABLE: dict[str, set[str] | None] = {
    ".mp4": {"h264", "hevc", "mpeg4", "vp9", "av1"},
    ".mov": {"h264", "hevc", "mpeg4"},
    ".mkv": None,
    ".webm": {"vp8", "vp9", "av1"},
}
_AUDIO_RATES = {"libopus": (8000, 12000, 16000, 24000, 48000)}


def output_container(path: str | os.PathLike) -> tuple[str, str]:
    """`(format, audio codec)` for a muxed output, from its suffix; MediaError for any other suffix."""
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_CONTAINERS:
        raise MediaError(f"{path}: unsupported video container '{suffix}' (use one of {', '.join(OUTPUT_CONTAINERS)})")
    return OUTPUT_CONTAINERS[suffix]


def check_copyable(codec: str, out_path: str | os.PathLike, video_path: str | os.PathLike = "") -> None:
    """MediaError when a video stream of `codec` cannot be copied into the container of `out_path`
    (by our table, `COPYABLE`, and by FFmpeg's muxer itself), naming the containers that can hold it."""
    output_container(out_path)
    suffix = Path(out_path).suffix.lower()
    if not can_hold(suffix, codec):
        fits = [s for s in OUTPUT_CONTAINERS if can_hold(s, codec)]
        hint = (
            f"use {' or '.join(fits)}"
            if fits
            else "no container v2meow writes can hold it; write a .wav or .flac instead"
        )
        raise MediaError(
            f"{out_path}: a {suffix} file cannot hold the {codec} video of {video_path or 'the input'} "
            f"(copied, not re-encoded); {hint}"
        )


def can_hold(suffix: str, codec: str) -> bool:
    """Whether a video stream of `codec` can be copied into a `suffix` output: our table and FFmpeg's muxer agree."""
    allowed = COPYABLE[suffix]
    if codec in IMAGE_CODECS or (allowed is not None and codec not in allowed):
        return False
    return codec in _muxer_codecs(OUTPUT_CONTAINERS[suffix][0])


@functools.cache
def _muxer_codecs(fmt: str) -> frozenset[str]:
    import av  # here, not at the top: v2meow-generate --help reads the tables above without PyAV

    with av.open(io.BytesIO(), mode="w", format=fmt) as c:
        return frozenset(c.supported_codecs)


# Still or animated pictures: they decode as one "video" stream but are not videos a soundtrack
# can be muxed into (no container here holds them by copy).
IMAGE_CODECS = {"gif", "png", "apng", "bmp", "tiff", "webp", "jpegls", "jpeg2000", "pam", "ppm", "pgm", "qoi"}
