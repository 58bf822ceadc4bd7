"""Resynthesis (AudioLM's acoustic test): music -> its own semantic tokens -> stages 2 and 3 -> decode.

`V2MeowPipeline.audio_semantic_tokens` and `.resynthesize` call these.
"""

from __future__ import annotations

import math
import os

import torch

from v2meow import media
from v2meow.errors import ConfigError
from v2meow.features.base import Features
from v2meow.pipelines.chain import run_chain
from v2meow.pipelines.outputs import PipelineOutput, loudness_normalized
from v2meow.stages.layout import fit_frames
from v2meow.stages.sampling import make_generator


def audio_semantic_tokens(
    pipe, audio: str | os.PathLike | torch.Tensor, sample_rate: int | None = None
) -> tuple[torch.Tensor, float]:
    """Semantic tokens `[T_s]` of an audio file or waveform (`[N]` or `[C, N]` at `sample_rate`), and its duration (s)."""
    if pipe.semantic is None:
        raise ConfigError("this bundle has no semantic tokenizer (component 'semantic'), so it cannot read audio")
    if isinstance(audio, (str, os.PathLike)):
        wav, sample_rate = media.read_audio(audio, channels=1)
    elif sample_rate is None:
        raise ConfigError("a waveform needs its sample_rate")
    else:
        wav = torch.as_tensor(audio, dtype=torch.float32)
    duration = wav.shape[-1] / sample_rate
    tokens = pipe.semantic.encode(wav, sample_rate)  # [T']
    return fit_frames(tokens, math.ceil(duration * pipe.stages["coarse"].config.semantic_rate - 1e-6)), duration


@torch.inference_mode()
def resynthesize(
    pipe,
    audio: str | os.PathLike | torch.Tensor,
    sample_rate: int | None = None,
    *,
    video: str | os.PathLike | Features | None = None,
    **overrides,
) -> PipelineOutput:
    """Music -> its own semantic tokens -> stages 2 and 3 -> decode (AudioLM's acoustic resynthesis).

    The output keeps the input's melody and rhythm as far as the semantic tokens carry
    them, re-rendered by the acoustic stages; stage 1 and the video are not used (except
    by a stage 2 of the `encdec` variant, which needs `video`; a stage 2 that reads a condition
    channel, e.g. the rhythm, gets the music's own). Overrides as for `__call__`.
    """
    gen = pipe.generation.replace(**overrides)
    pipe.check_guidance(gen)
    if isinstance(audio, (str, os.PathLike)):
        audio, sample_rate = media.read_audio(audio, channels=1)
    tokens, duration = pipe.audio_semantic_tokens(audio, sample_rate)
    semantic = tokens.to(pipe.device)[None].expand(gen.num_samples, -1)  # [S, T_s]
    from v2meow.pipelines.channels import from_music

    # the music's own channels (e.g. its rhythm), as v2meow-prepare --channel caches them
    channels = from_music(pipe, torch.as_tensor(audio), sample_rate, duration, roles=("coarse", "fine"))
    features = None
    if pipe.reads("coarse", "visual"):
        if video is None:
            raise ConfigError("this bundle's stage 2 reads the video (variant encdec): pass video=")
        features = video if isinstance(video, Features) else pipe.extract_features(video)
    generator = make_generator(gen.seed, pipe.device)
    sources = pipe.semantic_sources(semantic, duration, features, channels)
    with pipe._autocast():  # the chain from the coarse role on: the same steps as generation, started later
        tokens = run_chain(pipe, sources, duration, generation=gen, generator=generator, samples=gen.num_samples,
                           start="coarse")  # fmt: skip
    coarse, fine = tokens["coarse"], tokens["fine"]
    wav = loudness_normalized(
        pipe.decode(coarse, fine, duration, phase=gen.phase), pipe.codec.sample_rate, gen.loudness
    )
    return PipelineOutput(
        audio=wav.cpu(),
        sample_rate=pipe.codec.sample_rate,
        semantic=semantic.cpu(),
        coarse=coarse.cpu(),
        fine=fine.cpu(),
        features=features,
        duration=duration,
    )
