"""VidMuse's long-short-term visual module (VidMuse section 4.3), as stage 1's front-end.

A long-term stream of `steps` feature frames sampled evenly from the whole video, and a
short-term stream (the current window), are fused by cross-attention: the short-term
frames are the queries, the long-term frames the keys and values. The result replaces
the visual stream's input projection, so every window's encoder states know the whole
video.

    short [B, T_v, F] -> LN + Linear -> s [B, T_v, D]
    long  [B, T_l, F] -> LN + Linear -> one bidirectional block (long-term modelling) -> c [B, T_l, D]
    out = s + W_o CrossAttn(q = LN(s), k = v = LN(c))                                   # [B, T_v, D]

Short-term modelling is the stage's own encoder, which runs over `out`.
"""

from __future__ import annotations

import torch
from torch import nn

from v2meow.stages.transformer import Attention, TransformerStack, rope_angles


def even_sample(x: torch.Tensor, steps: int) -> torch.Tensor:
    """`steps` frames of `x` `[..., T, D]` taken at the centres of `steps` equal segments.

    A sequence shorter than `steps` repeats frames, so the result is always `[..., steps, D]`.
    """
    t = x.shape[-2]
    if t == 0:
        raise ValueError("cannot sample a long-term stream from zero frames")
    idx = (
        ((torch.arange(steps, device=x.device, dtype=torch.float64) + 0.5) * t / steps).floor().long().clamp_max(t - 1)
    )
    return x.index_select(-2, idx)


class LongShortFusion(nn.Module):
    """Short-term queries cross-attend to long-term keys/values.

    Args:
        feature_dim: size of the raw visual features (both streams).
        dim, heads, ffn, dropout: transformer sizes (the stage's).
        ticks_per_step: rotary position step between two long-term frames.

    Cross-attention uses no rotary positions (every query and key at position 0): a
    window does not know where in the video it sits, so it attends to the long-term
    frames by content; the long-term block itself does see their order.
    """

    def __init__(
        self, feature_dim: int, dim: int, heads: int, ffn: int, dropout: float = 0.0, ticks_per_step: float = 50.0
    ):
        super().__init__()
        self.short_in = nn.Sequential(nn.LayerNorm(feature_dim), nn.Linear(feature_dim, dim))
        self.long_in = nn.Sequential(nn.LayerNorm(feature_dim), nn.Linear(feature_dim, dim))
        self.long_stack = TransformerStack(dim, 1, heads, ffn, causal=False, cross=False, dropout=dropout)
        self.norm_q, self.norm_kv = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.cross = Attention(dim, heads, dropout)
        self.out = nn.Linear(dim, dim)
        self.ticks_per_step = ticks_per_step

    def forward(self, short: torch.Tensor, long: torch.Tensor) -> torch.Tensor:
        """short `[B, T_v, F]`, long `[B, T_l, F]` -> fused short-term states `[B, T_v, D]`."""
        b, t_l, _ = long.shape
        s = self.short_in(short)  # [B, T_v, D]
        long_pos = (torch.arange(t_l, device=long.device, dtype=torch.float32) * self.ticks_per_step).expand(b, t_l)
        ctx = self.long_stack(self.long_in(long), long_pos)  # [B, T_l, D]
        head_dim = self.cross.head_dim
        k, v = self.cross.project_kv(
            self.norm_kv(ctx), rope_angles(long.new_zeros(b, t_l), head_dim)
        )  # [B, H, T_l, Dh]
        q_rope = rope_angles(short.new_zeros(b, short.shape[1]), head_dim)
        return s + self.out(self.cross(self.norm_q(s), q_rope, k, v))
