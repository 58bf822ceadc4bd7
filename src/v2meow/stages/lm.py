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

from v2meow.stages import layout
from v2meow.stages.conditions import Condition, Stream
from v2meow.stages.graphs import DecodeGraph
from v2meow.stages.sampling import DecodeOptions, SamplingConfig, guide, sample
from v2meow.stages.transformer import TransformerStack, rope_angles, use_decode_layout


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
    aux_loss: torch.Tensor | None = None  # [] an auxiliary objective (VMAs contrastive), unweighted


class ConditionEncoder(nn.Module):
    """Projects each named stream to width `dim`, tags it with a learned type embedding, and runs
    a bidirectional transformer over the concatenation. Positions are times in ticks
    (frame i of a stream at `rate` sits at i / rate seconds; a vector at 0), so streams at
    different rates line up. A stream can be dropped per example (replaced by a learned
    null embedding, same length) for classifier-free guidance."""

    def __init__(
        self,
        streams: list[Stream],
        dim: int,
        depth: int,
        heads: int,
        ffn: int,
        dropout: float = 0.0,
        ticks_per_second: float = 50.0,
    ):
        super().__init__()
        self.streams = streams
        self.ticks_per_second = ticks_per_second
        self.inputs = nn.ModuleDict()
        for s in streams:
            if s.kind == "tokens":
                self.inputs[s.name] = nn.Embedding(s.size, dim)
            elif s.kind in ("features", "vector"):  # (a 1-d stream skips the norm: LayerNorm(1) outputs 0)
                norm = nn.LayerNorm(s.size) if s.size > 1 else nn.Identity()
                self.inputs[s.name] = nn.Sequential(norm, nn.Linear(s.size, dim))
            elif s.kind == "embedded":
                if s.size != dim:
                    raise ValueError(f"embedded stream {s.name} has width {s.size}, the encoder {dim}")
                self.inputs[s.name] = nn.Identity()
            else:
                raise ValueError(f"unknown stream kind {s.kind}")
        self.type_embed = nn.Parameter(nn.init.normal_(torch.empty(len(streams), dim), std=0.02))
        self.null_embed = nn.Parameter(nn.init.normal_(torch.empty(len(streams), dim), std=0.02))
        self.stack = TransformerStack(dim, depth, heads, ffn, causal=False, cross=False, dropout=dropout)

    def positions(self, stream: Stream, x: torch.Tensor, rate: float | None = None) -> torch.Tensor:
        """Ticks of each position of stream input `x` -> `[B, T]` (`[B, 1]` for a vector)."""
        if stream.kind == "vector":
            return x.new_zeros(x.shape[0], 1, dtype=torch.float32)
        b, t = x.shape[:2]
        seconds = torch.arange(t, device=x.device, dtype=torch.float32) / (rate or stream.rate)
        return (seconds * self.ticks_per_second).expand(b, t)

    def forward(self, conditions: dict[str, Condition]) -> Memory:
        """Memory of `conditions` (name -> value (see Stream.kind), mask [B, T], rate when not the
        stream's declared one, drop [B]: replaced by the null embedding)."""
        unknown = sorted(set(conditions) - {s.name for s in self.streams})
        if unknown:
            raise ValueError(
                f"unknown condition stream(s) {', '.join(unknown)} (declared: {', '.join(s.name for s in self.streams)})"
            )
        parts, poss, keep = [], [], []
        for i, s in enumerate(self.streams):
            if s.name not in conditions:
                continue
            cond = conditions[s.name]
            x = cond.value
            pos = self.positions(s, x, cond.rate)
            if s.kind == "vector":
                x = x[:, None]  # [B, 1, size]
            if x.is_floating_point():
                x = x.to(self.type_embed.dtype)  # float32 inputs into a model stored in bf16
            h = self.inputs[s.name](x) + self.type_embed[i]  # [B, T, D]
            if cond.drop is not None:
                h = torch.where(cond.drop[:, None, None], self.null_embed[i] + self.type_embed[i], h)
            parts.append(h)
            poss.append(pos)
            m = cond.mask
            keep.append(m if m is not None else torch.ones(h.shape[:2], dtype=torch.bool, device=h.device))
        if not parts:
            raise ValueError("the encoder got no conditioning stream")
        x, p, m = torch.cat(parts, 1), torch.cat(poss, 1), torch.cat(keep, 1)
        states = self.stack(x, p, key_mask=None if bool(m.all()) else m)
        return Memory(states=states, pos=p, mask=m)


class TokenLM(nn.Module):
    """Causal decoder over `vocab_size` tokens, cross-attending to a `Memory` when `cross`."""

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
        aligned: torch.Tensor | None = None,  # [B, T, D] time-aligned conditioning, added to the embeddings
    ) -> torch.Tensor:
        """Logits `[B, T, vocab_size]`; with a cache, only for the new positions.

        With `last_range=(lo, hi)`, only the logits of ids lo..hi-1 at the last position,
        `[B, hi - lo]`: sampling needs no more, and the output projection is the largest
        matrix of a step when the vocabulary spans several codebooks.
        """
        x = self.embed(ids)  # [B, T, D]
        if aligned is not None:
            x = x + aligned.to(x.dtype)
        h = self.stack(
            x,
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
        *,
        sampling: SamplingConfig,
        memory: Memory | None = None,
        guided: list[tuple[Memory, float]] = (),  # (memory with a condition dropped, guidance scale) each
        aligned: torch.Tensor | None = None,  # [(1 + len(guided)) * B, P + N, D]: time-aligned inputs (aligned.py)
        options: DecodeOptions | None = None,
    ) -> torch.Tensor:
        """Sample N tokens after `prefix`; returns `[B, N]` ids.

        `aligned` holds what is added to each input's embedding: the P prefix positions, then
        the input fed at each step (new token i sits at `step_pos[i]`); its rows follow the
        batch layout below (conditional rows, then one block per guided memory).

        With `guided` memories, the conditional rows and one set of rows per guided memory
        run as one batch and their log-probabilities are mixed before sampling
        (`sampling.guide`). `options.use_cache=False` recomputes the whole sequence each
        step (for tests and benchmarks). `options.cuda_graph` replays every step after the
        prefix as one captured CUDA graph (`graphs.DecodeGraph`); on CPU it runs that same
        static step eagerly (for tests).
        """
        use_decode_layout(self)  # CPU weights column-major: faster batch-1 steps (bench/peer.py compares)
        with torch.inference_mode():
            return self._generate(
                prefix,
                prefix_pos,
                step_pos,
                step_range,
                sampling,
                memory,
                list(guided),
                aligned,
                options or DecodeOptions(),
            )

    def _generate(self, prefix, prefix_pos, step_pos, step_range, sampling, memory, guided, aligned, options):
        b, n = prefix.shape[0], step_pos.shape[0]
        groups = 1 + len(guided)  # conditional rows first, then one block of B rows per guided memory
        mem = memory if not guided else _cat_memory([memory, *(m for m, _ in guided)])
        scales = [s for _, s in guided]
        rows = groups * b
        ids = prefix.repeat(groups, 1)
        pos = prefix_pos.repeat(groups, 1)
        p = ids.shape[1]
        if aligned is not None and aligned.shape[:2] != (rows, p + n):
            raise ValueError(f"aligned must be [{rows}, {p + n}, D], got {list(aligned.shape)}")
        out = torch.empty(b, n, dtype=torch.long, device=prefix.device)
        cache = graph = None
        dev = prefix.device
        if options.use_cache:
            # Under autocast the keys/values come out in its dtype (bf16 on CUDA): store them so.
            dtype = (
                torch.get_autocast_dtype(dev.type) if torch.is_autocast_enabled(dev.type) else self.embed.weight.dtype
            )
            cache = self.stack.allocate_cache(rows, ids.shape[1] + n, dev, dtype)
            if mem is not None:
                self.stack.prepare_cross(cache, mem.states, mem.pos)
            if options.cuda_graph:
                mem_mask = None if mem is None or bool(mem.mask.all()) else mem.mask
                graph = DecodeGraph(
                    self, cache, rows, mem_mask, capture=dev.type == "cuda", aligned=aligned is not None
                )
        step_in, step_in_pos = ids, pos
        ranges = [tuple(r) for r in step_range.tolist()]
        cos, sin = rope_angles(step_pos[None], self.stack.head_dim)  # [1, 1, N, Dh]: every step's rotation, once
        for i in range(n):
            lo, hi = ranges[i]
            step_aligned = None
            if aligned is not None:
                step_aligned = aligned[:, :p] if i == 0 else aligned[:, p + i - 1 : p + i]  # what step_in gets
            if graph is not None and i > 0:
                logits = graph(step_in, cos[:, :, i - 1 : i], sin[:, :, i - 1 : i], step_aligned)[
                    :, lo:hi
                ]  # [rows, hi - lo]
            elif cache is not None:
                rope = None if i == 0 else (cos[:, :, i - 1 : i], sin[:, :, i - 1 : i])
                logits = self(
                    step_in, step_in_pos, memory=mem, cache=cache, last_range=(lo, hi), rope=rope, aligned=step_aligned
                )  # [rows, hi - lo]
            else:
                logits = self(ids, pos, memory=mem, aligned=None if aligned is None else aligned[:, : ids.shape[1]])[
                    :, -1, lo:hi
                ]
            logits = logits.float()
            if guided:
                logits = guide(logits[:b], [(logits[(g + 1) * b : (g + 2) * b], s) for g, s in enumerate(scales)])
            token = sample(logits, sampling, options.generator) + lo  # [B]
            out[:, i] = token
            step_in = token.repeat(groups)[:, None]  # [rows, 1]
            step_in_pos = step_pos[i].expand(rows, 1).to(pos.dtype)
            if cache is None:
                ids, pos = torch.cat([ids, step_in], 1), torch.cat([pos, step_in_pos], 1)
            if options.progress is not None:
                options.progress.update(1)
        return out

    def continue_codes(
        self,
        code_layout: layout.CodeLayout,  # the prefix before the codes, their codebooks and times
        prompt: torch.Tensor,  # [B, K, P] code frames already known
        num_frames: int,
        *,
        sampling: SamplingConfig,
        memory: Memory | None = None,
        guided: list[tuple[Memory, float]] = (),
        aligned_fn=None,
        options: DecodeOptions | None = None,
    ) -> torch.Tensor:
        """Continue `prompt` to `num_frames` frames of K flattened codebooks -> `[B, K, num_frames]`.

        The layout every acoustic stage shares (`layout.CodeLayout`): `[prefix ; flattened codes]`,
        codes at their frame's time, the new codes sampled from their own codebook's id range.
        `aligned_fn` maps the input positions `[1, P + N]` (ticks) to the time-aligned inputs
        (`generate`'s `aligned`), or is None.
        """
        lay = code_layout
        b, k, p = prompt.shape
        times = layout.flat_times(num_frames, k, 1.0 / lay.ticks_per_frame, prompt.device)  # [T * K] ticks
        n_prompt = p * k
        ids = torch.cat([lay.prefix, layout.flatten_codes(prompt, lay.codebook_size, lay.offset)], 1)
        pos = torch.cat([lay.prefix_pos[:, :-1], times[: n_prompt + 1].expand(b, -1)], 1)
        step_pos = torch.cat([times[n_prompt + 1 :], times[-1:]])  # a new code is fed at the next code's time
        step_range = layout.flat_ranges((num_frames - p) * k, k, lay.codebook_size, lay.offset)
        aligned = None if aligned_fn is None else aligned_fn(torch.cat([pos[:1], step_pos[None]], 1))
        new = self.generate(
            ids,
            pos,
            step_pos,
            step_range,
            sampling=sampling,
            memory=memory,
            guided=guided,
            aligned=aligned,
            options=options,
        )  # [B, (T - P) * K]
        return torch.cat([prompt, layout.unflatten_codes(new, k, lay.codebook_size, lay.offset)], dim=2)


def _cat_memory(parts: list[Memory]) -> Memory:
    """Memories of equal length stacked along the batch."""
    return Memory(
        torch.cat([m.states for m in parts]), torch.cat([m.pos for m in parts]), torch.cat([m.mask for m in parts])
    )
