"""Media files: reading and writing audio and video (floor 1 of docs/architecture.md).

    avio        probe, decode frames at a rate, decode audio, write audio, mux audio into a video (PyAV)
    containers  the output containers and the codecs each holds by stream copy (no numpy, torch or PyAV)
    packets     packet timestamps and interleaving for muxing
    duration    how long a video's music will be, against a limit

`v2meow.media.read_audio` and the rest of `avio`'s public names are found here too, imported on first
use: `import v2meow.media.containers` (the CLI's `--help`) stays free of numpy, torch and PyAV.
"""

from __future__ import annotations

from typing import Any

#: avio's names, read through this package (`from v2meow import media; media.read_audio(...)`).
__all__ = [
    "MediaInfo", "VideoFrames", "local_url", "probe", "read_frames", "read_audio", "resample", "fit_length",
    "write_audio", "mux_audio", "image_format", "check_video_input", "video_codec", "open_media",
    "is_attached_picture", "mux_interleaved", "OUTPUT_CONTAINERS", "COPYABLE", "IMAGE_CODECS", "can_hold",
    "check_copyable", "output_container",
]  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in __all__:
        from v2meow.media import avio

        return getattr(avio, name)
    raise AttributeError(f"module 'v2meow.media' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
