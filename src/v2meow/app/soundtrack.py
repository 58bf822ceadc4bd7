"""The work behind the page's Generate button, free of Gradio so it can be used and tested alone.

    job = SoundtrackJob(pipe, out_dir)
    candidates = job.run("clip.mp4", Settings(text="calm piano", num_samples=2), report)

`report(fraction, message)` is told when each step starts (reading the video, the three
stages, writing the files); the stages also drive the pipeline's own progress bars, which
the page shows token by token.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from v2meow import media
from v2meow.errors import ConfigError, EmptyMediaError, MediaError, V2MeowError
from v2meow.media.duration import music_length
from v2meow.safety import validation
from v2meow.stages.base import ROLES
from v2meow.stages.sampling import PAPER_TEMPERATURES

MAX_CANDIDATES = 4  # side by side in the page (the CLI allows validation.MAX_SAMPLES)
Report = Callable[[float, str], None]


@dataclass
class Limits:
    """What the app accepts and how long it keeps files (`v2meow-app --max-upload-mb ...`)."""

    max_upload_mb: float = 500.0  # larger uploads are refused (by Gradio while uploading, and here)
    max_seconds: float = 600.0  # longer videos are refused before any work
    keep_minutes: float = 60.0  # each job's files (and uploads) are deleted this long after they were made

    def __post_init__(self) -> None:
        for name in ("max_upload_mb", "max_seconds", "keep_minutes"):
            setattr(self, name, validation.positive(getattr(self, name), "--" + name.replace("_", "-")))


@dataclass
class Settings:
    """What the page lets a user choose."""

    text: str | None = None
    seed: int = 0
    temperatures: dict[str, float] = field(
        default_factory=lambda: dict(zip(ROLES, PAPER_TEMPERATURES))
    )  # by stage role
    num_samples: int = 1
    rhythm_guidance: float = 1.0  # guidance on the video's rhythm channel (bundles whose stage 1 reads one)
    loudness: float | None = -14.0  # output target in LUFS (true peak <= -1 dBTP); None: as decoded
    regenerate: tuple[float, float] | None = None  # with `run(keep=...)`: seconds of that music written anew

    def checked(self) -> Settings:
        """A copy with a blank prompt as None; ConfigError (from `v2meow.safety.validation`) for values the pipeline cannot use."""
        text = (self.text or "").strip() or None
        count = validation.num_samples(self.num_samples, "candidates", cap=MAX_CANDIDATES)
        temperatures = validation.by_role(self.temperatures, "temperature", validation.temperature, ROLES)
        if self.seed is None:
            raise ConfigError("the seed must be a whole number between 0 and 2**63-1, got nothing")
        seed = validation.seed(self.seed, "seed")
        rhythm = validation.cfg(self.rhythm_guidance, "rhythm guidance")
        loudness = validation.loudness(self.loudness, "loudness")
        span = None
        if self.regenerate is not None:
            if any(x is None for x in self.regenerate):
                raise ConfigError("the range to regenerate needs a start and an end, in seconds")
            span = (float(self.regenerate[0]), float(self.regenerate[1]))
        return Settings(text, seed, temperatures, count, rhythm, loudness, span)


@dataclass
class Candidate:
    """One generated soundtrack and its files."""

    index: int  # 0 = first (best, when ranked by the prompt)
    video: Path  # the input video with the new soundtrack
    audio: Path  # the soundtrack alone (.wav)
    picture: Path  # waveform + spectrogram (.png)
    score: float | None = None  # similarity to the prompt, when ranked


@dataclass
class Outcome:
    """Everything a run produced, with a one-line summary for the page."""

    candidates: list[Candidate]
    info: media.MediaInfo
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)
    regenerated: tuple[float, float] | None = None  # an edit: the range written anew

    def summary(self) -> str:
        n = len(self.candidates)
        ranked = " ranked by how well they match the prompt" if self.candidates[0].score is not None else ""
        fps = f", {self.info.fps:.3g} fps" if self.info.fps else ""
        edit = f", {self.regenerated[0]:g}-{self.regenerated[1]:g} s regenerated" if self.regenerated else ""
        return (
            f"{n} soundtrack{'s' if n > 1 else ''}{ranked} for **{Path(self.info.path).name}** "
            f"({self.info.duration:.1f} s{fps}{edit}), made in {self.seconds:.1f} s."
        )


def _quiet(fraction: float, message: str) -> None:
    return None


class SoundtrackJob:
    """Runs a loaded `V2MeowPipeline` on uploaded videos and writes its outputs under `out_dir`."""

    def __init__(self, pipe, out_dir: str | os.PathLike, limits: Limits | None = None):
        self.pipe = pipe
        self.out_dir = Path(out_dir)
        self.limits = limits or Limits()

    @property
    def accepts_text(self) -> bool:
        """Whether the bundle has a style input, so a text prompt can steer it."""
        return self.pipe.style is not None and bool(self.pipe.stages["semantic"].config.style_dim)

    @property
    def can_edit(self) -> bool:
        """Whether the bundle can read music back (a semantic tokenizer), so a range can be regenerated."""
        return self.pipe._semantic is not None

    @property
    def follows_rhythm(self) -> bool:
        """Whether the bundle's stage 1 reads the video's rhythm channel (so its guidance can be set)."""
        return self.pipe.uses_rhythm

    def defaults(self) -> Settings:
        """The bundle's own sampling defaults."""
        gen = self.pipe.generation
        rhythm = gen.sampling["semantic"].guidance.get("rhythm", 1.0)
        return Settings(
            None, gen.seed or 0, {role: s.temperature for role, s in gen.sampling.items()}, 1, rhythm, gen.loudness
        )

    def check_video(self, video: str | os.PathLike) -> media.MediaInfo:
        """Probe an upload; MediaError (naming only the file, not its folder) when it is unusable."""
        path = Path(video)
        limits = self.limits
        try:
            size_mb = path.stat().st_size / 1e6 if path.is_file() else 0.0
            if size_mb > limits.max_upload_mb:
                raise MediaError(
                    f"{path}: {size_mb:.0f} MB is over this app's upload limit of {limits.max_upload_mb:g} MB"
                )
            info = media.probe(path)
            if not info.has_video:
                raise MediaError(f"{path}: has no video stream (is it an audio file?)")
            media.check_video_input(path)  # a picture (PNG, GIF), whatever its name: refused before any work
            if info.duration <= 0:
                raise EmptyMediaError(f"{path}: the video has no duration")
            music_length(path, limits.max_seconds, "this app's limit", "trim the video")  # the CLI's and API's check
        except V2MeowError as e:
            raise type(e)(_without_folder(str(e), path)) from None
        return info

    def run(
        self,
        video: str | os.PathLike,
        settings: Settings,
        report: Report = _quiet,
        keep: str | os.PathLike | None = None,
    ) -> Outcome:
        """Generate `settings.num_samples` soundtracks for `video` and write their files; with `keep` (an
        earlier candidate's wav), regenerate `settings.regenerate` of it instead (`pipelines/edit.py`)."""
        from v2meow.app.plots import soundtrack_figure
        from v2meow.signal.markers import beat_markers

        video = Path(video)
        prune(self.out_dir, self.limits.keep_minutes * 60)
        settings = settings.checked()
        if keep is not None and (settings.regenerate is None or not self.can_edit):
            raise ConfigError("regenerating needs a range, and a bundle with a semantic tokenizer")
        if settings.text is not None and not self.accepts_text:
            raise ConfigError("this bundle takes no text prompt: leave the prompt empty")
        info = self.check_video(video)
        start = time.perf_counter()
        report(0.0, "Reading the video")
        try:
            features = self.pipe.extract_features(video)
        except V2MeowError as e:
            raise type(e)(_without_folder(str(e), video)) from None
        report(0.05, "Composing: stage 1 (structure), stage 2 (coarse sound), stage 3 (fine detail)")
        extra: dict = {"channels": self.pipe.video_channels(video, features)}  # the stages' channels, made once
        if self.follows_rhythm:
            extra["guidance"] = {"semantic": {"rhythm": settings.rhythm_guidance}}
        options = dict(
            text=settings.text,
            seed=settings.seed,
            temperatures=settings.temperatures,
            num_samples=settings.num_samples,
            loudness="none" if settings.loudness is None else settings.loudness,
        )
        if keep is not None:  # the features and rhythm channel read above serve the edit too
            result = self.pipe.edit(features, keep, regenerate=settings.regenerate, **options, **extra)
        else:
            result = self.pipe(features, **options, **extra)
        report(0.95, "Writing the video, the wav and the pictures")
        folder = Path(tempfile.mkdtemp(prefix="run-", dir=self.out_dir))
        videos, audios = self._write(video, result, folder)
        candidates = []
        for i, wav in enumerate(result.audio):
            markers = beat_markers(wav.float().mean(0).numpy(), result.sample_rate)
            picture = soundtrack_figure(
                wav, result.sample_rate, folder / f"candidate-{i + 1}.png", f"Candidate {i + 1}", markers,
                settings.regenerate if keep is not None else None,
            )  # fmt: skip
            score = result.scores[i] if result.scores else None
            candidates.append(Candidate(i, videos[i], audios[i], picture, score))
        span = settings.regenerate if keep is not None else None
        return Outcome(candidates, info, time.perf_counter() - start, result.timings, span)

    def _write(self, video: Path, result, folder: Path) -> tuple[list[Path], list[Path]]:
        """Muxed videos and wavs per candidate; .mkv where the video's codec cannot go in an .mp4."""
        from v2meow.pipelines.outputs import write_outputs

        stem = f"{video.stem}_v2meow"
        try:
            written = write_outputs(video, result, [folder / f"{stem}.mp4", folder / f"{stem}.wav"])
        except MediaError:
            written = write_outputs(video, result, [folder / f"{stem}.mkv", folder / f"{stem}.wav"])
        return written[0::2], written[1::2]


def prune(folder: str | os.PathLike, max_age: float, now: float | None = None) -> list[Path]:
    """Delete the entries of `folder` (files, or job folders with everything in them) older than `max_age` seconds."""
    import shutil

    folder = Path(folder)
    now = time.time() if now is None else now
    removed = []
    for entry in folder.iterdir() if folder.is_dir() else []:
        try:
            if now - entry.stat().st_mtime <= max_age:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry)
        except OSError:  # removed meanwhile, or not ours to remove
            continue
    return removed


def _without_folder(message: str, path: Path) -> str:
    """The message with the upload's temporary folder cut from its path (users know the file by name)."""
    return message.replace(str(path), path.name)
