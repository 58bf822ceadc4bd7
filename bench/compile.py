"""Benchmark: does `torch.compile` speed up the CPU decode step? (It does not; see docs/benchmarks.md.)

Stage 2 `small` at paper rates, one pinned core, a 250-token prefix then 300 steps into a
600-slot cache: the eager KV-cached step that `generate` uses on CPU, the fixed-shape step
(`TransformerStack.step_static`, the one CUDA graphs capture) eager, and that step under
`torch.compile` (inductor), without and with inductor's weight `freezing`. The variants run
in interleaved rounds of 50 steps (median per-step time over 6 rounds); compile time
(first call, inductor's on-disk cache included) is reported apart.

Run: `.venv/bin/python bench/compile.py`.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, pin_one_core
from v2meow.stages.ar_coarse import Stage2, Stage2Config
from v2meow.stages.graphs import DecodeGraph
from v2meow.stages.transformer import rope_angles, use_decode_layout

PREFIX, ROUNDS, STEPS, SLOTS = 250, 6, 50, 600


class _Eager:
    """The KV-cached step `generate` runs on CPU."""

    def __init__(self, lm, cos, sin):
        self.lm, self.cos, self.sin = lm, cos, sin
        self.cache = _prefilled(lm)

    def __call__(self) -> None:
        i = self.cache.length
        self.lm(
            torch.zeros(1, 1, dtype=torch.long),
            torch.full((1, 1), float(i)),
            cache=self.cache,
            last_range=(0, 1024),
            rope=(self.cos[:, :, i : i + 1], self.sin[:, :, i : i + 1]),
        )


class _Static:
    """The fixed-shape step, eager or under `torch.compile`."""

    def __init__(self, lm, cos, sin, compile_options: dict | None = None):
        self.cos, self.sin = cos, sin
        self.step = DecodeGraph(lm, _prefilled(lm), rows=1, capture=False)
        if compile_options is not None:
            self.step._step = torch.compile(self.step._step, dynamic=False, options=compile_options)

    def __call__(self) -> None:
        i = self.step.cache.length
        self.step(torch.zeros(1, 1, dtype=torch.long), self.cos[:, :, i : i + 1], self.sin[:, :, i : i + 1])


def _prefilled(lm):
    cache = lm.stack.allocate_cache(1, SLOTS, "cpu", torch.float32)
    lm(torch.zeros(1, PREFIX, dtype=torch.long), torch.arange(float(PREFIX))[None], cache=cache)
    return cache


def run() -> dict:
    pin_one_core()
    torch.manual_seed(0)
    stage = Stage2(
        Stage2Config.preset(
            "small", semantic_vocab=1024, semantic_rate=25.0, codebook_size=1024, num_coarse=4, codec_rate=75.0
        )
    )
    lm = stage.decoder.eval()
    use_decode_layout(lm)
    cos, sin = rope_angles(torch.arange(float(SLOTS))[None], lm.stack.head_dim)  # [1, 1, SLOTS, Dh]
    compile_s = {}
    with torch.inference_mode():
        steppers = {"eager_kv_cached": _Eager(lm, cos, sin), "static_eager": _Static(lm, cos, sin)}
        for name, options in (("static_compiled", {}), ("static_compiled_frozen", {"freezing": True})):
            t = time.perf_counter()
            steppers[name] = _Static(lm, cos, sin, options)
            steppers[name]()  # compiles
            compile_s[name] = round(time.perf_counter() - t, 1)
        for s in steppers.values():  # the same cache length everywhere
            while (s.cache if isinstance(s, _Eager) else s.step.cache).length < PREFIX + 1:
                s()
        times: dict[str, list[float]] = {name: [] for name in steppers}
        for _ in range(ROUNDS):  # rounds interleave the variants, so machine drift hits all alike
            for name, s in steppers.items():
                t = time.perf_counter()
                for _ in range(STEPS):
                    s()
                times[name].append((time.perf_counter() - t) / STEPS * 1000)
    out = {f"{name}_ms_per_step": round(statistics.median(v), 3) for name, v in times.items()}
    out.update({f"{name}_compile_s": v for name, v in compile_s.items()})
    out["compiled_vs_eager_x"] = round(out["eager_kv_cached_ms_per_step"] / out["static_compiled_ms_per_step"], 2)
    return {"torch_compile_cpu_decode_step": out, "machine": machine()}


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
