"""The per-process side of `v2meow-prepare`: load the components once, plan a source, prepare a clip.

These functions run in the main process (`--workers 1`) or in pool workers (spawned:
each loads the components on first use and keeps them for the rest of the run). They
never write to the cache: they return plain records and tensors that the main process,
the only writer, stores. Every failure caused by a file becomes a `Skip` with a
one-line reason instead of an exception, so one bad file never stops a run.
"""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from v2meow.data.sources import (
    Source,
    clip_key,
    clip_spans,
    content_hash,
    source_key,
    stretch_key,
)
from v2meow.errors import (
    ConfigError,
    MediaError,
    NoAudioStreamError,
    NoVideoStreamError,
    V2MeowError,
)
from v2meow.stages.layout import fit_frames

# Audio that ends this much before the clip's end counts as missing (the clip is shortened).
AUDIO_TOLERANCE_S = 0.5


@dataclass(frozen=True)
class PrepareConfig:
    """Everything a worker needs to rebuild the components (picklable: paths and strings).

    Attributes:
        features: extractor spec ("motion", "clip+i3d", ...) or "none" (no visual features).
        semantic: semantic tokenizer directory.
        codec: codec directory (or a repo id `load_codec` accepts).
        style: style embedder directory, or None.
        feature_rate: output rate of the visual features (Hz).
        feature_weights: extractor name -> loader keyword arguments (e.g. clip weights path).
        feature_debug: tiny random clip/i3d models (tests only).
        clip_seconds, min_seconds: clip length; shortest last clip kept.
        hash_mode: "quick" or "full" (see `v2meow.data.sources`).
        device: torch device of the components.
        threads: torch threads per process (0: torch's default).
        beat_weights: also store VMAs beat weights (`beats`, `v2meow.data.beatweights`).
        beat_alpha, beat_delta: their alpha and coincidence window (seconds).
        channels: also store these condition channels of the clip's music at the semantic rate
            (`features.channels`; e.g. `rhythm`, `[T_s, 1]`: `signal.rhythm.music_pulses`).
        stretch: tempo augmentation: besides each clip, one item per factor r, the clip played
            r times as fast (pitch kept; `signal.stretch`), with its video features stretched in time
            by the same factor. Sorted, without 1 (`parse_stretch`).
        keep_audio: 0, or a rate: each item's (stretched) music is also stored, mono int16 at that
            rate, so `v2meow-cache recode` can re-encode its codes with another codec.
    """

    features: str
    semantic: str
    codec: str
    style: str | None = None
    feature_rate: float = 1.0
    feature_weights: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    feature_debug: bool = False
    clip_seconds: float = 30.0
    min_seconds: float = 1.0
    hash_mode: str = "quick"
    device: str = "cpu"
    threads: int = 0
    beat_weights: bool = False
    beat_alpha: float = 0.05
    beat_delta: float = 0.2
    channels: tuple[str, ...] = ()
    stretch: tuple[float, ...] = ()
    keep_audio: int = (
        0  # > 0: also store each item's music as `audio` [N] int16 mono at this rate (`v2meow-cache recode`)
    )


STRETCH_RANGE = (0.5, 2.0)  # speed factors --stretch accepts


def parse_stretch(text: str | None) -> tuple[float, ...]:
    """`"0.8,0.9,1.1,1.25"` -> `(0.8, 0.9, 1.1, 1.25)`: sorted, repeats and 1 dropped; empty/None -> `()`.

    Raises:
        ConfigError: (one line) a factor that is not a number in `STRETCH_RANGE`.
    """
    if text is None or not str(text).strip():
        return ()
    lo, hi = STRETCH_RANGE
    out = set()
    for part in str(text).split(","):
        try:
            value = float(part)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and lo <= value <= hi):
            raise ConfigError(
                f"--stretch expects comma-separated speed factors in [{lo:g}, {hi:g}] "
                f"(e.g. 0.8,0.9,1.1,1.25), got '{part.strip()}'"
            )
        out.add(float(f"{value:g}"))  # the factor its key names
    out.discard(1.0)
    return tuple(sorted(out))


@dataclass
class Components:
    extractor: Any  # FeatureExtractor or None
    semantic: Any  # SemanticTokenizer
    codec: Any  # AcousticCodec
    style: Any  # StyleEmbedder or None
    motion: Any = None  # MotionExtractor for the beat weights (None: reuse `extractor`, or no beat weights)


@dataclass
class Plan:
    """The clips of one source still to do, or why the source is skipped / already done."""

    source: Source
    key: str  # source key ("<rel>@<hash16>"), or "<rel>@unreadable" if it could not be hashed
    digest: str = ""
    spans: list[tuple[float, float]] = field(default_factory=list)
    has_video: bool = False
    done: bool = False
    error: str = ""


@dataclass
class ClipTask:
    source: Source
    source_key: str
    digest: str
    index: int
    num_clips: int
    start: float
    length: float
    has_video: bool
    factors: tuple[float, ...] = (1.0,)  # items still to prepare: 1 = the clip itself, others time-stretched

    @property
    def key(self) -> str:
        """The clip's own key (its factor-1 item); a stretched item is `stretch_key(key, factor)`."""
        return clip_key(self.source_key, self.index)

    @property
    def keys(self) -> list[str]:
        """The keys of the items this task prepares."""
        return [stretch_key(self.key, r) for r in self.factors]


@dataclass
class Done:
    """A prepared clip: its record fields and tensors (shapes in `v2meow.data.cache`)."""

    record: dict[str, Any]
    tensors: dict[str, torch.Tensor]


@dataclass
class Skip:
    key: str
    source: str
    reason: str
    extra: dict[str, Any] = field(default_factory=dict)
    internal: bool = False  # not a media problem: a bug or a resource error


_LOADED: tuple[PrepareConfig, Components] | None = None


def init_worker(cfg: PrepareConfig, parent: int) -> None:
    """Pool initializer: set the thread count and exit with `parent` (components load on first use).

    A SIGKILLed main process cannot tell its workers to stop; a daemon thread notices the
    new parent pid within a second and ends the worker, so no orphan keeps computing.
    """
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="v2meow-parent-watch", daemon=True).start()


def components(cfg: PrepareConfig) -> Components:
    """The components of `cfg`, loaded once per process."""
    global _LOADED
    if _LOADED is None or _LOADED[0] != cfg:
        _LOADED = (cfg, load_components(cfg))
    return _LOADED[1]


def load_components(cfg: PrepareConfig) -> Components:
    from v2meow.tokenizers.acoustic import load_codec
    from v2meow.tokenizers.semantic import SemanticTokenizer
    from v2meow.tokenizers.style import load_style_embedder

    extractor = None
    if cfg.features.strip().lower() != "none":
        from v2meow.features.registry import build_extractor

        overrides = {name: dict(kw) for name, kw in cfg.feature_weights}
        extractor = build_extractor(cfg.features, rate=cfg.feature_rate, debug=cfg.feature_debug, **overrides)
        extractor = extractor.to(cfg.device).eval()
    semantic = SemanticTokenizer.from_pretrained(cfg.semantic, map_location=cfg.device).eval()
    codec = load_codec(cfg.codec, map_location=cfg.device).eval()
    style = load_style_embedder(cfg.style, map_location=cfg.device).eval() if cfg.style else None
    motion = None
    if cfg.beat_weights and extractor is not None and not _motion_reusable(extractor):
        from v2meow.data.beatweights import MOTION_RATE
        from v2meow.features.registry import build_extractor

        motion = build_extractor("motion", rate=MOTION_RATE)
    return Components(extractor, semantic, codec, style, motion)


def _motion_reusable(extractor) -> bool:
    """The visual features are the `motion` extractor's own, at a rate fine enough for video beats."""
    from v2meow.data.beatweights import MOTION_RATE
    from v2meow.features.motion import MotionExtractor

    return isinstance(extractor, MotionExtractor) and extractor.rate >= MOTION_RATE


def plan_source(args: tuple[Source, PrepareConfig, frozenset[str]]) -> Plan:
    """Hash and probe one source; `complete` holds source keys that need no work."""
    source, cfg, complete = args
    from v2meow import media

    try:
        digest = content_hash(source.files, cfg.hash_mode)
    except V2MeowError as e:
        return Plan(source, key=f"{source.rel}@unreadable", error=_reason(e, source))
    key = source_key(source, digest)
    if key in complete:
        return Plan(source, key=key, digest=digest, done=True)
    try:
        with_video = source.video is not None and cfg.features.strip().lower() != "none"
        if source.video is not None:
            info = media.probe(source.video)
            if not info.has_video:
                raise NoVideoStreamError(f"{source.video}: has no video stream")
            duration = info.duration
            if source.audio == source.video and not info.has_audio:
                raise NoAudioStreamError(f"{source.video}: has no audio track (the music is needed for the tokens)")
        if source.audio != source.video:
            audio = media.probe(source.audio)
            if not audio.has_audio:
                raise NoAudioStreamError(f"{source.audio}: has no audio stream")
            duration = audio.duration if source.video is None else min(duration, audio.duration)
        spans = clip_spans(duration, cfg.clip_seconds, cfg.min_seconds)
        if not spans:
            raise MediaError(f"{source.audio}: too short ({duration:.2f} s < --min-seconds {cfg.min_seconds:g})")
    except Exception as e:
        return Plan(source, key=key, digest=digest, error=_reason(e, source))
    return Plan(source, key=key, digest=digest, spans=spans, has_video=with_video)


def prepare_clip(args: tuple[ClipTask, PrepareConfig]) -> list[Done | Skip]:
    """The items of one clip: one per factor of `task.factors` (see `v2meow.data.cache`).

    The audio and video of the clip are decoded and the visual features extracted once;
    each factor then stretches them and computes its own tokens, codes, style, beat
    weights and rhythm. A failure of the shared part skips every factor; one of a
    single factor skips that item alone.
    """
    task, cfg = args
    try:
        c = components(cfg)
        clip = _read_clip(task, cfg, c)
    except Exception as e:
        return [_skip_item(task, r, e) for r in task.factors]
    out: list[Done | Skip] = []
    for r in task.factors:
        try:
            out.append(_prepare_item(task, cfg, c, clip, r))
        except Exception as e:
            out.append(_skip_item(task, r, e))
    return out


def _skip_item(task: ClipTask, factor: float, e: BaseException) -> Skip:
    where = f"clip {task.index}{'' if factor == 1.0 else f' x{factor:g}'} ({task.start:.0f}-{task.start + task.length:.0f} s)"
    return Skip(
        stretch_key(task.key, factor),
        task.source.rel,
        f"{where}: {_reason(e, task.source)}",
        {"num_clips": task.num_clips},
        internal=not isinstance(e, V2MeowError),
    )


def pcm16(wav: np.ndarray) -> torch.Tensor:
    """Float audio `[N]` in [-1, 1] -> int16 samples (clipped, rounded)."""
    return torch.from_numpy(np.round(np.clip(wav, -1.0, 1.0) * 32767.0).astype(np.int16))


@dataclass
class _Clip:
    """What the factors of one clip share: its audio and, with video, its visual and motion features."""

    wav: torch.Tensor  # [C, N] at `sr`, N = round(length * sr)
    sr: int
    length: float  # seconds (shorter than the task's when the audio ends early)
    visual: torch.Tensor | None = None  # [ceil(length * feature_rate), D]
    motion: Any = None  # MotionEnergy for the beat weights, or None


def _read_clip(task: ClipTask, cfg: PrepareConfig, c: Components) -> _Clip:
    from v2meow import media
    from v2meow.features.video import extract_video

    channels = 2 if c.codec.channels == 2 else 1
    wav, sr = media.read_audio(task.source.audio, channels=channels, start=task.start, duration=task.length)  # [C, N]
    length = task.length
    got = wav.shape[-1] / sr
    if got < length - AUDIO_TOLERANCE_S:  # the audio ends early: shorten the clip to it
        length = math.floor(got * 100) / 100
        if length < cfg.min_seconds:
            raise MediaError(f"{task.source.audio}: audio ends at {task.start + got:.2f} s, before the clip")
    clip = _Clip(media.fit_length(wav, round(length * sr)), sr, length)  # [C, round(length * sr)]
    if task.has_video and c.extractor is not None:
        clip.visual = extract_video(c.extractor, task.source.video, start=task.start, duration=length).features
        if cfg.beat_weights:
            clip.motion = _motion(task, c, clip.visual, length)
    return clip


def _prepare_item(task: ClipTask, cfg: PrepareConfig, c: Components, clip: _Clip, factor: float) -> Done:
    """One item: the clip played `factor` times as fast (1: as it is)."""
    from v2meow import media

    sr, length, wav, visual, motion = clip.sr, clip.length, clip.wav, clip.visual, clip.motion
    if factor != 1.0:
        from v2meow.signal.rhythm import MotionEnergy
        from v2meow.signal.stretch import stretch_frames, time_stretch

        length = length / factor
        wav = media.fit_length(time_stretch(wav, sr, factor), round(length * sr))  # [C, round(length * sr)]
        if visual is not None:
            rate = float(c.extractor.rate)
            visual = stretch_frames(visual.float(), factor, math.ceil(length * rate - 1e-9))  # [ceil(length * rate), D]
        if motion is not None:
            n = math.ceil(motion.energy.shape[0] / factor - 1e-9)
            energy = stretch_frames(torch.from_numpy(motion.energy)[:, None], factor, n)[:, 0].numpy()  # [T_m']
            motion = MotionEnergy(energy=energy, rate=motion.rate, frame_rate=motion.frame_rate * factor)
    tensors: dict[str, torch.Tensor] = {}
    semantic = c.semantic.encode(wav, sr)  # [T_s']
    tensors["semantic"] = fit_frames(semantic, round(length * c.semantic.frame_rate))  # [T_s]
    codes = c.codec.encode(wav, sr)  # [K, T_a']
    tensors["codes"] = fit_frames(codes, round(length * c.codec.frame_rate))  # [K, T_a]
    if visual is not None:
        tensors["visual"] = visual  # [ceil(length * feature_rate), D]
    num_steps = tensors["semantic"].shape[0]
    mono = wav.float().mean(0).cpu().numpy()  # [N]
    if cfg.beat_weights:
        from v2meow.data.beatweights import clip_beat_weights

        tensors["beats"] = clip_beat_weights(
            wav, sr, motion, num_steps, c.semantic.frame_rate, cfg.beat_alpha, cfg.beat_delta
        )  # [T_s]
    for name in cfg.channels:
        from v2meow.features.channels import channel

        values = channel(name).music(mono, sr, num_steps, float(c.semantic.frame_rate))  # [T_s, size]
        tensors[name] = torch.from_numpy(values)
    if cfg.keep_audio:
        tensors["audio"] = pcm16(media.resample(mono[None], sr, cfg.keep_audio)[0])  # [N'] at keep_audio
    caption = task.source.caption
    if caption and "{" in caption:  # words measured on this (stretched) item's own music: tempo, energy, brightness
        from v2meow.signal.describe import fill_caption

        caption = fill_caption(caption, mono, sr)
    if c.style is not None:
        if c.style.supports_audio:
            tensors["style"] = c.style.embed_clip_audio(wav, sr)  # [D_s]
        elif caption:
            tensors["style"] = c.style.embed_text(caption)  # [D_s]
    from v2meow import __version__

    extra: dict[str, Any] = {
        "source_key": task.source_key,
        "clip_index": task.index,
        "num_clips": task.num_clips,
        "video": task.source.video,
        "audio": task.source.audio,
        "v2meow_version": __version__,
    }
    if cfg.stretch:
        extra["stretch"] = factor
    record = {
        "key": stretch_key(task.key, factor),
        "source": task.source.rel,
        "clip_start": task.start,
        "duration": length,
        "split": task.source.split,
        "caption": caption,
        "content_hash": task.digest,
        "has_video": "visual" in tensors,
        "extra": extra,
    }
    return Done(record, tensors)


def _motion(task: ClipTask, c: Components, visual: torch.Tensor, length: float):
    """The motion energy of one clip for its video beats: from the visual features when they are the
    `motion` extractor's own, else from a separate `motion` pass over the video."""
    from v2meow.features.motion import MOTION_FEATURES
    from v2meow.features.video import extract_video
    from v2meow.signal.rhythm import MotionEnergy

    extractor = c.motion or c.extractor
    feats = (
        visual
        if c.motion is None
        else extract_video(c.motion, task.source.video, start=task.start, duration=length).features
    )
    energy = feats[:, MOTION_FEATURES.index("motion_mean")].double().numpy()  # [T_m]
    return MotionEnergy(energy=energy, rate=float(extractor.rate), frame_rate=float(extractor.frame_rate))


def _reason(e: BaseException, source: Source) -> str:
    """One line; the source's own file name is left out when it is the only file (the report names it)."""
    msg = " ".join(str(e).split()) or type(e).__name__
    for f in source.files:
        msg = msg.replace(f"{f}: ", "") if len(source.files) == 1 else msg.replace(f, Path(f).name)
    return msg if isinstance(e, V2MeowError) else f"{type(e).__name__}: {msg}"


def task_for(plan: Plan, index: int) -> ClipTask:
    start, length = plan.spans[index]
    return ClipTask(plan.source, plan.key, plan.digest, index, len(plan.spans), start, length, plan.has_video)


def item_factors(cfg: PrepareConfig) -> tuple[float, ...]:
    """The speed factors of every clip's items: 1 (the clip as it is), then `cfg.stretch`."""
    return (1.0, *cfg.stretch)
