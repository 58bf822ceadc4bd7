"""Media I/O on PyAV: probe, decode video frames at a rate, decode audio, mux audio into video.

Every failure a user can cause raises a typed `v2meow.errors.MediaError` whose message
names the file and the problem in one line.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import soxr
import torch

from v2meow.errors import (
    EmptyMediaError,
    MediaError,
    NoAudioStreamError,
    NoVideoStreamError,
    OutputError,
    UnreadableMediaError,
)
from v2meow.media.containers import (  # noqa: F401 - re-exported: media is where callers look for them
    _AUDIO_RATES,
    COPYABLE,
    IMAGE_CODECS,
    OUTPUT_CONTAINERS,
    can_hold,
    check_copyable,
    output_container,
)
from v2meow.media.packets import MATROSKA, mux_interleaved, priming
from v2meow.safety.outputs import atomic_output

# Decoded video shorter than its header says by more than this (seconds) counts as truncated.
_TRUNCATION_TOLERANCE = 0.5


@dataclass
class MediaInfo:
    """What a media file holds, from its headers."""

    path: str
    duration: float  # seconds (video stream's if present, else audio's, else container's)
    has_video: bool
    has_audio: bool
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    sample_rate: int | None = None
    channels: int | None = None


@dataclass
class VideoFrames:
    """Frames sampled from a video on a regular time grid."""

    frames: torch.Tensor  # [T, 3, H, W] uint8 RGB
    times: torch.Tensor  # [T] float64 seconds: the grid, times[k] = start + k / rate
    source_times: torch.Tensor  # [T] float64 seconds: time of the source frame shown at times[k]
    rate: float  # grid rate, frames per second
    duration: float  # seconds of video covered by the grid (from `start`)
    source_fps: float


# FFmpeg reads a name with a colon as a protocol URL (`tcp:host:port`, `concat:a.mp4|b.mp4`,
# `subfile:`, `http:`): every path goes to it as `file:<absolute path>`, and the demuxer may open
# nothing but local files (an HLS playlist or a concat list inside a file cannot reach the network).
_LOCAL_ONLY = {"protocol_whitelist": "file"}


def local_url(path: str | os.PathLike) -> str:
    """The FFmpeg URL of the local file `path`: never parsed as a protocol, whatever its name."""
    return "file:" + os.path.abspath(os.fspath(path))


def _open(path: str | os.PathLike) -> av.container.InputContainer:
    path = Path(path)
    if not path.exists():
        raise UnreadableMediaError(f"{path}: no such file")
    if path.is_dir():
        raise UnreadableMediaError(f"{path}: is a directory, not a media file")
    if path.stat().st_size == 0:
        raise UnreadableMediaError(f"{path}: file is empty (0 bytes)")
    try:
        return av.open(local_url(path), metadata_errors="ignore", options=_LOCAL_ONLY)
    except (av.FFmpegError, UnicodeDecodeError, OSError, ValueError) as e:
        raise UnreadableMediaError(f"{path}: not a readable media file ({_short(e)})") from None


def _check_memory(e: BaseException, path) -> None:
    """MemoryError for a decoder that could not allocate (ENOMEM) or start its threads (EAGAIN): not the file's fault."""
    if getattr(e, "errno", None) in (errno.ENOMEM, errno.EAGAIN):
        raise MemoryError(f"decoding {path}: {_short(e)}") from None


def _short(e: BaseException) -> str:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return msg[:200]


def _video_stream(container, path) -> av.video.stream.VideoStream:
    for stream in container.streams.video:
        if not _is_attached_picture(stream):
            return _known_codec(stream, path)
    raise NoVideoStreamError(f"{path}: has no video stream")


def _known_codec(stream, path):
    """`stream`, unless FFmpeg has no decoder for it (e.g. a corrupt header's codec tag): then one clear error."""
    if stream.codec_context is None:
        raise UnreadableMediaError(f"{path}: {stream.type} stream has an unknown codec (corrupt or unsupported file)")
    return stream


def _is_attached_picture(stream) -> bool:
    """Cover art in audio files shows up as a one-frame video stream; it is not video."""
    try:
        return bool(stream.disposition & av.stream.Disposition.attached_pic)
    except AttributeError:  # older PyAV
        return False


# public names for `duration.uncovered`, which reads packet times through the same local-only opener
open_media, is_attached_picture = _open, _is_attached_picture


def _audio_stream(container, path) -> av.audio.stream.AudioStream:
    if not container.streams.audio:
        raise NoAudioStreamError(f"{path}: has no audio stream")
    return _known_codec(container.streams.audio[0], path)


def _stream_duration(stream, container) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


def _stream_start(stream) -> float:
    if stream.start_time is not None and stream.time_base is not None:
        return float(stream.start_time * stream.time_base)
    return 0.0


def probe(path: str | os.PathLike) -> MediaInfo:
    """Read the headers of a media file."""
    with _open(path) as c:
        videos = [s for s in c.streams.video if not _is_attached_picture(s)]
        audios = list(c.streams.audio)
        info = MediaInfo(path=str(path), duration=0.0, has_video=bool(videos), has_audio=bool(audios))
        if audios:
            a = _audio_stream(c, path)
            info.sample_rate, info.channels = a.rate, a.channels
            info.duration = _stream_duration(a, c)
        if videos:
            v = _video_stream(c, path)
            info.fps = float(v.average_rate or v.guessed_rate or 0) or None
            info.width, info.height = v.codec_context.width, v.codec_context.height
            info.duration = _stream_duration(v, c)
        if info.duration == 0.0 and c.duration is not None:
            info.duration = c.duration / av.time_base
        return info


def _target_size(size, src_h: int, src_w: int) -> tuple[int, int]:
    if size is None:
        return src_h, src_w
    if isinstance(size, int):  # shorter side -> size, keep aspect
        scale = size / min(src_h, src_w)
        return max(1, round(src_h * scale)), max(1, round(src_w * scale))
    return int(size[0]), int(size[1])


def read_frames(
    path: str | os.PathLike,
    rate: float = 1.0,
    size: int | tuple[int, int] | None = None,
    start: float = 0.0,
    duration: float | None = None,
    threads: int | None = None,
) -> VideoFrames:
    """Decode the frames shown at `start + k / rate` seconds, k = 0, 1, ...

    Args:
        path: a video file.
        rate: grid rate in frames per second (independent of the source frame rate:
            frames are repeated when `rate` exceeds it and skipped when below).
        size: `(height, width)`, an int for the shorter side (aspect kept), or None.
        start: first grid time in seconds.
        duration: seconds to cover; default to the end of the video.
        threads: decoder threads; None lets FFmpeg choose (frame + slice threading).

    Returns:
        `VideoFrames` with `ceil(duration * rate)` frames.
    """
    if not rate > 0:
        raise ValueError(f"rate must be positive, got {rate}")
    with _open(path) as c:
        stream = _video_stream(c, path)
        stream.thread_type = "AUTO"
        if threads is not None:
            stream.codec_context.thread_count = threads
        header_duration = _stream_duration(stream, c)
        t0 = _stream_start(stream)
        end = header_duration if duration is None else min(header_duration, start + duration)
        if header_duration > 0 and start >= header_duration:
            raise MediaError(f"{path}: start {start:.3f}s is past the end of the video ({header_duration:.3f}s)")
        if start > 0:
            c.seek(int((start + t0) / stream.time_base), stream=stream, backward=True, any_frame=False)
        grid: list[np.ndarray] = []
        shown: list[float] = []
        h = w = None
        current = None  # (time, frame, converted array or None)
        last_time = None
        k = 0

        def emit_until(limit: float) -> None:
            nonlocal k, current
            while (
                current is not None
                and start + k / rate < limit - 1e-9
                and (duration is None or k / rate < duration - 1e-9)
            ):
                t, frame, arr = current
                if arr is None:
                    arr = frame.to_ndarray(format="rgb24", width=w, height=h)
                    current = (t, frame, arr)
                grid.append(arr)
                shown.append(t)
                k += 1

        try:
            for frame in c.decode(stream):
                if frame.time is None:
                    continue
                t = float(frame.time) - t0
                if h is None:
                    h, w = _target_size(size, frame.height, frame.width)
                if current is not None:
                    emit_until(t)
                elif t > start + 1e-9:  # first frame starts after `start`: show it from `start`
                    current = (t, frame, None)
                    emit_until(t + 1e-9)
                current = (t, frame, None)
                last_time = t
                if duration is not None and start + k / rate >= end:
                    break
        except av.FFmpegError as e:
            _check_memory(e, path)
            raise UnreadableMediaError(f"{path}: decode error after {len(grid) / rate:.2f}s ({_short(e)})") from None
        if current is None:
            raise EmptyMediaError(f"{path}: video stream has no decodable frames")
        fps = float(stream.average_rate or stream.guessed_rate or 0) or (1.0 / max(1e-3, header_duration))
        decoded_end = last_time + 1.0 / fps
        if header_duration <= 0:
            end = decoded_end if duration is None else min(decoded_end, start + duration)
        elif decoded_end < min(end, header_duration) - _TRUNCATION_TOLERANCE:
            raise UnreadableMediaError(
                f"{path}: truncated or corrupt video, decoded {decoded_end:.2f}s of {header_duration:.2f}s"
            )
        emit_until(end)
        if not grid:  # end <= start + tiny: still return the frame at `start`
            t, frame, arr = current
            grid.append(arr if arr is not None else frame.to_ndarray(format="rgb24", width=w, height=h))
            shown.append(t)
            k = 1
    frames = torch.from_numpy(np.stack(grid)).permute(0, 3, 1, 2).contiguous()  # [T, 3, H, W]
    times = start + torch.arange(len(grid), dtype=torch.float64) / rate
    return VideoFrames(
        frames=frames,
        times=times,
        source_times=torch.tensor(shown, dtype=torch.float64),
        rate=rate,
        duration=max(end - start, len(grid) / rate if header_duration <= 0 else 0.0),
        source_fps=fps,
    )


def read_audio(
    path: str | os.PathLike,
    sample_rate: int | None = None,
    channels: int | None = 1,
    start: float = 0.0,
    duration: float | None = None,
) -> tuple[torch.Tensor, int]:
    """Decode the audio track of a video or audio file to float32.

    Args:
        path: any file PyAV/FFmpeg reads (wav, flac, ogg, opus, mp3, aac, mp4, mkv, ...).
        sample_rate: output rate; resampled with soxr (high quality). None keeps the source rate.
        channels: 1 (mono downmix), 2 (stereo) or None (keep the source layout).
        start: offset in seconds.
        duration: seconds to read; default to the end.

    Returns:
        `(wav, sample_rate)` with wav `[C, N]` float32 in [-1, 1].
    """
    if channels not in (None, 1, 2):
        raise ValueError(f"channels must be 1, 2 or None, got {channels}")
    with _open(path) as c:
        stream = _audio_stream(c, path)
        src_rate = stream.rate
        if not src_rate:
            raise UnreadableMediaError(f"{path}: audio stream has no sample rate")
        # More than two source channels (5.1, 7.1, or 8 with no layout): decoded as they are, packed
        # (PyAV crashes turning planar frames of an unnamed layout into arrays), then averaged below,
        # as the codecs downmix; FFmpeg's own matrix for these overshoots [-1, 1].
        many = (stream.channels or 0) > 2
        layout = None if many else {1: "mono", 2: "stereo", None: None}[channels]
        resampler = av.AudioResampler(format="flt" if many else "fltp", layout=layout, rate=src_rate)
        t0 = _stream_start(stream)
        if start > 0:
            c.seek(int((start + t0) / stream.time_base), stream=stream, backward=True)
        first = round(start * src_rate)
        wanted = None if duration is None else round(duration * src_rate)
        chunks: list[np.ndarray] = []
        pos = None  # sample index (from stream start) of the next decoded sample
        got = 0
        try:
            for frame in c.decode(stream):
                if pos is None:
                    pos = round((float(frame.time) - t0) * src_rate) if frame.time is not None else 0
                for out in resampler.resample(frame):
                    arr = out.to_ndarray()  # [C, n]
                    if many:  # packed [n * C] -> [C, n] -> the mean of every channel (on both sides for stereo)
                        arr = arr.reshape(-1, out.layout.nb_channels).T
                        arr = arr if channels is None else np.repeat(arr.mean(0, keepdims=True), channels, 0)
                    lo = max(0, first - pos)
                    pos += arr.shape[1]
                    if lo < arr.shape[1]:
                        arr = arr[:, lo:]
                        if wanted is not None:
                            arr = arr[:, : wanted - got]
                        chunks.append(arr)
                        got += arr.shape[1]
                if wanted is not None and got >= wanted:
                    break
        except av.FFmpegError as e:
            _check_memory(e, path)
            raise UnreadableMediaError(
                f"{path}: audio decode error after {got / src_rate:.2f}s ({_short(e)})"
            ) from None
    if not chunks:
        raise EmptyMediaError(f"{path}: audio stream has no decodable samples")
    wav = np.concatenate(chunks, axis=1).astype(np.float32)  # [C, N]
    if sample_rate is not None and sample_rate != src_rate:
        wav = resample(wav, src_rate, sample_rate)
    else:
        sample_rate = src_rate
    return torch.from_numpy(np.ascontiguousarray(wav)), int(sample_rate)


def resample(wav: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Band-limited resampling (soxr, high quality). `wav` is `[C, N]`; returns `[C, M]`."""
    if src_rate == dst_rate:
        return wav
    out = soxr.resample(np.ascontiguousarray(wav.T), src_rate, dst_rate, quality="HQ")  # [M, C]
    return np.ascontiguousarray(out.T, dtype=np.float32)


def fit_length(wav: torch.Tensor, num_samples: int) -> torch.Tensor:
    """Trim or zero-pad `[C, N]` to `[C, num_samples]`."""
    n = wav.shape[-1]
    if n >= num_samples:
        return wav[..., :num_samples]
    return torch.nn.functional.pad(wav, (0, num_samples - n))


def write_audio(path: str | os.PathLike, wav: torch.Tensor, sample_rate: int) -> Path:
    """Write `[C, N]` (or `[N]`) float audio atomically; the format comes from the suffix (wav, flac, ogg)."""
    import io

    import soundfile as sf

    data = _as_channels_first(wav).T.numpy()  # [N, C]
    encoded = io.BytesIO()  # encoded in memory: libsndfile's FLAC and OGG writers ignore a failed write
    try:
        sf.write(encoded, data, sample_rate, format=_sf_format(Path(path)))
    except (sf.LibsndfileError, RuntimeError) as e:
        raise OutputError(f"{path}: cannot write ({_short(e)})") from None
    with atomic_output(path) as tmp:
        tmp.write_bytes(encoded.getbuffer())  # a full disk, a file size limit: OSError, one line
    return Path(path)


def _sf_format(path: Path) -> str:
    fmt = path.suffix.lstrip(".").upper() or "WAV"
    return {"OGA": "OGG"}.get(fmt, fmt)


def _as_channels_first(wav: torch.Tensor) -> torch.Tensor:
    wav = torch.as_tensor(wav).detach().float().cpu()
    if wav.dim() == 1:
        wav = wav[None]
    if wav.dim() != 2 or wav.shape[0] not in (1, 2):
        raise ValueError(f"expected audio [C, N] with C in (1, 2), got shape {tuple(wav.shape)}")
    if not torch.isfinite(wav).all():
        raise ValueError("audio contains NaN or inf samples")
    return wav.clamp(-1.0, 1.0)


def mux_audio(
    video_path: str | os.PathLike,
    wav: torch.Tensor,
    sample_rate: int,
    out_path: str | os.PathLike,
    bit_rate: int = 192_000,
) -> Path:
    """Write a copy of `video_path` with `wav` as its only audio track.

    The video stream is copied packet by packet (not re-encoded); the audio is encoded
    as AAC and padded or trimmed so that it lasts exactly as long as the video. Any audio
    track of the input is dropped. The output appears only when complete.

    Args:
        video_path: the source video.
        wav: `[C, N]` or `[N]` float audio, C in (1, 2).
        sample_rate: rate of `wav`.
        out_path: destination; the container comes from its suffix (`OUTPUT_CONTAINERS`:
            .mp4, .mov, .mkv with AAC audio, .webm with Opus).
    """
    wav = _as_channels_first(wav)
    fmt, audio_codec = output_container(out_path)
    with _open(video_path) as src:
        vin = _video_stream(src, video_path)
        check_copyable(vin.codec_context.name, out_path, video_path)
        duration = _stream_duration(vin, src)
        if duration <= 0:
            raise EmptyMediaError(f"{video_path}: video has no duration")
        rate = _AUDIO_RATES.get(audio_codec)
        if rate is not None and sample_rate not in rate:
            wav = torch.from_numpy(resample(wav.numpy(), sample_rate, max(rate)))
            sample_rate = max(rate)
        wav = fit_length(wav, round(duration * sample_rate))
        layout = "mono" if wav.shape[0] == 1 else "stereo"
        fps = vin.average_rate or vin.guessed_rate or 25
        step = max(1, round(1 / (fps * vin.time_base))) if vin.time_base else 1  # one frame, in stream ticks
        with atomic_output(out_path) as tmp:
            try:
                with av.open(local_url(tmp), mode="w", format=fmt) as dst:
                    vout = dst.add_stream_from_template(vin)
                    aout = dst.add_stream(audio_codec, rate=sample_rate, layout=layout)
                    aout.bit_rate = bit_rate
                    cut = priming(audio_codec, sample_rate, layout) if fmt in MATROSKA else 0
                    audio_packets = _encode_audio(aout, wav[:, : wav.shape[1] - cut], sample_rate)
                    mux_interleaved(dst, src.demux(vin), vout, audio_packets, step)
            except av.FFmpegError as e:
                raise MediaError(f"{out_path}: cannot write ({_short(e)})") from None
    return Path(out_path)


_IMAGE_FORMATS = {"gif", "apng", "image2", "webp", "ico"}


def image_format(path: str | os.PathLike) -> str | None:
    """The picture format of `path` when it is an image (GIF, PNG, JPEG, ...) rather than a video, else None."""
    with _open(path) as c:
        names = set(c.format.name.split(","))
        if names & _IMAGE_FORMATS or any(n.endswith("_pipe") for n in names):
            return c.format.name.replace("_pipe", "")
        videos = [s for s in c.streams.video if not _is_attached_picture(s)]
        if videos and videos[0].codec_context.name in IMAGE_CODECS:
            return videos[0].codec_context.name
    return None


def check_video_input(path: str | os.PathLike) -> None:
    """MediaError when `path` is a picture (a GIF or PNG, whatever its name) rather than a video."""
    kind = image_format(path)
    if kind is not None:
        raise NoVideoStreamError(f"{path}: is a {kind} image, not a video (convert it to a video first, e.g. an .mp4)")


def video_codec(path: str | os.PathLike) -> str:
    """FFmpeg name of the video codec of `path` (`h264`, `vp9`, ...)."""
    with _open(path) as c:
        return _video_stream(c, path).codec_context.name


def _encode_audio(stream, wav: torch.Tensor, sample_rate: int) -> list:
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(wav.numpy()), format="fltp", layout="mono" if wav.shape[0] == 1 else "stereo"
    )  # [C, N]
    frame.sample_rate = sample_rate
    frame.pts = 0
    frame.time_base = Fraction(1, sample_rate)
    return list(stream.encode(frame)) + list(stream.encode(None))
