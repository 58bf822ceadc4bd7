"""Benchmark: acoustic codec encode / decode speed on one CPU core, 10 s of 24 kHz audio.

Reports x real time and tokens per second (frames x codebooks) for the SoundStream
`small` preset (the demo-size codec; random weights: speed does not depend on them) and,
for scale, the EnCodec 24 kHz architecture at 6 kbps (random weights too).
Run: `.venv/bin/python bench/codec.py`.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, median_time, pin_one_core  # noqa: E402

from v2meow.tokenizers.acoustic import AcousticCodec, EncodecCodec, EncodecCodecConfig, SoundStream  # noqa: E402


def music_like(seconds: float, sample_rate: int) -> torch.Tensor:
    """Chords changing every half second plus a little noise: `[1, N]`."""
    g = torch.Generator().manual_seed(0)
    n = int(seconds * sample_rate)
    t = torch.arange(n) / sample_rate
    roots = 110.0 * 2 ** (torch.randint(0, 24, (int(seconds * 2) + 1,), generator=g) / 12)
    f = roots[(t * 2).long()]
    wav = sum(0.2 * torch.sin(2 * math.pi * f * r * t) for r in (1.0, 1.25, 1.5, 2.0))
    return (wav + 0.01 * torch.randn(n, generator=g))[None]


def measure(codec: AcousticCodec, seconds: float, repeats: int) -> dict:
    wav = music_like(seconds, codec.sample_rate)
    with torch.inference_mode():
        codes = codec.encode(wav)  # [K, T]
        t_enc = median_time(lambda: codec.encode(wav), repeats=repeats)
        t_dec = median_time(lambda: codec.decode(codes), repeats=repeats)
    n_params = sum(p.numel() for p in codec.parameters())
    return {
        "audio_seconds": seconds,
        "sample_rate": codec.sample_rate,
        "frame_rate_hz": codec.frame_rate,
        "codebooks": codec.num_codebooks,
        "params_m": round(n_params / 1e6, 2),
        "encode_wall_s": round(t_enc, 3),
        "decode_wall_s": round(t_dec, 3),
        "encode_x_real_time_one_core": round(seconds / t_enc, 1),
        "decode_x_real_time_one_core": round(seconds / t_dec, 1),
        "encode_tokens_per_s_one_core": round(codes.numel() / t_enc),
        "repeats": repeats,
    }


def run(seconds: float = 10.0, repeats: int = 5) -> dict:
    pin_one_core()
    torch.manual_seed(0)
    soundstream = SoundStream.from_preset("small").eval()
    with torch.no_grad():  # one forward pass initialises the k-means codebooks
        soundstream(music_like(1.0, soundstream.sample_rate)[None].repeat(8, 1, 1))
    encodec = EncodecCodec(EncodecCodecConfig(bandwidth=6.0)).eval()
    return {
        "codec_soundstream_small": measure(soundstream, seconds, repeats),
        "codec_encodec_24khz_arch": measure(encodec, seconds, repeats),
        "machine": machine(),
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
