"""Editing a soundtrack: regenerate a time range of earlier music, or continue the user's own.

    out = edit(pipe, "clip.mp4", "previous.wav", regenerate=(12.0, 20.0))   # V2MeowPipeline.edit
    out = edit(pipe, "clip.mp4", "intro.wav", continue_from=True)          # the intro, then new music

The kept music is read with the bundle's own tokenizers: its semantic tokens (the bundle's
semantic tokenizer) and its codec codes. Every stage then runs over the video as in generation,
but a frame outside the range keeps its token (`windows.fill_windows`): a window with nothing to
regenerate is skipped, generation in the others starts at the range with everything before it as
the prompt, and MaskGIT stages (stages 2 and 3 of the demo bundle) also read the kept frames after
the range and fill between them. The decoded range replaces the kept audio inside it, joined by
equal-power cross-fades of `fade` seconds just outside the range, so the output equals the kept
audio outside the range and its fades.

Continuing (`continue_from=True`) is a range from the end of the user's music to the end of the
video: the music is the fixed prefix every stage continues, in its style and tempo, following the
picture. A bundle whose stages read a rhythm channel gets, with `continue_rhythm="music"` (the
default), the music's own pulses under it and its last bar's pulses repeated at its tempo after it
(`Channel.continued`, `pipelines.channels.continued`), so the new music keeps the user's tempo;
`"video"` uses the video's pulses throughout, as a fresh generation does. (The same holds for any
condition channel that can continue music.)
"""

from __future__ import annotations

import math
import os

import torch

from v2meow import media
from v2meow.errors import ConfigError, MediaError
from v2meow.features.base import Features
from v2meow.safety import validation

FADE = 0.02  # seconds of cross-fade at each join


def read_kept(audio: str | os.PathLike | torch.Tensor, sample_rate: int | None, rate: int) -> torch.Tensor:
    """The kept music as mono `[N]` float audio at `rate` (a file, or a waveform at `sample_rate`)."""
    if isinstance(audio, (str, os.PathLike)):
        wav, sample_rate = media.read_audio(audio, channels=1)  # MediaError for an unreadable file
    elif sample_rate is None:
        raise ConfigError("a waveform to keep needs its sample_rate")
    else:
        wav = torch.as_tensor(audio, dtype=torch.float32)
    wav = wav.float().mean(0) if wav.dim() == 2 else wav.float()  # [N]
    return torch.from_numpy(media.resample(wav.numpy()[None], sample_rate, rate)[0].copy())  # [N']


def check_range(start: float, end: float, duration: float) -> None:
    """A range inside the video, at least a codec frame long (ConfigError naming what is wrong)."""
    if not (math.isfinite(start) and math.isfinite(end)):
        raise ConfigError(f"the range {start}-{end} s must be numbers of seconds")
    if end - start <= 0:
        raise ConfigError(f"the range {start:g}-{end:g} s is empty: it must end after it starts")
    if start < 0 or end > duration + 1e-3:
        raise ConfigError(f"the range {start:g}-{end:g} s is outside the video (0-{duration:.2f} s)")


def spliced(kept: torch.Tensor, new: torch.Tensor, start: int, end: int, fade: int) -> torch.Tensor:
    """`new` `[S, C, N]` inside samples [start, end), `kept` `[N]` outside, equal-power fades of `fade`
    samples just outside the range (so the range itself is wholly new)."""
    n = new.shape[-1]
    out = kept[None, None, :n].to(new.dtype).expand_as(new).clone()  # [S, C, N]
    out[..., start:end] = new[..., start:end]
    for a, b, rising in ((max(0, start - fade), start, True), (end, min(n, end + fade), False)):
        if b > a:
            t = (torch.arange(b - a, dtype=new.dtype) + 0.5) / (b - a)  # [L] 0..1
            w = torch.sin(0.5 * math.pi * (t if rising else 1 - t))  # the new music's weight
            out[..., a:b] = w * new[..., a:b] + torch.sqrt(1 - w**2) * kept[a:b].to(new.dtype)
    return out


def edit(
    pipe,
    video,
    keep,
    sample_rate: int | None = None,
    *,
    regenerate: tuple[float, float] | None = None,
    continue_from: bool = False,
    text: str | None = None,
    fade: float = FADE,
    rhythm: torch.Tensor | None = None,
    continue_rhythm: str = "music",
    channels: dict[str, torch.Tensor] | None = None,
    **overrides,
):
    """Regenerate `regenerate` = (start, end) seconds of `keep` (music as long as the video), or with
    `continue_from` keep the music `keep` (shorter than the video) and continue it to the video's end.
    `video`, `channels` and `rhythm` as for `pipe(...)` (a path, or features already extracted; the
    channels made from the video when not given; `continue_rhythm`: see the module's docstring); other
    overrides too. Returns a `PipelineOutput`."""
    from v2meow.pipelines import channels as chans
    from v2meow.pipelines.chain import run_chain
    from v2meow.pipelines.outputs import PipelineOutput, loudness_normalized
    from v2meow.stages.sampling import make_generator

    if (regenerate is None) == (not continue_from):
        raise ConfigError("give either regenerate=(start, end) or continue_from=True")
    if continue_rhythm not in validation.CONTINUE_RHYTHMS:
        raise ConfigError(
            f"continue_rhythm must be one of {', '.join(validation.CONTINUE_RHYTHMS)}, got {continue_rhythm!r}"
        )
    if pipe.semantic is None:
        raise ConfigError("this bundle has no semantic tokenizer (component 'semantic'), so it cannot read music")
    gen = pipe.generation.replace(**overrides)
    pipe.check_guidance(gen)
    features = video if isinstance(video, Features) else pipe.extract_features(video)
    duration, rate = features.duration, pipe.codec.sample_rate
    kept = read_kept(keep, sample_rate, rate)  # [N]
    seconds = kept.shape[0] / rate
    if continue_from:
        if seconds >= duration - 1.0 / pipe.codec.frame_rate:
            raise MediaError(f"the music to continue lasts {seconds:.2f} s, not less than the video ({duration:.2f} s)")
        regenerate = (seconds, duration)
    elif abs(seconds - duration) > 0.1:
        raise MediaError(
            f"the music to keep lasts {seconds:.2f} s but the video {duration:.2f} s; keep music made for it"
        )
    start, end = regenerate
    check_range(start, end, duration)
    n = round(duration * rate)
    kept = torch.nn.functional.pad(kept, (0, max(0, n - kept.shape[0])))[:n]  # [N]
    keep_tokens = _kept_tokens(pipe, kept, duration, start, end, gen.num_samples)
    given = chans.given_channels(channels, rhythm)
    chans.check_given(pipe, given)
    if continue_from and continue_rhythm == "music":  # the user's music continued at its own pace
        given = {**chans.continued(pipe, kept[: round(seconds * rate)], rate, duration), **given}
    made = pipe.video_channels(None if isinstance(video, Features) else video, features, given)
    style = pipe.embed_text(text)
    generator = make_generator(gen.seed, pipe.device)
    sources = pipe.video_sources(features, style, made, gen.num_samples)
    with torch.inference_mode(), pipe._autocast():
        tokens = run_chain(pipe, sources, duration, generation=gen, generator=generator, samples=gen.num_samples,
                           whole=pipe.whole_inputs(sources), keep=keep_tokens)  # fmt: skip
        semantic, coarse, fine = tokens["semantic"], tokens["coarse"], tokens["fine"]
        new = loudness_normalized(pipe.decode(coarse, fine, duration, phase=gen.phase), rate, gen.loudness)  # [S, C, N]
    audio = spliced(kept, new.cpu(), round(start * rate), round(end * rate), round(fade * rate))
    return PipelineOutput(
        audio=audio, sample_rate=rate, semantic=semantic.cpu(), coarse=coarse.cpu(), fine=fine.cpu(),
        features=features, duration=duration,
    )  # fmt: skip


def _kept_tokens(pipe, kept: torch.Tensor, duration: float, start: float, end: float, samples: int) -> dict:
    """Per role, (kept values `[S, ..., T]`, regenerate `[T]` bool) for `fill_windows`."""
    c2, codec = pipe.stages["coarse"].config, pipe.codec
    t_s, t_a = math.ceil(duration * c2.semantic_rate - 1e-6), math.ceil(duration * c2.codec_rate - 1e-6)
    semantic, _ = pipe.audio_semantic_tokens(kept, codec.sample_rate)  # [T_s]
    with torch.inference_mode():
        codes = codec.encode(kept.to(pipe.device)[None, None])[0]  # [K, T']
    codes = _fit(codes, t_a)  # [K, T_a]

    def span(total: int, rate: float) -> torch.Tensor:
        t = torch.arange(total, device=pipe.device) / rate  # each frame's start, s
        return (t >= start - 1e-6) & (t < end - 1e-6)  # [T]

    regen_s, regen_a = span(t_s, c2.semantic_rate), span(t_a, c2.codec_rate)
    nc = c2.num_coarse

    def rows(x: torch.Tensor) -> torch.Tensor:
        return x.to(pipe.device)[None].expand(samples, *x.shape).clone()

    return {
        "semantic": (rows(_fit(semantic[None], t_s)[0]), regen_s),
        "coarse": (rows(codes[:nc]), regen_a),
        "fine": (rows(codes[nc:]), regen_a),
    }


def _fit(x: torch.Tensor, total: int) -> torch.Tensor:
    """`[..., T]` cut or padded (repeating the last frame) to `total` frames."""
    if x.shape[-1] >= total:
        return x[..., :total]
    return torch.cat([x, x[..., -1:].expand(*x.shape[:-1], total - x.shape[-1])], -1)
