"""CUDA graphs for the decode loop: capture one `TokenLM` step, replay it for every token.

A decode step at batch 1-2 launches a few hundred small kernels; on a GPU the launches,
not the arithmetic, set the speed. `DecodeGraph` records the step once (with
`TransformerStack.step_static`, whose shapes never change) and replays it: the token,
its rotary angles and its cache slot are copied into static input buffers first, and the
logits land in a static output buffer. Sampling stays outside the graph, so seeded
generators and per-step vocabulary ranges work as in the eager loop.

With `capture=False` the same static step runs eagerly: that is how the CPU tests check
it against the eager loop, since capture itself needs a CUDA device.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F

from v2meow.stages.transformer import KVCache


class DecodeGraph:
    """One decode step of `lm` over `cache`, captured on first call when `capture`."""

    def __init__(
        self,
        lm,
        cache: KVCache,
        rows: int,
        memory_mask: torch.Tensor | None = None,
        capture: bool = True,
        aligned: bool = False,
    ):
        dev = lm.embed.weight.device
        if capture and dev.type != "cuda":
            raise ValueError(f"CUDA graphs need a CUDA device; the model is on {dev}")
        head_dim = lm.stack.head_dim
        self.lm, self.cache, self.memory_mask, self.capture = lm, cache, memory_mask, capture
        self.ids = torch.zeros(rows, 1, dtype=torch.long, device=dev)  # [rows, 1]
        self.cos = torch.ones(1, 1, 1, head_dim, device=dev)  # [1, 1, 1, Dh]
        self.sin = torch.zeros(1, 1, 1, head_dim, device=dev)  # [1, 1, 1, Dh]
        self.slot = torch.zeros(1, dtype=torch.long, device=dev)  # [1]
        width = lm.embed.weight.shape[1]
        self.aligned = (
            torch.zeros(rows, 1, width, device=dev, dtype=lm.embed.weight.dtype) if aligned else None
        )  # [rows, 1, D]
        for layer in cache.layers:  # the static step attends over unfilled slots (masked): they must be finite
            layer.k[:, :, cache.length :].zero_()
            layer.v[:, :, cache.length :].zero_()
        self.graph: torch.cuda.CUDAGraph | None = None
        self.logits: torch.Tensor | None = None  # [rows, V], overwritten by every replay

    def __call__(
        self, ids: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, aligned: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits `[rows, V]` for tokens `ids` `[rows, 1]` at angles cos/sin `[1, 1, 1, Dh]` (plus the
        time-aligned input `[rows, 1, D]` when the graph has one); writes slot `cache.length` and
        advances it. The result is only valid until the next call."""
        if self.cache.length >= self.cache.max_len:
            raise ValueError(f"KV cache overflow: {self.cache.length + 1} > {self.cache.max_len}")
        self.ids.copy_(ids)
        self.cos.copy_(cos)
        self.sin.copy_(sin)
        self.slot.fill_(self.cache.length)
        if self.aligned is not None:
            self.aligned.copy_(aligned)
        if not self.capture:
            logits = self._step()
        else:
            if self.graph is None:
                self._capture()
            self.graph.replay()
            logits = self.logits
        self.cache.length += 1
        return logits

    def _step(self) -> torch.Tensor:
        x = self.lm.embed(self.ids)  # [rows, 1, D]
        if self.aligned is not None:
            x = x + self.aligned
        h = self.lm.stack.step_static(x, (self.cos, self.sin), self.cache, self.slot, self.memory_mask)
        return F.linear(h[:, -1], self.lm.head.weight)  # [rows, V]

    def _capture(self) -> None:
        # Autocast's weight-cast cache must be off while capturing (its casts would be freed
        # when the autocast region ends, under the graph's feet); the casts then run in the graph.
        autocast = contextlib.nullcontext()
        if torch.is_autocast_enabled("cuda"):
            autocast = torch.autocast("cuda", dtype=torch.get_autocast_dtype("cuda"), cache_enabled=False)
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with autocast, torch.cuda.stream(stream):
            for _ in range(2):  # warm-up (cuBLAS workspaces, kernel selection); rewrites the same slot
                self._step()
        torch.cuda.current_stream().wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with autocast, torch.cuda.graph(self.graph):
            self.logits = self._step()
