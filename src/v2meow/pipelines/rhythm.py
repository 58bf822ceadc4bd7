"""The rhythm channel of a video: what stage 1's `rhythm` condition reads at generation time.

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
