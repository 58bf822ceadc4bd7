"""Writing a pipeline's candidates to files: muxed videos and audio files, atomically, after
checking every planned output (writable, an accepted container, never one of the inputs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from v2meow import media
from v2meow.features.base import Features
from v2meow.media.containers import AUDIO_SUFFIXES, OUT_SUFFIXES  # noqa: F401  (the writers' suffixes, re-exported)
from v2meow.safety.outputs import check_outputs


@dataclass
class PipelineOutput:
    """Candidates for one video, best first when reranked."""

    audio: torch.Tensor  # [S, C, N] float
    sample_rate: int
    semantic: torch.Tensor  # [S, T_s]
    coarse: torch.Tensor  # [S, N_c, T_a]
    fine: torch.Tensor  # [S, N_f, T_a]
    features: Features | None  # None for a resynthesis without video
    duration: float
    scores: list[float] | None = None  # text-audio similarity per candidate, when reranked
    timings: dict[str, float] = field(default_factory=dict)


def loudness_normalized(audio: torch.Tensor, sample_rate: int, target: float | None) -> torch.Tensor:
    """Each candidate of `audio [S, C, N]` brought to `target` LUFS with a true peak <= -1 dBTP
    (`v2meow.signal.loudness`); `target` None returns `audio` as it is. Silence stays silence."""
    if target is None:
        return audio
    from v2meow.signal.loudness import normalize_loudness

    out = [torch.from_numpy(normalize_loudness(wav.float().cpu().numpy(), sample_rate, target)[0]) for wav in audio]
    return torch.stack(out).to(device=audio.device, dtype=audio.dtype) if out else audio


def candidate_path(path: Path, i: int) -> Path:
    """Where candidate `i` of an output goes: `path` itself for the first, `<stem>-<i+1><suffix>` after."""
    return path if i == 0 else path.with_name(f"{path.stem}-{i + 1}{path.suffix}")


def planned(video: Path, outputs: list[Path], num_samples: int) -> list[Path]:
    """Every file a run writes for `video`: each output, once per candidate."""
    return [candidate_path(path, i) for i in range(num_samples) for path in outputs]


def check_plan(video: Path, outputs: list[Path], num_samples: int, inputs: list[Path], probe: bool = True) -> None:
    """Before any model work: every output writable, accepted, not an input; muxed outputs can hold the video's codec."""
    check_outputs(planned(video, outputs, num_samples), inputs, OUT_SUFFIXES)
    if probe:
        check_source(video, outputs)


def check_source(video: Path, outputs: list[Path]) -> None:
    """`video` is a video (not a GIF or PNG, whatever its name), and every muxed output's container
    can hold its codec (by our table and by FFmpeg's muxer): checked before any model work."""
    media.check_video_input(video)
    muxed = [o for o in outputs if o.suffix.lower() in media.OUTPUT_CONTAINERS]
    if muxed:
        codec = media.video_codec(video)
        for out in muxed:
            media.check_copyable(codec, out, video)


def write_outputs(video: Path, result, outputs: list[Path]) -> list[Path]:
    """Write every candidate of `result` (a `PipelineOutput`) to every output: a muxed copy of
    `video`, or an audio file for `.wav`/`.flac`; each atomically. Returns the files written."""
    check_outputs(planned(video, outputs, len(result.audio)), [video], OUT_SUFFIXES)
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
