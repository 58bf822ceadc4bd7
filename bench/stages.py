"""Benchmark: KV-cached vs full-recomputation sampling, stage 2 at paper rates (one core).

A 10-s stage-2 window at paper rates holds 250 semantic tokens (25 Hz) and 3,000 coarse
tokens (75 Hz x 4 codebooks). Both paths sample the last `new_tokens` coarse tokens of
that window after the same prompt; the cached path includes its prefill. Also reports
training tokens/s per stage (forward + backward, `small` preset).

Run: `.venv/bin/python bench/stages.py`.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, median_time, pin_one_core
from v2meow.stages.ar_coarse import Stage2, Stage2Config
from v2meow.stages.ar_fine import Stage3, Stage3Config
from v2meow.stages.ar_semantic import Stage1, Stage1Config
from v2meow.stages.sampling import DecodeOptions, SamplingConfig, make_generator

PAPER_RATES = dict(semantic_vocab=1024, semantic_rate=25.0, codebook_size=1024, num_coarse=4, codec_rate=75.0)


def kv_cache(preset: str = "small", new_tokens: int = 32, repeats: int = 5) -> dict:
    torch.manual_seed(0)
    model = Stage2(Stage2Config.preset(preset, **PAPER_RATES)).eval()
    frames = 750 - new_tokens // 4
    semantic = torch.randint(0, 1024, (1, 250))
    prompt = torch.randint(0, 1024, (1, 4, frames))
    s = SamplingConfig(temperature=0.95)

    def run(cache: bool):
        return model.generate(
            conditions={"semantic": semantic},
            length=750,
            prompt=prompt,
            sampling=s,
            options=DecodeOptions(generator=make_generator(0), use_cache=cache),
        )

    cached = median_time(lambda: run(True), repeats=repeats)
    full = median_time(lambda: run(False), repeats=repeats)
    assert torch.equal(run(True), run(False))
    return {
        "preset": preset,
        "sequence_tokens": 250 + 3000,
        "new_tokens": new_tokens,
        "cached_s": round(cached, 3),
        "recompute_s": round(full, 3),
        "speedup_x": round(full / cached, 1),
        "target_speedup_x": 10,
    }


def training_throughput(preset: str = "small", batch: int = 4, repeats: int = 5) -> dict:
    torch.manual_seed(0)
    out = {}
    b = batch
    cases = {
        "stage1": (
            Stage1(
                Stage1Config.preset(preset, feature_dim=16, feature_rate=10.0, semantic_vocab=1024, semantic_rate=25.0)
            ),
            dict(semantic=torch.randint(0, 1024, (b, 250)), conditions={"visual": torch.randn(b, 100, 16)}),
        ),
        "stage2": (
            Stage2(Stage2Config.preset(preset, **PAPER_RATES)),
            dict(semantic=torch.randint(0, 1024, (b, 250)), coarse=torch.randint(0, 1024, (b, 4, 750))),
        ),
        "stage3": (
            Stage3(Stage3Config.preset(preset, codebook_size=1024, num_coarse=4, num_fine=4, codec_rate=75.0)),
            dict(coarse=torch.randint(0, 1024, (b, 4, 225)), fine=torch.randint(0, 1024, (b, 4, 225))),
        ),
    }
    for name, (model, inputs) in cases.items():
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

        def step(model=model, inputs=inputs, opt=opt):
            o = model(**inputs)
            loss = F.cross_entropy(o.logits.flatten(0, 1), o.targets.flatten())
            opt.zero_grad()
            loss.backward()
            opt.step()
            return o.targets.numel()

        tokens = step()
        seconds = median_time(step, repeats=repeats)
        out[name] = {
            "preset": preset,
            "batch": b,
            "target_tokens_per_step": tokens,
            "tokens_per_s": round(tokens / seconds),
        }
    return out


def run() -> dict:
    pin_one_core()
    t = time.time()
    result = {"kv_cache_stage2_paper_rates": kv_cache(), "training_tokens_per_s_one_core": training_throughput()}
    result["machine"] = machine()
    result["machine"]["bench_stages_wall_s"] = round(time.time() - t, 1)
    return result


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
