"""Benchmark: the GPU decode loop — stage 2 `paper` preset at paper rates, eager vs CUDA graphs.

Four ways to run the same KV-cached decode of one 10-s window (250 semantic tokens, then
coarse tokens at 4 x 75 Hz): eager fp32, eager bf16 autocast (the pipeline's CUDA setting),
bf16 with every step replayed as a captured CUDA graph (`--cuda-graphs`), and the same with
the weights stored in bf16 (`--dtype bf16`: no per-replay weight casts). Reports tokens/s,
seconds of music per second for stage 2 (300 tokens per second of music) and the real-time
factor (compute seconds per second of music). Without a CUDA device it reports `skipped`.

Run: `.venv/bin/python bench/gpu.py`.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, median_time
from v2meow.stages.ar_coarse import Stage2, Stage2Config
from v2meow.stages.sampling import DecodeOptions, SamplingConfig, make_generator

PAPER_RATES = dict(semantic_vocab=1024, semantic_rate=25.0, codebook_size=1024, num_coarse=4, codec_rate=75.0)


def run(new_frames: int = 128, repeats: int = 5) -> dict:
    if not torch.cuda.is_available():
        return {"gpu_decode_stage2_paper": {"skipped": "no CUDA device"}}
    torch.manual_seed(0)
    model = Stage2(Stage2Config.preset("paper", **PAPER_RATES)).cuda().eval()
    semantic = torch.randint(0, 1024, (1, 250), device="cuda")
    prompt = torch.randint(0, 1024, (1, 4, 750 - new_frames), device="cuda")  # decode the window's last frames
    new_tokens = 4 * new_frames
    out = {"preset": "paper", "new_tokens": new_tokens, "device": torch.cuda.get_device_name()}
    variants = (
        ("eager_fp32", False, False, False),
        ("eager_bf16", True, False, False),
        ("cuda_graph_bf16", True, True, False),
        ("cuda_graph_bf16_weights", True, True, True),
    )
    for name, bf16, graph, bf16_weights in variants:
        model.to(torch.bfloat16 if bf16_weights else torch.float32)

        def decode(bf16=bf16, graph=graph):
            ctx = torch.autocast("cuda", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
            with ctx:
                model.generate(
                    conditions={"semantic": semantic},
                    length=750,
                    prompt=prompt,
                    sampling=SamplingConfig(temperature=0.95),
                    options=DecodeOptions(generator=make_generator(0, "cuda"), cuda_graph=graph),
                )
            torch.cuda.synchronize()

        seconds = median_time(decode, repeats=repeats)
        music_per_s = new_tokens / seconds / 300  # seconds of music (300 stage-2 tokens each) per second
        out[name] = {
            "tokens_per_s": round(new_tokens / seconds),
            "music_s_per_s": round(music_per_s, 2),
            "rtf": round(1 / music_per_s, 3),
        }
    out["graph_vs_eager_bf16_x"] = round(out["cuda_graph_bf16"]["tokens_per_s"] / out["eager_bf16"]["tokens_per_s"], 2)
    out["bf16_weights_vs_fp32_weights_graph_x"] = round(
        out["cuda_graph_bf16_weights"]["tokens_per_s"] / out["cuda_graph_bf16"]["tokens_per_s"], 2
    )
    return {"gpu_decode_stage2_paper": out, "machine": machine()}


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
