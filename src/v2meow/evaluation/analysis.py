"""Per-clip analysis: decode the files of one clip once and compute what every metric needs.

Failures are contained per clip: an unreadable generated or reference file drops that
clip (a `Problem` says why); an unreadable video only drops its beat metrics.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from v2meow import media
from v2meow.errors import V2MeowError
from v2meow.evaluation.beats import MusicEvents, Rhythm, music_events, video_motion, video_rhythm
from v2meow.evaluation.embeddings import AudioBackbone
from v2meow.evaluation.judges import judge_or_none, pink_noise
from v2meow.evaluation.kl import AudioClassifier
from v2meow.evaluation.pairing import Problem


@dataclass
class RhythmSettings:
    """How rhythm is read from video and audio."""

    motion_rate: float = 10.0  # motion-energy steps per second
    beat_window: float = 0.2  # a video beat is the motion maximum within +- this (s)
    onset_delta: float = 0.07  # onset threshold above the local mean (normalised envelope)


@dataclass
class ClipAnalysis:
    """Everything the metrics need about one clip (None: not available)."""

    stem: str
    gen_seconds: float = 0.0
    ref_seconds: float = 0.0
    gen_embeddings: np.ndarray | None = None  # [F, D] backbone embeddings
    ref_embeddings: np.ndarray | None = None  # [F', D]
    gen_vector: np.ndarray | None = None  # [E] clip embedding for MCC
    ref_vector: np.ndarray | None = None  # [E]
    gen_probs: np.ndarray | None = None  # [L] classifier label probabilities
    ref_probs: np.ndarray | None = None  # [L]
    gen_rhythm: Rhythm | None = None
    ref_rhythm: Rhythm | None = None
    gen_events: MusicEvents | None = None  # beats and LORIS onsets (gen_rhythm is its .rhythm)
    ref_events: MusicEvents | None = None
    video: Rhythm | None = None
    video_source: str | None = None
    gen_judged: dict[str, float] | None = None  # the pretrained judges' scores (evaluation.judges); None: no extra
    ref_judged: dict[str, float] | None = None
    noise_judged: dict[str, float] | None = None  # pink noise of the generated clip's length: the floor
    problems: list[Problem] = field(default_factory=list)


class ClipAnalyzer:
    """Turns the files of a clip into a `ClipAnalysis`.

    Args:
        backbone: embeddings for FAD.
        mcc_model: joint audio-text model for MCC (CLAP); None uses the backbone.
        classifier: for KL; None skips it.
        rhythm: beat settings.
        max_seconds: analyse only the first seconds of every file.
        judges: also score generated, reference and a pink-noise floor with `evaluation.judges`.
    """

    def __init__(
        self,
        backbone: AudioBackbone,
        mcc_model: AudioBackbone | None = None,
        classifier: AudioClassifier | None = None,
        rhythm: RhythmSettings | None = None,
        max_seconds: float | None = None,
        judges: bool = True,
    ):
        self.backbone, self.mcc_model, self.classifier = backbone, mcc_model, classifier
        self.rhythm = rhythm or RhythmSettings()
        self.max_seconds = max_seconds
        self.judges = judges  # score with the pretrained judges when their extra is installed

    def analyze(
        self, stem: str, generated: os.PathLike, reference: os.PathLike, video: os.PathLike | None = None
    ) -> ClipAnalysis:
        """Analyse one clip; look at `.problems` for what failed.

        Args:
            video: the clip's video; None takes the video stream of the reference file,
                else of the generated file, when either has one.
        """
        out = ClipAnalysis(stem)
        gen = self._audio(out, generated, "generated")
        ref = self._audio(out, reference, "reference")
        if gen is None or ref is None:
            return out
        (gen_wav, gen_sr), (ref_wav, ref_sr) = gen, ref
        out.gen_seconds, out.ref_seconds = gen_wav.size / gen_sr, ref_wav.size / ref_sr
        try:
            out.gen_embeddings = self.backbone.embed(gen_wav, gen_sr)
            out.ref_embeddings = self.backbone.embed(ref_wav, ref_sr)
            out.gen_vector = self._vector(gen_wav, gen_sr, out.gen_embeddings)
            out.ref_vector = self._vector(ref_wav, ref_sr, out.ref_embeddings)
            if self.classifier is not None:
                out.gen_probs = self.classifier.predict(gen_wav, gen_sr)
                out.ref_probs = self.classifier.predict(ref_wav, ref_sr)
            out.gen_events = music_events(gen_wav, gen_sr, delta=self.rhythm.onset_delta)
            out.ref_events = music_events(ref_wav, ref_sr, delta=self.rhythm.onset_delta)
            out.gen_rhythm, out.ref_rhythm = out.gen_events.rhythm, out.ref_events.rhythm
            if self.judges:
                out.gen_judged, out.ref_judged = judge_or_none(gen_wav, gen_sr), judge_or_none(ref_wav, ref_sr)
                out.noise_judged = judge_or_none(pink_noise(gen_wav.size, gen_sr, seed=len(stem)), gen_sr)
        except V2MeowError as e:
            out.problems.append(Problem(stem, "analysis_failed", f"cannot analyse audio ({e})"))
            out.gen_embeddings = out.ref_embeddings = None
            return out
        self._video(out, video, reference, generated)
        return out

    def _audio(self, out: ClipAnalysis, path: os.PathLike, role: str) -> tuple[np.ndarray, int] | None:
        try:
            wav, sr = media.read_audio(path, sample_rate=None, channels=1, duration=self.max_seconds)
        except V2MeowError as e:
            out.problems.append(Problem(out.stem, f"unreadable_{role}", f"{role} file unusable: {e}", str(path)))
            return None
        x = wav[0].numpy().astype(np.float64)  # [N]
        if x.size < sr // 10:
            out.problems.append(
                Problem(out.stem, f"too_short_{role}", f"{role} file {path} is shorter than 0.1 s", str(path))
            )
            return None
        return x, sr

    def _vector(self, wav: np.ndarray, sr: int, embeddings: np.ndarray) -> np.ndarray:
        """The clip's MCC embedding: the mean of its window embeddings (unit norm for CLAP)."""
        frames = (
            embeddings if self.mcc_model is None or self.mcc_model is self.backbone else self.mcc_model.embed(wav, sr)
        )
        v = frames.mean(0)
        if self.mcc_model is not None:
            v = v / max(float(np.linalg.norm(v)), 1e-12)
        return v

    def _video(self, out: ClipAnalysis, video, reference, generated) -> None:
        source = video
        if source is None:
            source = next((p for p in (reference, generated) if _has_video(p)), None)
        if source is None:
            return
        try:
            motion = video_motion(source, rate=self.rhythm.motion_rate, max_seconds=self.max_seconds)
        except V2MeowError as e:
            out.problems.append(
                Problem(out.stem, "unreadable_video", f"video unusable, beat metrics skipped: {e}", str(source))
            )
            return
        out.video = video_rhythm(motion, window=self.rhythm.beat_window)
        out.video_source = str(source)


def _has_video(path: os.PathLike) -> bool:
    try:
        return media.probe(path).has_video
    except V2MeowError:
        return False
