"""Decoding long code sequences chunk by chunk, with context and cross-faded joins."""

from __future__ import annotations

import torch

from v2meow.media import fit_length


def with_phase(codec, phase: str | None):
    """`codec`, or with `phase` a shallow copy whose config asks for that mel phase reconstruction (the
    weights are shared; the codec itself is not changed, so concurrent calls do not interfere)."""
    import copy
    import dataclasses

    from v2meow.errors import ConfigError
    from v2meow.safety.validation import PHASES

    if phase is None:
        return codec
    inversion = getattr(codec.config, "inversion", None)
    if inversion not in PHASES:
        raise ConfigError(
            f"phase={phase} applies to a mel codec decoded without a vocoder; this bundle's codec "
            f"({codec.config.model_type}) decodes with {inversion or 'its own decoder'}"
        )
    view = copy.copy(codec)
    view.config = dataclasses.replace(codec.config, inversion=phase)
    return view


def decode_in_chunks(
    codec,
    codes: torch.Tensor,
    n: int,
    chunk_seconds: float = 30.0,
    context_seconds: float = 1.0,
    fade_seconds: float = 0.05,
) -> torch.Tensor:
    """`codes` `[S, K, T]` -> audio `[S, C, n]` through `codec`, `chunk_seconds` at a time (see
    `V2MeowPipeline.decode`): each chunk decoded with `context_seconds` of codes on both sides,
    neighbours cross-faded over `fade_seconds` (at most the context) at the joins."""
    t, hop = codes.shape[2], codec.hop_length
    chunk = max(1, round(chunk_seconds * codec.frame_rate))
    ctx = round(context_seconds * codec.frame_rate)
    if t <= chunk + 2 * ctx:
        return fit_length(codec.decode(codes, length=n), n)
    fade = min(ctx * hop, round(fade_seconds * codec.sample_rate))  # samples on each side of a join
    out = None  # [S, C, T * hop], filled chunk by chunk (no growing copies: memory is the output's)
    ramp = None
    for s in range(0, t, chunk):
        lo, hi, e = max(0, s - ctx), min(t, s + chunk + ctx), min(t, s + chunk)
        wav = codec.decode(codes[:, :, lo:hi])  # [S, C, (hi - lo) * hop]
        if out is None:
            out = wav.new_zeros(*wav.shape[:2], t * hop)
            ramp = torch.linspace(0.0, 1.0, 2 * fade + 2, device=wav.device, dtype=wav.dtype)[1:-1]  # [2 * fade]
        a = (s - lo) * hop - (fade if s > 0 else 0)  # this chunk's part of `wav`: its frames, the fades
        b = (e - lo) * hop + (fade if e < t else 0)
        piece = wav[..., a:b]  # [S, C, (e - s) * hop (+ fade on inner sides)]
        start = s * hop - (fade if s > 0 else 0)
        if s > 0:  # cross-fade with the previous chunk's fade-out tail, already in `out`
            join = out[..., start : start + 2 * fade]
            join.mul_(1 - ramp).add_(piece[..., : 2 * fade] * ramp)
            out[..., start + 2 * fade : start + piece.shape[-1]] = piece[..., 2 * fade :]
        else:
            out[..., : piece.shape[-1]] = piece
    return fit_length(out, n)
