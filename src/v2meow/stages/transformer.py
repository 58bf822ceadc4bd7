"""The transformer core shared by all three stages.

Pre-norm blocks on `F.scaled_dot_product_attention`, with rotary position embeddings
(RoPE) whose positions are *times*: every position carries a time in "ticks"
(seconds x `ticks_per_second`), so streams at different rates (1 Hz visual features,
25 Hz semantic tokens, 75 Hz codec frames) line up by time in self- and cross-attention.
Cross-attention applies RoPE too (queries at the decoder token's time, keys at the
encoder position's time), so a decoder token attends by *relative time* to the
visual features around it.

Generation uses `KVCache`: self-attention keys/values are written into pre-allocated
buffers, cross-attention keys/values are computed once per sequence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


def rope_angles(positions: torch.Tensor, head_dim: int, base: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and signed sin tables for RoPE at (possibly fractional) positions.

    The sin table's first half is negated, so that `apply_rope` rotates with one `roll`
    (half-split pairing: dimension i pairs with i + head_dim / 2).

    Args:
        positions: `[B, T]` float positions (ticks).
    Returns:
        cos, signed sin: `[B, 1, T, head_dim]` float32.
    """
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, device=positions.device, dtype=torch.float32) / head_dim))
    angles = positions.float()[..., None] * inv_freq  # [B, T, head_dim / 2]
    cos, sin = angles.cos(), angles.sin()
    return torch.cat([cos, cos], dim=-1)[:, None], torch.cat([-sin, sin], dim=-1)[:, None]  # [B, 1, T, head_dim]


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate `x` `[B, H, T, Dh]` by the angles in cos/signed sin `[B, 1, T, Dh]` (computed in float32)."""
    if x.dtype != torch.float32:
        return apply_rope(x.float(), cos, sin).to(x.dtype)
    return torch.addcmul(x * cos, x.roll(x.shape[-1] // 2, dims=-1), sin)  # x*cos + [x2, x1] * [-sin, sin]


def use_decode_layout(module: nn.Module) -> None:
    """Store every CPU `nn.Linear` weight of `module` column-major (its transpose contiguous), in place.

    Values, shapes, state dicts and training are unchanged; only the memory order differs.
    A decode step multiplies one row by each weight, which on CPU streams a column-major
    weight faster: `generate` ran 1.2x faster so (bench/peer.py). Idempotent.
    """
    with torch.inference_mode(False), torch.no_grad():  # a normal tensor, even when called under inference mode
        for m in module.modules():
            w = m.weight if isinstance(m, nn.Linear) else None
            if w is not None and w.device.type == "cpu" and w.dim() == 2 and w.is_contiguous() and min(w.shape) > 1:
                w.data = w.data.t().contiguous().t()


@dataclass
class LayerCache:
    """Pre-allocated self-attention K/V of one layer, plus cached cross-attention K/V."""

    k: torch.Tensor  # [B, H, T_max, Dh]
    v: torch.Tensor  # [B, H, T_max, Dh]
    cross_k: torch.Tensor | None = None  # [B, H, S, Dh]
    cross_v: torch.Tensor | None = None  # [B, H, S, Dh]


class KVCache:
    """Key/value buffers for incremental decoding; `length` is the number of filled steps."""

    def __init__(self, layers: list[LayerCache]):
        self.layers = layers
        self.length = 0

    @classmethod
    def allocate(cls, num_layers: int, batch: int, heads: int, head_dim: int, max_len: int, device, dtype) -> KVCache:
        shape = (batch, heads, max_len, head_dim)
        return cls(
            [
                LayerCache(
                    torch.empty(shape, device=device, dtype=dtype), torch.empty(shape, device=device, dtype=dtype)
                )
                for _ in range(num_layers)
            ]
        )

    @property
    def max_len(self) -> int:
        return self.layers[0].k.shape[2]


class Attention(nn.Module):
    """Multi-head attention (self or cross) with RoPE on queries and keys."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0):
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by {heads} heads")
        self.heads, self.head_dim = heads, dim // heads
        self.q = nn.Linear(dim, dim, bias=False)
        self.kv = nn.Linear(dim, 2 * dim, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)
        self.dropout = dropout

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.heads, self.head_dim).transpose(1, 2)  # [B, H, T, Dh]

    def project_kv(
        self, source: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys (rotated) and values of `source` `[B, S, D]` -> two `[B, H, S, Dh]`."""
        k, v = F.linear(source, self.kv.weight).chunk(2, dim=-1)  # F.linear: no module-call overhead per decode step
        return apply_rope(self._split(k), *rope), self._split(v)

    def forward(
        self,
        x: torch.Tensor,  # [B, T, D]
        q_rope: tuple[torch.Tensor, torch.Tensor],
        k: torch.Tensor,  # [B, H, S, Dh] (rotated)
        v: torch.Tensor,  # [B, H, S, Dh]
        mask: torch.Tensor | None = None,  # [B or 1, 1, T, S] bool, True = attend
        is_causal: bool = False,
    ) -> torch.Tensor:
        q = apply_rope(self._split(F.linear(x, self.q.weight)), *q_rope)  # [B, H, T, Dh]
        y = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=mask,
            dropout_p=self.dropout if self.training else 0.0,
            is_causal=is_causal and mask is None,
        )  # [B, H, T, Dh]
        return F.linear(y.transpose(1, 2).reshape(x.shape), self.out.weight)


class FeedForward(nn.Module):
    """Two linear layers with a GELU between them (dropout on the hidden layer in training)."""

    def __init__(self, dim: int, hidden: int, dropout: float = 0.0):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.gelu(self.fc1(x))  # [.., hidden]
        if self.training and self.dropout:
            h = F.dropout(h, self.dropout)
        return self.fc2(h)


#: `Block.forward`'s `kv_store`: gets the new keys/values `[B, H, T, Dh]` of a block's
#: self-attention and returns the keys/values to attend over (e.g. written into a cache).
KVStore = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


class Block(nn.Module):
    """Pre-norm block: self-attention, optional cross-attention, feed-forward."""

    def __init__(self, dim: int, heads: int, ffn: int, cross: bool, dropout: float = 0.0):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim), Attention(dim, heads, dropout)
        self.norm_x = nn.LayerNorm(dim) if cross else None
        self.cross = Attention(dim, heads, dropout) if cross else None
        self.norm2, self.ffn = nn.LayerNorm(dim), FeedForward(dim, ffn, dropout)
        self.dropout = dropout

    def _residual(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x + (F.dropout(y, self.dropout) if self.training and self.dropout else y)

    def forward(
        self,
        x: torch.Tensor,  # [B, T, D]
        rope: tuple[torch.Tensor, torch.Tensor],  # cos/sin of the positions of x
        self_mask: torch.Tensor | None = None,  # [B or 1, 1, T, S] bool, True = attend
        is_causal: bool = False,
        kv_store: KVStore | None = None,
        cross_kv: tuple[torch.Tensor, torch.Tensor] | None = None,  # [B, H, S_m, Dh] each (keys rotated)
        cross_mask: torch.Tensor | None = None,  # [B, 1, 1, S_m] bool
    ) -> torch.Tensor:
        """`x` after the block `[B, T, D]`; `kv_store` decides where the self-attention K/V live."""
        h = self.norm1(x)
        k, v = self.attn.project_kv(h, rope)  # [B, H, T, Dh]
        if kv_store is not None:
            k, v = kv_store(k, v)
        x = self._residual(x, self.attn(h, rope, k, v, mask=self_mask, is_causal=is_causal))
        if self.cross is not None:
            x = self._residual(x, self.cross(self.norm_x(x), rope, *cross_kv, mask=cross_mask))
        return self._residual(x, self.ffn(self.norm2(x)))


class TransformerStack(nn.Module):
    """A stack of blocks: bidirectional (encoder) or causal (decoder), optionally cross-attending.

    `forward` runs a whole sequence; with a `KVCache` it appends the new positions to the
    cache and attends to everything cached so far (incremental decoding).
    """

    def __init__(self, dim: int, depth: int, heads: int, ffn: int, causal: bool, cross: bool, dropout: float = 0.0):
        super().__init__()
        self.dim, self.heads, self.causal, self.has_cross = dim, heads, causal, cross
        self.blocks = nn.ModuleList([Block(dim, heads, ffn, cross, dropout) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads

    def allocate_cache(self, batch: int, max_len: int, device, dtype) -> KVCache:
        return KVCache.allocate(len(self.blocks), batch, self.heads, self.head_dim, max_len, device, dtype)

    def prepare_cross(self, cache: KVCache, memory: torch.Tensor, memory_pos: torch.Tensor) -> None:
        """Compute every layer's cross-attention K/V once for `memory` `[B, S, D]`."""
        rope = rope_angles(memory_pos, self.head_dim)
        for block, layer in zip(self.blocks, cache.layers):
            layer.cross_k, layer.cross_v = block.cross.project_kv(block.norm_x(memory), rope)

    def forward(
        self,
        x: torch.Tensor,  # [B, T, D]
        pos: torch.Tensor,  # [B, T] ticks
        key_mask: torch.Tensor | None = None,  # [B, start + T] bool, True = real position
        memory: torch.Tensor | None = None,  # [B, S, D]
        memory_pos: torch.Tensor | None = None,  # [B, S]
        memory_mask: torch.Tensor | None = None,  # [B, S] bool
        cache: KVCache | None = None,
        rope: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """`rope`: cos/sin of `pos` already computed (the decode loop precomputes them)."""
        rope = rope_angles(pos, self.head_dim) if rope is None else rope
        b, t, _ = x.shape
        start = cache.length if cache is not None else 0
        self_mask = self._self_mask(b, t, start, key_mask, x.device)
        cross_mask = None if memory_mask is None else memory_mask[:, None, None, :]  # [B, 1, 1, S]
        cross_rope = None
        if self.has_cross and (cache is None or cache.layers[0].cross_k is None):
            if memory is None:
                raise ValueError("this stack cross-attends: pass memory (or prepare_cross on the cache)")
            cross_rope = rope_angles(memory_pos, self.head_dim)
        for i, block in enumerate(self.blocks):
            store = None if cache is None else _append_store(cache.layers[i], start, t)
            cross_kv = None
            if block.cross is not None:
                if cache is not None and cache.layers[i].cross_k is not None:
                    cross_kv = cache.layers[i].cross_k, cache.layers[i].cross_v
                else:
                    cross_kv = block.cross.project_kv(block.norm_x(memory), cross_rope)
            x = block(x, rope, self_mask, self.causal and start == 0, store, cross_kv, cross_mask)
        if cache is not None:
            cache.length = start + t
        return self.norm(x)

    def step_static(
        self,
        x: torch.Tensor,  # [B, 1, D]
        rope: tuple[torch.Tensor, torch.Tensor],  # cos/sin [B or 1, 1, 1, Dh]
        cache: KVCache,  # cross-attention K/V already prepared when this stack cross-attends
        slot: torch.Tensor,  # [1] long: the cache slot of this step
        memory_mask: torch.Tensor | None = None,  # [B, S] bool, True = real position
    ) -> torch.Tensor:
        """One decode step whose shapes never change, for CUDA-graph capture -> `[B, 1, D]`.

        The new keys/values go to `slot` (a tensor, so a captured graph can be replayed at
        every position) and attention spans the whole cache under a `slots <= slot` mask.
        Same result as `forward` with a cache; slower on CPU, where `forward` is used.
        Unfilled slots must hold finite values (zeros): a masked weight of 0 times a NaN left
        in uninitialised memory is still NaN. Does not advance `cache.length`: the caller does.
        """
        slots = torch.arange(cache.max_len, device=x.device)
        self_mask = (slots <= slot)[None, None, None, :]  # [1, 1, 1, T_max]
        cross_mask = None if memory_mask is None else memory_mask[:, None, None, :]  # [B, 1, 1, S]
        for block, layer in zip(self.blocks, cache.layers):
            cross_kv = None if block.cross is None else (layer.cross_k, layer.cross_v)
            x = block(x, rope, self_mask, False, _slot_store(layer, slot), cross_kv, cross_mask)
        return self.norm(x)

    def _self_mask(self, b: int, t: int, start: int, key_mask: torch.Tensor | None, device) -> torch.Tensor | None:
        """Boolean mask `[B or 1, 1, T, start + T]` (True = attend), or None when SDPA's own causal flag suffices."""
        if key_mask is None and (not self.causal or start == 0 or t == 1):
            return None
        total = start + t
        q_idx = torch.arange(start, total, device=device)[:, None]  # [T, 1]
        k_idx = torch.arange(total, device=device)[None, :]  # [1, start + T]
        mask = (k_idx <= q_idx) if self.causal else torch.ones(t, total, dtype=torch.bool, device=device)
        mask = mask[None, None]  # [1, 1, T, start + T]
        if key_mask is not None:  # [B, start + T]
            mask = mask & key_mask[:, None, None, :]
            mask = mask | (k_idx == q_idx)[None, None]  # a padded query still sees itself: rows stay finite
        return mask


def _append_store(layer: LayerCache, start: int, t: int) -> KVStore:
    """Write the new K/V at positions start..start+t-1 of the cache; attend over all filled ones."""

    def store(k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if start + t > layer.k.shape[2]:
            raise ValueError(f"KV cache overflow: {start + t} > {layer.k.shape[2]}")
        layer.k[:, :, start : start + t] = k
        layer.v[:, :, start : start + t] = v
        return layer.k[:, :, : start + t], layer.v[:, :, : start + t]

    return store


def _slot_store(layer: LayerCache, slot: torch.Tensor) -> KVStore:
    """Write the new K/V into cache slot `slot` (a tensor: replayable in a CUDA graph); attend over the whole cache."""

    def store(k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        layer.k.index_copy_(2, slot, k.to(layer.k.dtype))
        layer.v.index_copy_(2, slot, v.to(layer.v.dtype))
        return layer.k, layer.v

    return store
