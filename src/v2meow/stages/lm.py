"""A conditional token language model: the building block of every stage.

`ConditionEncoder` turns conditioning streams (continuous features at some rate, discrete
tokens at some rate, one style vector) into a memory sequence with times; `TokenLM` is a
causal decoder over a joint token vocabulary that optionally cross-attends to that memory.
`TokenLM.generate` is the KV-cached sampling loop, with classifier-free guidance done as
one batched pass over [conditional ; unconditional] rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from v2meow.stages.graphs import DecodeGraph
from v2meow.stages.sampling import SamplingConfig, guide, sample
from v2meow.stages.transformer import TransformerStack, rope_angles, use_decode_layout


@dataclass
class Stream:
    """One conditioning stream of the encoder."""

    name: str
    kind: str  # "features" ([B, T, dim] at `rate`), "tokens" ([B, T] ids < vocab at `rate`), "vector" ([B, dim]),
    #            "embedded" ([B, T, width] already projected by a front-end: no input projection)
    size: int  # feature dim, or vocabulary size for tokens


@dataclass
class Memory:
    """Encoder output, ready for cross-attention."""

    states: torch.Tensor  # [B, S, D]
    pos: torch.Tensor  # [B, S] ticks
    mask: torch.Tensor  # [B, S] bool, True = real position


@dataclass
class LMOutput:
    """What a stage's forward returns for training."""

    logits: torch.Tensor  # [B, T, V]
    targets: torch.Tensor  # [B, T] next-token ids
    mask: torch.Tensor  # [B, T] bool: which targets count in the loss
    memory: Memory | None = None
    aux_loss: torch.Tensor | None = None  # [] an auxiliary objective (VMAs contrastive), unweighted


class ConditionEncoder(nn.Module):
    """Projects each stream to width `dim`, tags it with a learned type embedding, and runs a
    bidirectional transformer over the concatenation. Positions are times in ticks, so
    streams at different rates line up. A stream can be dropped per example (replaced by a
    learned null embedding, same length) for classifier-free guidance."""

    def __init__(self, streams: list[Stream], dim: int, depth: int, heads: int, ffn: int, dropout: float = 0.0):
        super().__init__()
        self.streams = streams
        self.inputs = nn.ModuleDict()
        for s in streams:
            if s.kind == "tokens":
                self.inputs[s.name] = nn.Embedding(s.size, dim)
            elif s.kind in ("features", "vector"):
                self.inputs[s.name] = nn.Sequential(nn.LayerNorm(s.size), nn.Linear(s.size, dim))
            elif s.kind == "embedded":
                if s.size != dim:
                    raise ValueError(f"embedded stream {s.name} has width {s.size}, the encoder {dim}")
                self.inputs[s.name] = nn.Identity()
            else:
                raise ValueError(f"unknown stream kind {s.kind}")
        self.type_embed = nn.Parameter(torch.randn(len(streams), dim) * 0.02)
        self.null_embed = nn.Parameter(torch.randn(len(streams), dim) * 0.02)
        self.stack = TransformerStack(dim, depth, heads, ffn, causal=False, cross=False, dropout=dropout)

    def forward(
        self,
        inputs: dict[str, torch.Tensor],
        pos: dict[str, torch.Tensor],  # name -> [B, T] ticks (vectors: [B, 1])
        masks: dict[str, torch.Tensor] | None = None,  # name -> [B, T] bool
        drop: dict[str, torch.Tensor] | None = None,  # name -> [B] bool: replace by null
    ) -> Memory:
        parts, poss, keep = [], [], []
        for i, s in enumerate(self.streams):
            if s.name not in inputs:
                continue
            x = inputs[s.name]
            if s.kind == "vector":
                x = x[:, None]  # [B, 1, size]
            h = self.inputs[s.name](x) + self.type_embed[i]  # [B, T, D]
            if drop is not None and s.name in drop:
                h = torch.where(drop[s.name][:, None, None], self.null_embed[i] + self.type_embed[i], h)
            parts.append(h)
            poss.append(pos[s.name].float())
            m = masks.get(s.name) if masks else None
            keep.append(m if m is not None else torch.ones(h.shape[:2], dtype=torch.bool, device=h.device))
        if not parts:
            raise ValueError("the encoder got no conditioning stream")
        x, p, m = torch.cat(parts, 1), torch.cat(poss, 1), torch.cat(keep, 1)
        states = self.stack(x, p, key_mask=None if bool(m.all()) else m)
        return Memory(states=states, pos=p, mask=m)


class TokenLM(nn.Module):
    """Causal decoder over `vocab_size` tokens, cross-attending to a `Memory` when `cross`."""

    #: On CPU, `generate` first stores the weights column-major (`use_decode_layout`), which
    #: makes batch-1 steps faster; False keeps their memory order (bench/peer.py compares both).
    column_major_decode: bool = True

    def __init__(self, vocab_size: int, dim: int, depth: int, heads: int, ffn: int, cross: bool, dropout: float = 0.0):
        super().__init__()
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size, dim)
        self.stack = TransformerStack(dim, depth, heads, ffn, causal=True, cross=cross, dropout=dropout)
        self.head = nn.Linear(dim, vocab_size, bias=False)

    def forward(
        self,
        ids: torch.Tensor,  # [B, T]
        pos: torch.Tensor,  # [B, T] ticks
        memory: Memory | None = None,
        key_mask: torch.Tensor | None = None,  # [B, T] bool
        cache=None,
        last_range: tuple[int, int] | None = None,
        rope: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Logits `[B, T, vocab_size]`; with a cache, only for the new positions.

        With `last_range=(lo, hi)`, only the logits of ids lo..hi-1 at the last position,
        `[B, hi - lo]`: sampling needs no more, and the output projection is the largest
        matrix of a step when the vocabulary spans several codebooks.
        """
        h = self.stack(
            self.embed(ids),
            pos,
            key_mask=key_mask,
            memory=None if memory is None else memory.states,
            memory_pos=None if memory is None else memory.pos,
            memory_mask=None if memory is None or bool(memory.mask.all()) else memory.mask,
            cache=cache,
            rope=rope,
        )
        if last_range is not None:
            lo, hi = last_range
            return F.linear(h[:, -1], self.head.weight[lo:hi])  # [B, hi - lo]
        return self.head(h)

    def generate(
        self,
        prefix: torch.Tensor,  # [B, P] ids (P >= 1)
        prefix_pos: torch.Tensor,  # [B, P] ticks
        step_pos: torch.Tensor,  # [N] ticks of each new token
        step_range: torch.Tensor,  # [N, 2] allowed id range [lo, hi) of each new token
        sampling: SamplingConfig,
        memory: Memory | None = None,
        uncond_memory: Memory | None = None,
        generator: torch.Generator | None = None,
        use_cache: bool = True,
        progress=None,
        cuda_graph: bool = False,
    ) -> torch.Tensor:
        """Sample N tokens after `prefix`; returns `[B, N]` ids.

        With `sampling.cfg_scale != 1` and an `uncond_memory`, conditional and unconditional
        rows run as one batch of 2B and their log-probabilities are mixed before sampling.
        `use_cache=False` recomputes the whole sequence each step (for tests and benchmarks).
        `cuda_graph=True` replays every step after the prefix as one captured CUDA graph
        (`graphs.DecodeGraph`); on CPU it runs that same static step eagerly (for tests).
        """
        if self.column_major_decode:
            use_decode_layout(self)  # CPU weights only
        with torch.inference_mode():
            return self._generate(prefix, prefix_pos, step_pos, step_range, sampling, memory, uncond_memory, generator,
                                  use_cache, progress, cuda_graph)  # fmt: skip

    def _generate(self, prefix, prefix_pos, step_pos, step_range, sampling, memory, uncond_memory, generator, use_cache, progress, cuda_graph):
        b, n = prefix.shape[0], step_pos.shape[0]
        cfg = sampling.uses_cfg and uncond_memory is not None
        mem = _cat_memory(memory, uncond_memory) if cfg else memory
        rows = 2 * b if cfg else b
        ids = prefix.repeat(2, 1) if cfg else prefix
        pos = prefix_pos.repeat(2, 1) if cfg else prefix_pos
        out = torch.empty(b, n, dtype=torch.long, device=prefix.device)
        cache = graph = None
        dev = prefix.device
        if use_cache:
            # Under autocast the keys/values come out in its dtype (bf16 on CUDA): store them so.
            dtype = torch.get_autocast_dtype(dev.type) if torch.is_autocast_enabled(dev.type) else self.embed.weight.dtype
            cache = self.stack.allocate_cache(rows, ids.shape[1] + n, dev, dtype)
            if mem is not None:
                self.stack.prepare_cross(cache, mem.states, mem.pos)
            if cuda_graph:
                mem_mask = None if mem is None or bool(mem.mask.all()) else mem.mask
                graph = DecodeGraph(self, cache, rows, mem_mask, capture=dev.type == "cuda")
        step_in, step_in_pos = ids, pos
        ranges = [tuple(r) for r in step_range.tolist()]
        cos, sin = rope_angles(step_pos[None], self.stack.head_dim)  # [1, 1, N, Dh]: every step's rotation, once
        for i in range(n):
            lo, hi = ranges[i]
            if graph is not None and i > 0:
                logits = graph(step_in, cos[:, :, i - 1 : i], sin[:, :, i - 1 : i])[:, lo:hi]  # [rows, hi - lo]
            elif use_cache:
                rope = None if i == 0 else (cos[:, :, i - 1 : i], sin[:, :, i - 1 : i])
                logits = self(step_in, step_in_pos, memory=mem, cache=cache, last_range=(lo, hi), rope=rope)  # [rows, hi - lo]
            else:
                logits = self(ids, pos, memory=mem)[:, -1, lo:hi]
            logits = logits.float()
            if cfg:
                logits = guide(logits[:b], logits[b:], sampling.cfg_scale)
            token = sample(logits, sampling, generator) + lo  # [B]
            out[:, i] = token
            step_in = (token.repeat(2) if cfg else token)[:, None]  # [rows, 1]
            step_in_pos = step_pos[i].expand(rows, 1).to(pos.dtype)
            if not use_cache:
                ids, pos = torch.cat([ids, step_in], 1), torch.cat([pos, step_in_pos], 1)
            if progress is not None:
                progress.update(1)
        return out

    def continue_codes(
        self,
        prefix: torch.Tensor,  # [B, P0] ids before the codes (its last id sits at the first code's time)
        prefix_pos: torch.Tensor,  # [B, P0] ticks
        prompt: torch.Tensor,  # [B, K, P] code frames already known
        num_frames: int,
        codebook_size: int,
        offset: int,
        ticks_per_frame: float,
        sampling: SamplingConfig,
        **generate_kwargs,
    ) -> torch.Tensor:
        """Continue `prompt` to `num_frames` frames of K flattened codebooks -> `[B, K, num_frames]`.

        The layout every acoustic stage shares: `[prefix ; flattened codes]`, codes at their
        frame's time, the new codes sampled from their own codebook's id range.
        """
        from v2meow.stages import layout

        b, k, p = prompt.shape
        times = layout.flat_times(num_frames, k, 1.0 / ticks_per_frame, prompt.device)  # [T * K] ticks
        n_prompt = p * k
        ids = torch.cat([prefix, layout.flatten_codes(prompt, codebook_size, offset)], 1)
        pos = torch.cat([prefix_pos[:, :-1], times[: n_prompt + 1].expand(b, -1)], 1)
        step_pos = torch.cat([times[n_prompt + 1 :], times[-1:]])  # a new code is fed at the next code's time
        step_range = layout.flat_ranges((num_frames - p) * k, k, codebook_size, offset)
        new = self.generate(ids, pos, step_pos, step_range, sampling, **generate_kwargs)  # [B, (T - P) * K]
        return torch.cat([prompt, layout.unflatten_codes(new, k, codebook_size, offset)], dim=2)


def _cat_memory(a: Memory, b: Memory) -> Memory:
    return Memory(torch.cat([a.states, b.states]), torch.cat([a.pos, b.pos]), torch.cat([a.mask, b.mask]))
