"""The rhythm channel of a video: what the stages' `rhythm` condition reads at generation time.

At training the channel comes from the music (`v2meow-prepare --rhythm`: the onset envelope's
strongest peaks as a pulse train, `signal.rhythm.music_pulses`); at generation the same pulse
train is made from the video's motion-energy beats (`signal.rhythm.video_pulses`), so a model
that learned to follow the music's pulses follows the picture's.
"""

from __future__ import annotations

import math
import os

import torch

from v2meow.errors import ConfigError
from v2meow.features.base import FeatureExtractor, Features


def video_rhythm_channel(
    extractor: FeatureExtractor, video: str | os.PathLike | None, features: Features, rate: float
) -> torch.Tensor:
    """Pulse train of the video's beats at `rate` over `features.duration` -> `[T, 1]` float32.

    The motion energy is the `motion` extractor's `motion_mean` column of `features` when
    `extractor` is that extractor; otherwise a `motion` extractor is run on `video`.
    """
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
    n = math.ceil(features.duration * rate - 1e-6)
    return torch.from_numpy(video_pulses(motion, n, rate))[:, None]  # [T, 1]


def stage_pulses(pipe, role: str, rhythm: torch.Tensor | None, samples: int) -> torch.Tensor | None:
    """The rhythm channel `[T_s, 1]` as `[S, T_s, 1]` for the stage of `role`, when it reads one (else None)."""
    if not pipe.reads(role, "rhythm"):
        return None
    if rhythm is None:
        raise ConfigError(f"this bundle's {role} stage reads a rhythm channel: give rhythm= (rhythm_channel)")
    return rhythm.to(pipe.device)[None].expand(samples, -1, -1)


def music_rhythm_channel(wav: torch.Tensor, sample_rate: int, duration: float, rate: float) -> torch.Tensor:
    """The rhythm channel of music `wav` (`[N]` or `[C, N]`) as `v2meow-prepare --rhythm` caches it -> `[T, 1]`."""
    from v2meow.signal.rhythm import music_pulses

    mono = (wav.float().mean(0) if wav.dim() == 2 else wav.float()).cpu().numpy()  # [N]
    n = math.ceil(duration * rate - 1e-6)
    return torch.from_numpy(music_pulses(mono, sample_rate, n, rate)).float()[:, None]  # [T, 1]


def continued_rhythm_channel(wav: torch.Tensor, sample_rate: int, duration: float, rate: float) -> torch.Tensor | None:
    """The rhythm channel of music `wav` (`[N]`) continued to `duration` s at its own tempo
    (`signal.rhythm.continued_pulses`) -> `[T, 1]`, or None when the music has no steady bar to repeat."""
    from v2meow.signal.rhythm import continued_pulses

    mono = (wav.float().mean(0) if wav.dim() == 2 else wav.float()).cpu().numpy()  # [N]
    n = math.ceil(duration * rate - 1e-6)
    pulses = continued_pulses(mono, sample_rate, n, rate)
    return None if pulses is None else torch.from_numpy(pulses)[:, None]  # [T, 1]
