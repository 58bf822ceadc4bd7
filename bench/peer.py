"""Benchmark: v2meow's stage-2 decoder `generate` vs transformers' `MusicgenForCausalLM.generate`.

Same width, depth, heads, FFN, vocabulary, prompt and number of new tokens; random weights;
float32; one pinned core; KV caches on both sides; sampling with temperature 1. The two
alternate run by run and the ratio is the median of per-run ratios (robust to machine drift). MusicGen
runs with one codebook so that both produce one token per forward step (v2meow flattens
its codebooks). Target (issue 9): v2meow >= 1.5x the tokens/s of the peer.

Run: `.venv/bin/python bench/peer.py`.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from unittest import mock

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, paired_times, pin_one_core
from v2meow.stages import lm
from v2meow.stages.ar_coarse import Stage2, Stage2Config
from v2meow.stages.sampling import DecodeOptions, SamplingConfig, make_generator, sample


def decode_step_parts(stage: Stage2, semantic: torch.Tensor, frames: int, repeats: int) -> dict:
    """The two CPU changes in the decode loop, each against what it replaced, paired:

    - the same `generate` with the weights column-major (`use_decode_layout`, the default)
      vs left row-major (PyTorch's default order), on a copy of the model;
    - one draw from 1,024 ids: `torch.multinomial` vs the inverse-CDF `sample`.
    """
    row_major = copy.deepcopy(stage)  # (a deep copy keeps each tensor's memory order)
    with torch.no_grad():
        for m in row_major.modules():
            if isinstance(m, torch.nn.Linear):
                m.weight.data = m.weight.data.contiguous()

    def gen(model, layout=True):
        def run():
            with mock.patch.object(lm, "use_decode_layout", lm.use_decode_layout if layout else (lambda module: None)):
                return model.generate(
                    conditions={"semantic": semantic},
                    length=frames,
                    sampling=SamplingConfig(temperature=1.0),
                    options=DecodeOptions(generator=make_generator(0)),
                )

        return run

    t_col, t_row, layout_x = paired_times(gen(stage), gen(row_major, layout=False), repeats=repeats)
    logits = torch.randn(1, 1024)
    g = make_generator(0)

    def draws(fn):
        return lambda: [fn() for _ in range(2000)]

    multinomial = draws(lambda: torch.multinomial((logits / 0.95).softmax(-1), 1, generator=g))
    inverse_cdf = draws(lambda: sample(logits, SamplingConfig(temperature=0.95), g))
    t_inv, t_mult, sampler_x = paired_times(inverse_cdf, multinomial, repeats=repeats)
    tokens = frames * stage.config.num_coarse
    return {
        "row_major_tokens_per_s": round(tokens / t_row, 1),
        "column_major_tokens_per_s": round(tokens / t_col, 1),
        "column_major_x": round(layout_x, 2),
        "multinomial_us": round(t_mult / 2000 * 1e6, 1),
        "inverse_cdf_us": round(t_inv / 2000 * 1e6, 1),
        "inverse_cdf_x": round(sampler_x, 2),
    }


def run(prompt: int = 250, new: int = 250, repeats: int = 7) -> dict:
    from transformers import MusicgenDecoderConfig, MusicgenForCausalLM
    from transformers.utils import logging

    logging.set_verbosity_error()  # generate() warns on every call that min_new_tokens wins over min_length
    pin_one_core()
    torch.manual_seed(0)
    ours = Stage2(
        Stage2Config.preset(
            "small", semantic_vocab=1024, semantic_rate=25.0, codebook_size=1024, num_coarse=4, codec_rate=75.0
        )
    ).eval()
    c = ours.config
    vocab = ours.decoder.vocab_size
    peer_cfg = MusicgenDecoderConfig(
        vocab_size=vocab,
        hidden_size=c.dim,
        num_hidden_layers=c.depth,
        num_attention_heads=c.heads,
        ffn_dim=c.ffn,
        num_codebooks=1,
        max_position_embeddings=4096,
        pad_token_id=vocab - 1,
        bos_token_id=vocab - 1,
        dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
    )
    peer = MusicgenForCausalLM(peer_cfg).eval()
    peer.generation_config.decoder_start_token_id = vocab - 1
    peer.generation_config.pad_token_id = vocab - 1
    semantic = torch.randint(0, 1024, (1, prompt - 1))
    frames = new // 4

    def v2meow():
        return ours.generate(
            conditions={"semantic": semantic},
            length=frames,
            sampling=SamplingConfig(temperature=1.0),
            options=DecodeOptions(generator=make_generator(0)),
        )

    ids = torch.randint(0, vocab - 1, (1, prompt))  # MusicGen input_ids: [B * num_codebooks, T]

    def musicgen():
        with torch.inference_mode():
            return peer.generate(
                input_ids=ids,
                max_new_tokens=new,
                min_new_tokens=new,
                do_sample=True,
                temperature=1.0,
                top_k=0,
                guidance_scale=None,
                num_return_sequences=1,
                num_beams=1,
            )

    t_ours, t_peer, ratio = paired_times(v2meow, musicgen, repeats=repeats)
    parts = decode_step_parts(ours, semantic, frames, repeats)
    return {
        "peer_musicgen": {
            "width": c.dim,
            "depth": c.depth,
            "heads": c.heads,
            "ffn": c.ffn,
            "vocab": vocab,
            "prompt_tokens": prompt,
            "new_tokens": new,
            "v2meow_tokens_per_s": round(new / t_ours, 1),
            "musicgen_tokens_per_s": round(new / t_peer, 1),
            "ratio_x": round(ratio, 2),
            "target_ratio_x": 1.5,
        },
        "decode_step_parts": parts,
        "machine": machine(),
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
