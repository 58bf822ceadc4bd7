"""Condition channels: time series a stage may read besides its tokens and the visual features, each
computed by one provider from the music (data preparation, resynthesis, editing) and from the video
(generation) alike, so that a stage is given from the picture what it learned from the music.

    ch = channel("rhythm")
    ch.from_music(wav, sample_rate, frames, rate)           # [frames, size] float32: v2meow-prepare --channel rhythm
    ch.from_video(extractor, video, features, frames, rate)  # [frames, size]: generation
    ch.continued(wav, sample_rate, frames, rate)            # the music continued past its end, or None (editing)

Channels are made at the semantic token rate (the cache's `<name>_rate`). A new one is a
`register_channel(Channel(...))`: `v2meow-prepare --channel NAME` stores it, a stage reads it by
declaring a stream of that name (`extra_streams`), generation computes it, and the bundle check
(`pipelines.checks`) knows it; `docs/extending.md` shows one end to end.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from v2meow.errors import ConfigError

# (mono [N], its sample rate, frames, channel rate) -> [frames, size]
MusicFn = Callable[[np.ndarray, int, int, float], np.ndarray]
VideoFn = Callable[[Any, "str | os.PathLike | None", Any, int, float], np.ndarray]


@dataclass(frozen=True)
class Channel:
    """One condition channel: its name (the stream a stage declares), width, and how it is computed.

    from_music(wav, sample_rate, frames, rate): mono float audio `[N]` -> `[frames, size]` at `rate`.
    from_video(extractor, video, features, frames, rate): the generation side, from the bundle's
        feature extractor, the video file (None when only features were given) and its `Features`.
    continued: optional, music continued `frames` past its end at its own pace (None: not possible).
    manifest: optional, the fields a prepared cache records (as `<name>_<key>`) beside `<name>: true` and
        `<name>_rate` (called when a cache is prepared, so its module is imported only then).
    """

    name: str
    size: int
    from_music: MusicFn
    from_video: VideoFn
    continued: Callable[[np.ndarray, int, int, float], np.ndarray | None] | None = None
    manifest: Callable[[], dict[str, Any]] | None = None

    def music(self, wav: np.ndarray, sample_rate: int, frames: int, rate: float) -> np.ndarray:
        """`from_music`, checked and shaped `[frames, size]` float32."""
        return self.shaped(self.from_music(wav, sample_rate, frames, rate), frames, "from_music")

    def contract(self, rate: float) -> dict[str, Any]:
        """What a cache prepared with this channel records in its manifest."""
        return {
            self.name: True,
            f"{self.name}_rate": float(rate),
            **{f"{self.name}_{k}": v for k, v in (self.manifest() if self.manifest else {}).items()},
        }

    def continuation(self, wav: np.ndarray, sample_rate: int, frames: int, rate: float) -> np.ndarray | None:
        """`continued`, checked and shaped `[frames, size]` float32, or None (no continuation)."""
        values = None if self.continued is None else self.continued(wav, sample_rate, frames, rate)
        return None if values is None else self.shaped(values, frames, "continued")

    def video(self, extractor, video, features, frames: int, rate: float) -> np.ndarray:
        """`from_video`, checked and shaped `[frames, size]` float32."""
        return self.shaped(self.from_video(extractor, video, features, frames, rate), frames, "from_video")

    def shaped(self, x: np.ndarray, frames: int, what: str) -> np.ndarray:
        """`x` as `[frames, size]` float32 (ConfigError naming `what` gave another width)."""
        x = np.asarray(x, np.float32).reshape(frames, -1)
        if x.shape[1] != self.size:
            raise ConfigError(f"channel {self.name}: {what} gave width {x.shape[1]}, it declares {self.size}")
        return x


CHANNELS: dict[str, Channel] = {}


def register_channel(ch: Channel) -> Channel:
    """Make a channel known by its name (a later one of the same name replaces it)."""
    if not ch.name or not ch.name.replace("_", "").isalnum():
        raise ConfigError(f"channel name '{ch.name}' must be a plain identifier")
    CHANNELS[ch.name] = ch
    return ch


def channel(name: str) -> Channel:
    """The channel `name` (ConfigError naming the known ones)."""
    if name not in CHANNELS:
        raise ConfigError(f"unknown channel '{name}' (known: {', '.join(sorted(CHANNELS))})")
    return CHANNELS[name]


def channel_frames(duration: float, rate: float) -> int:
    """Frames of a channel over `duration` seconds at `rate` (as the semantic tokens count them)."""
    return math.ceil(duration * rate - 1e-6)


# ---- the rhythm channel: onset pulses of the music, motion beats of the video ----------------------------


def _rhythm_music(wav: np.ndarray, sample_rate: int, frames: int, rate: float) -> np.ndarray:
    from v2meow.signal.rhythm import music_pulses

    return music_pulses(wav, sample_rate, frames, rate)  # [frames]


def _rhythm_video(extractor, video, features, frames: int, rate: float) -> np.ndarray:
    """The video's motion-energy beats as pulses: the `motion` column of `features` when the bundle's
    extractor is the motion extractor, else a motion extractor run on `video`."""
    from v2meow.features.motion import MOTION_FEATURES, MotionExtractor
    from v2meow.signal.rhythm import MotionEnergy, video_pulses

    column = MOTION_FEATURES.index("motion_mean")
    if isinstance(extractor, MotionExtractor):
        energy, motion_extractor = features.features[:, column], extractor
    else:
        if video is None:
            raise ConfigError("the rhythm channel needs the video file (or a bundle whose features are 'motion')")
        from v2meow.features.registry import build_extractor
        from v2meow.features.video import extract_video

        motion_extractor = build_extractor("motion", rate=10.0)
        energy = extract_video(motion_extractor, video).features[:, column]
    motion = MotionEnergy(
        energy=energy.double().cpu().numpy(),
        rate=float(motion_extractor.rate),
        frame_rate=float(motion_extractor.frame_rate),
    )
    return video_pulses(motion, frames, rate)  # [frames]


def _rhythm_continued(wav: np.ndarray, sample_rate: int, frames: int, rate: float) -> np.ndarray | None:
    from v2meow.signal.rhythm import continued_pulses

    return continued_pulses(wav, sample_rate, frames, rate)


def _rhythm_manifest() -> dict[str, Any]:
    from v2meow.signal.rhythm import PULSE_WIDTH, PULSE_WINDOW

    return {"pulse_window": PULSE_WINDOW, "pulse_width": PULSE_WIDTH}


RHYTHM = register_channel(Channel("rhythm", 1, _rhythm_music, _rhythm_video, _rhythm_continued, _rhythm_manifest))
