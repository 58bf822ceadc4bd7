"""Condition channels at generation time (`features.channels`): which ones a bundle's stages read, made
from the video (generation), from music (resynthesis: the music's own; editing: the user's music
continued), and handed to the chain as sources at the semantic rate.

A channel given that no stage reads is a `ConfigError` (never a silent drop), and so is a channel a
stage reads that nobody gave when a step is run alone (`semantic_tokens`, `coarse_tokens`).
"""

from __future__ import annotations

import torch

from v2meow.errors import ConfigError
from v2meow.features.channels import CHANNELS, channel, channel_frames
from v2meow.stages.roles import ROLES


def channels_read(pipe) -> tuple[str, ...]:
    """The known channels some stage of `pipe` reads, in registration order."""
    return tuple(name for name in CHANNELS if any(pipe.reads(role, name) for role in ROLES))


def given_channels(channels: dict[str, torch.Tensor] | None, rhythm: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """`channels` with the `rhythm=` shortcut added (both naming it is a ConfigError)."""
    out = dict(channels or {})
    if rhythm is not None:
        if "rhythm" in out:
            raise ConfigError("the rhythm channel was given twice (rhythm= and channels['rhythm']): give one")
        out["rhythm"] = rhythm
    return out


def check_given(pipe, given: dict[str, torch.Tensor]) -> None:
    """ConfigError for a given channel that no stage of `pipe` reads."""
    for name in given:
        if name not in channels_read(pipe):
            raise ConfigError(
                f"a {name} channel was given, but no stage of this bundle reads one: leave "
                + ("rhythm" if name == "rhythm" else f"channels['{name}']")
                + " unset"
            )


def from_video(pipe, video, features, given: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """Every channel the stages read, `[T_s, size]` each: as `given`, else made from the video
    (`video`: its file, or None when only `features` are known)."""
    given = dict(given or {})
    check_given(pipe, given)
    for name in channels_read(pipe):
        if name not in given:
            given[name] = one_from_video(pipe, name, video, features)
    return given


def one_from_video(pipe, name: str, video, features) -> torch.Tensor:
    """The channel `name` made from the video, whether or not a stage reads it -> `[T_s, size]`."""
    frames = channel_frames(features.duration, pipe.channel_rate)
    return torch.from_numpy(channel(name).video(pipe.extractor, video, features, frames, pipe.channel_rate))


def from_music(pipe, wav: torch.Tensor, sample_rate: int, duration: float, roles=ROLES) -> dict[str, torch.Tensor]:
    """The channels the stages of `roles` read, made from music `wav` (`[N]` or `[C, N]`) as
    `v2meow-prepare --channel` caches them -> `[T_s, size]` each."""
    mono = (wav.float().mean(0) if wav.dim() == 2 else wav.float()).cpu().numpy()  # [N]
    frames = channel_frames(duration, pipe.channel_rate)
    names = [n for n in channels_read(pipe) if any(pipe.reads(r, n) for r in roles)]
    return {n: torch.from_numpy(channel(n).music(mono, sample_rate, frames, pipe.channel_rate)) for n in names}


def continued(pipe, wav: torch.Tensor, sample_rate: int, duration: float) -> dict[str, torch.Tensor]:
    """The channels the stages read that can continue music `wav` (`[N]`) to `duration` s at its own
    pace (`Channel.continued`) -> `[T_s, size]` each; a channel that cannot (or music without, e.g.,
    a steady bar) is left out, to be made from the video."""
    mono = wav.float().cpu().numpy()  # [N]
    frames = channel_frames(duration, pipe.channel_rate)
    out = {}
    for name in channels_read(pipe):
        values = channel(name).continuation(mono, sample_rate, frames, pipe.channel_rate)
        if values is not None:
            out[name] = torch.from_numpy(values)
    return out


def add_sources(pipe, sources: dict, channels: dict[str, torch.Tensor], role: str, samples: int, duration: float):
    """Each channel the stage of `role` reads as a source `[S, T_s, size]` at the channel rate (once for
    all the stages that read it)."""
    from v2meow.pipelines.chain import Source

    rate = pipe.channel_rate
    for st in pipe.stages[role].streams:
        if st.name not in CHANNELS or st.name in sources:
            continue
        if st.name not in channels:
            shortcut = "rhythm=" if st.name == "rhythm" else f"channels={{'{st.name}': ...}}"
            raise ConfigError(f"this bundle's {role} stage reads the {st.name} channel: give {shortcut}")
        value = channels[st.name].to(pipe.device)[None].expand(samples, -1, -1)  # [S, T_s, size]
        sources[st.name] = Source(value[:, : channel_frames(duration, rate)], rate)
