"""Time-aligned conditioning: condition streams summed into the decoder's input embeddings.

Cross-attention lets a decoder token look anywhere in the condition; a time-aligned input
puts the condition *at the token's own time* into its embedding, which is how the systems
that measurably follow rhythm feed it (SoundStorm sums the semantic token of each frame into
its acoustic positions; MusiConGen adds a frame-aligned beat channel). Each decoder input
sits at the time of its target (`pos` in ticks), so an aligned stream is resampled at those
times: linear interpolation for features, the frame that covers the time for tokens.
"""

from __future__ import annotations

import torch
from torch import nn

from v2meow.stages.conditions import Condition, Stream


def frames_at(times: torch.Tensor, rate: float, length: int) -> torch.Tensor:
    """Index of the frame (at `rate`) that covers each time `[...]` (seconds), clipped to the stream."""
    return (times * rate + 1e-4).floor().long().clamp(0, max(0, length - 1))


def interpolate_at(x: torch.Tensor, rate: float, times: torch.Tensor) -> torch.Tensor:
    """Features `x` `[B, T, D]` at `rate`, linearly interpolated at `times` `[B or 1, N]` s -> `[B, N, D]`.

    Frame i sits at i / rate; times outside the stream take its first or last frame.
    """
    b, t, d = x.shape
    pos = (times * rate).clamp(0, t - 1).expand(b, -1)  # [B, N] fractional frame index
    lo = pos.floor().long().clamp(max=t - 1)
    hi = (lo + 1).clamp(max=t - 1)
    w = (pos - lo.to(pos.dtype))[..., None].to(x.dtype)  # [B, N, 1]

    def gather(idx: torch.Tensor) -> torch.Tensor:
        return x.gather(1, idx[..., None].expand(-1, -1, d))

    return gather(lo) * (1 - w) + gather(hi) * w


class AlignedInputs(nn.Module):
    """Projects each aligned stream to width `dim` and sums them at the decoder's input times.

    A stream dropped for an example (condition dropout in training, guidance at inference)
    contributes a learned null vector instead.
    """

    def __init__(self, streams: list[Stream], dim: int):
        super().__init__()
        self.streams = streams
        self.inputs = nn.ModuleDict()
        for s in streams:
            if s.kind == "tokens":
                self.inputs[s.name] = nn.Embedding(s.size, dim)
            elif s.kind == "features":
                norm = nn.LayerNorm(s.size) if s.size > 1 else nn.Identity()  # LayerNorm(1) outputs 0
                self.inputs[s.name] = nn.Sequential(norm, nn.Linear(s.size, dim))
            else:
                raise ValueError(f"aligned stream {s.name}: only features and tokens can be time-aligned, not {s.kind}")
        self.null_embed = nn.Parameter(torch.zeros(len(streams), dim))

    def forward(
        self,
        conditions: dict[str, Condition],  # name -> value ([B, T, size] features or [B, T] tokens), rate, drop [B]
        times: torch.Tensor,  # [B or 1, N] seconds of the decoder inputs
    ) -> torch.Tensor | None:
        """Sum of the aligned streams at `times` -> `[B, N, dim]`, or None when none is given."""
        out = None
        for i, s in enumerate(self.streams):
            if s.name not in conditions:
                continue
            cond = conditions[s.name]
            x, rate = cond.value, cond.rate or s.rate
            if s.kind == "tokens":
                idx = frames_at(times, rate, x.shape[1]).expand(x.shape[0], -1)  # [B, N]
                h = self.inputs[s.name](x.gather(1, idx))  # [B, N, D]
            else:
                x = x.to(self.null_embed.dtype)
                h = self.inputs[s.name](interpolate_at(x, rate, times.to(x.dtype)))  # [B, N, D]
            if cond.drop is not None:
                h = torch.where(cond.drop[:, None, None], self.null_embed[i].to(h.dtype), h)
            out = h if out is None else out + h
        return out
