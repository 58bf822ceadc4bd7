"""Benchmark: `mel` + k-means (K=1024) semantic tokenization of 60 s of audio on one CPU core.

Reports tokens per second and x real time for the whole `encode` (16 kHz input), the
same from 44.1 kHz stereo input (downmix + soxr resampling included), and the split
between the log-mel backbone and the nearest-centroid assignment.
Run: `.venv/bin/python bench/semantic.py`.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, median_time, pin_one_core
from v2meow.tokenizers.semantic import MelBackbone, SemanticTokenizer


def music_like(seconds: float, sample_rate: int, channels: int = 1) -> torch.Tensor:
    """Chords changing every half second plus a little noise: `[C, N]`."""
    g = torch.Generator().manual_seed(0)
    n = int(seconds * sample_rate)
    t = torch.arange(n) / sample_rate
    roots = 110.0 * 2 ** (torch.randint(0, 24, (int(seconds * 2) + 1,), generator=g) / 12)
    f = roots[(t * 2).long()]  # [N]
    wav = sum(0.2 * torch.sin(2 * math.pi * f * r * t) for r in (1.0, 1.25, 1.5, 2.0))
    wav = wav + 0.01 * torch.randn(n, generator=g)
    return wav.expand(channels, n).clone()


def run(seconds: float = 60.0, k: int = 1024, repeats: int = 5) -> dict:
    pin_one_core()
    backbone = MelBackbone()
    wav16 = music_like(seconds, 16000)[0]
    wav44 = music_like(seconds, 44100, channels=2)
    feats = backbone(wav16[None])[0]  # [T, D]
    g = torch.Generator().manual_seed(0)
    centroids = feats[torch.randperm(len(feats), generator=g)[:k]]  # K real frames: realistic distances, no fit needed
    tok = SemanticTokenizer.from_backbone(
        backbone, centroids, mean=torch.zeros(backbone.dim), std=torch.ones(backbone.dim)
    )
    n_tokens = tok.encode(wav16, 16000).numel()
    t_encode = median_time(lambda: tok.encode(wav16, 16000), repeats=repeats)
    t_encode44 = median_time(lambda: tok.encode(wav44, 44100), repeats=repeats)
    t_backbone = median_time(lambda: tok.features(wav16, 16000), repeats=repeats)
    t_assign = median_time(lambda: tok.quantizer.assign(feats), repeats=repeats)
    return {
        "semantic_mel_kmeans": {
            "audio_seconds": seconds,
            "k": k,
            "dim": backbone.dim,
            "tokens": n_tokens,
            "frame_rate_hz": tok.frame_rate,
            "encode_wall_s": round(t_encode, 4),
            "tokens_per_s_one_core": round(n_tokens / t_encode),
            "x_real_time_one_core": round(seconds / t_encode, 1),
            "encode_from_44k_stereo_x_real_time": round(seconds / t_encode44, 1),
            "backbone_share": round(t_backbone / t_encode, 2),
            "assign_share": round(t_assign / t_encode, 2),
            "repeats": repeats,
        },
        "machine": machine(),
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
