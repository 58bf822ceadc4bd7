"""Writing a pipeline's candidates to files: muxed videos and audio files, atomically."""

from __future__ import annotations

from pathlib import Path

from v2meow import media
from v2meow.io import check_writable

AUDIO_SUFFIXES = (".wav", ".flac")


def candidate_path(path: Path, i: int) -> Path:
    """Where candidate `i` of an output goes: `path` itself for the first, `<stem>-<i+1><suffix>` after."""
    return path if i == 0 else path.with_name(f"{path.stem}-{i + 1}{path.suffix}")


def write_outputs(video: Path, result, outputs: list[Path]) -> list[Path]:
    """Write every candidate of `result` (a `PipelineOutput`) to every output: a muxed copy of
    `video`, or an audio file for `.wav`/`.flac`; each atomically. Returns the files written."""
    for path in outputs:
        check_writable(path)
    written = []
    for i, wav in enumerate(result.audio):  # [C, N]
        for path in outputs:
            target = candidate_path(path, i)
            if target.suffix.lower() in AUDIO_SUFFIXES:
                media.write_audio(target, wav, result.sample_rate)
            else:
                media.mux_audio(video, wav, result.sample_rate, target)
            written.append(target)
    return written
