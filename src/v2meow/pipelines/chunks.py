"""Decoding long code sequences chunk by chunk, with context and cross-faded joins."""

from __future__ import annotations

import torch

from v2meow.media import fit_length


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
    out = None
    for s in range(0, t, chunk):
        lo, hi, e = max(0, s - ctx), min(t, s + chunk + ctx), min(t, s + chunk)
        wav = codec.decode(codes[:, :, lo:hi])  # [S, C, (hi - lo) * hop]
        a = (s - lo) * hop - (fade if s > 0 else 0)
        b = (e - lo) * hop + (fade if e < t else 0)
        piece = wav[..., a:b]  # [S, C, (e - s) * hop (+ fade on inner sides)]
        if out is None:
            out = piece
            continue
        ramp = torch.linspace(0.0, 1.0, 2 * fade + 2, device=piece.device, dtype=piece.dtype)[1:-1]  # [2 * fade]
        joined = out[..., out.shape[-1] - 2 * fade :] * (1 - ramp) + piece[..., : 2 * fade] * ramp
        out = torch.cat([out[..., : out.shape[-1] - 2 * fade], joined, piece[..., 2 * fade :]], dim=-1)
    return fit_length(out, n)
