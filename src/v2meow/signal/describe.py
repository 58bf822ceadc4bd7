"""Caption words from measured attributes of music: tempo, energy, brightness.

Training captions are written per item at prepare time from the item's own audio, so a
time-stretched copy gets the words for its own tempo and a quiet passage is not called
"intense". Each word is a threshold on one measure:

- tempo (`{tempo}`): slow < 90 BPM, fast > 130 BPM, else moderate (`rhythm.tempo_word`);
- energy (`{energy}`): "intense" when the energy score
  `log2(onsets per second / ONSET_REF) + (loudness dB - LOUDNESS_REF) / 6` is above 0, else
  "calm": twice the onsets or 6 dB more count alike;
- brightness (`{brightness}`): "bright" when the spectral centroid is above `CENTROID_REF` Hz,
  else "dark".

The reference values are the medians of the demo's training clips (wesnoth and warzone2100,
measured by `measure_references` over data/demo/clips; docs/training.md), so each word splits
the training music about in half.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from v2meow.media import resample
from v2meow.signal.rhythm import ANALYSIS_RATE, music_rhythm, tempo_word

ONSET_REF = 6.31  # onsets per second
LOUDNESS_REF = -15.0  # dB RMS (a full-scale sine: -3 dB)
CENTROID_REF = 360.0  # Hz (power-weighted, so the bass dominates)
PLACEHOLDERS = ("{tempo}", "{bpm}", "{energy}", "{brightness}")


@dataclass(frozen=True)
class MusicDescription:
    bpm: float | None
    onsets_per_second: float
    loudness_db: float  # RMS level, dBFS
    centroid_hz: float  # power-weighted mean frequency of the 16-kHz spectrum

    @property
    def energy_score(self) -> float:
        onsets = math.log2(max(self.onsets_per_second, 1e-3) / ONSET_REF)
        return onsets + (self.loudness_db - LOUDNESS_REF) / 6.0

    def words(self) -> dict[str, str]:
        return {
            "{tempo}": tempo_word(self.bpm),
            "{bpm}": "" if self.bpm is None else f"{self.bpm:.0f}",
            "{energy}": "intense" if self.energy_score > 0 else "calm",
            "{brightness}": "bright" if self.centroid_hz > CENTROID_REF else "dark",
        }


def spectral_centroid(wav: np.ndarray, sample_rate: int, n_fft: int = 1024) -> float:
    """Power-weighted mean frequency (Hz) of mono `wav [N]` resampled to 16 kHz; 0 for silence."""
    x = resample(np.asarray(wav, np.float32)[None], sample_rate, ANALYSIS_RATE)[0]  # [M]
    if len(x) < n_fft:
        x = np.pad(x, (0, n_fft - len(x)))
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[:: n_fft // 2] * np.hanning(n_fft)  # [T, n_fft]
    power = (np.abs(np.fft.rfft(frames, axis=-1)) ** 2).sum(0)  # [F]
    total = power.sum()
    if total <= 1e-20:
        return 0.0
    return float((np.fft.rfftfreq(n_fft, 1.0 / ANALYSIS_RATE) * power).sum() / total)


def describe(wav: np.ndarray, sample_rate: int) -> MusicDescription:
    """Tempo, onset density, RMS level and spectral centroid of mono `wav [N]`."""
    x = np.asarray(wav, np.float32).reshape(-1)
    rhythm = music_rhythm(x, sample_rate)
    seconds = max(len(x) / sample_rate, 1e-6)
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0
    return MusicDescription(
        bpm=rhythm.tempo,
        onsets_per_second=len(rhythm.times) / seconds,
        loudness_db=20.0 * math.log10(max(rms, 1e-10)),
        centroid_hz=spectral_centroid(x, sample_rate),
    )


def fill_caption(caption: str, wav: np.ndarray, sample_rate: int) -> str:
    """`caption` with each placeholder (`{tempo}`, `{bpm}`, `{energy}`, `{brightness}`) replaced by
    the word measured on the music `wav [N]`; a caption without placeholders comes back unchanged."""
    if not any(p in caption for p in PLACEHOLDERS):
        return caption
    for placeholder, word in describe(wav, sample_rate).words().items():
        caption = caption.replace(placeholder, word)
    return " ".join(caption.split())


def measure_references(clips: list[tuple[np.ndarray, int]]) -> dict[str, float]:
    """Medians of the measures over `(wav, rate)` clips: how the module's reference values were set."""
    d = [describe(w, sr) for w, sr in clips]
    return {
        "onsets_per_second": float(np.median([x.onsets_per_second for x in d])),
        "loudness_db": float(np.median([x.loudness_db for x in d])),
        "centroid_hz": float(np.median([x.centroid_hz for x in d])),
    }
