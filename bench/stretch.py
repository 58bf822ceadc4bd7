"""Benchmark: the tempo augmentation of `v2meow-prepare --stretch` and the cost of `--rhythm`, on one core.

1. Phase-vocoder speed (`signal.stretch.time_stretch`): x real time (input seconds per wall
   second) on 30 s of mono 24 kHz (the demo clips' rate) and stereo 44.1 kHz music-like audio.
2. Tempo after stretching, measured with `signal.rhythm.music_rhythm(...).tempo` and reported
   as the octave-folded deviation |log2(x) - round(log2(x))| of x = est / (true * r)
   (0: the tempo moved by exactly r, or an octave of it; ~0.25: chance):
   - click tracks at 70..160 BPM (true = the click tempo);
   - the held-out demo clips (ufoai, `data/demo/clips`; true = the tempo estimated on the
     unstretched clip, so this isolates what the stretch does to the estimate), next to a
     control: the same speed change made by resampling (events exactly r times earlier, pitch
     moved), which shows how much of the deviation is the tempo estimator's own instability.
3. `prepare` wall time per 30-s audio clip with the weight-free components (mel + k-means
   tokens, SoundStream `small`), plain vs `--rhythm` vs `--stretch 0.8,0.9,1.1,1.25 --rhythm`.

Run: `.venv/bin/python bench/stretch.py [--demo data/demo]`.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import soundfile as sf
import torch

from common import machine, median_time, pin_one_core
from v2meow import media
from v2meow.signal.rhythm import music_pulses, music_rhythm
from v2meow.signal.stretch import time_stretch

FACTORS = (0.8, 0.9, 1.1, 1.25)
BPMS = (70, 88, 105, 120, 140, 160)


def folded(x: float) -> float:
    """Octave-folded deviation of a tempo ratio."""
    v = math.log2(x)
    return abs(v - round(v))


def music_like(seconds: float, sample_rate: int, channels: int) -> torch.Tensor:
    """Chords changing every half second plus a little noise: `[C, N]`."""
    g = torch.Generator().manual_seed(0)
    n = int(seconds * sample_rate)
    t = torch.arange(n) / sample_rate
    roots = 110.0 * 2 ** (torch.randint(0, 24, (int(seconds * 2) + 1,), generator=g) / 12)
    f = roots[(t * 2).long()]
    wav = sum(0.2 * torch.sin(2 * math.pi * f * r * t) for r in (1.0, 1.25, 1.5, 2.0))
    return torch.stack([wav + 0.01 * torch.randn(n, generator=g) for _ in range(channels)])


def clicks(bpm: float, seconds: float, sr: int) -> np.ndarray:
    n = round(seconds * sr)
    wav = 1e-3 * np.random.default_rng(0).standard_normal(n)
    tt = np.arange(round(0.03 * sr)) / sr
    click = 0.8 * np.sin(2 * np.pi * 1500 * tt) * np.exp(-tt / 0.006)
    for start in np.arange(0.25, seconds - 0.05, 60.0 / bpm):
        i = round(start * sr)
        seg = wav[i : i + click.size]
        seg += click[: seg.size]
    return wav.astype(np.float32)


def speed() -> dict:
    out = {}
    for name, sr, ch in (("mono_24k", 24_000, 1), ("stereo_44k", 44_100, 2)):
        x = music_like(30.0, sr, ch)
        t = median_time(lambda x=x, sr=sr: time_stretch(x, sr, 1.1), repeats=3)
        out[f"x_real_time_{name}"] = round(30.0 / t, 1)
    x = music_like(30.0, 24_000, 1)[0].numpy()
    t = median_time(lambda: music_pulses(x, 24_000, 750, 25.0), repeats=3)
    out["rhythm_pulses_x_real_time_mono_24k"] = round(30.0 / t, 1)
    return out


def click_tempo() -> dict:
    devs = []
    for bpm in BPMS:
        wav = torch.from_numpy(clicks(bpm, 20.0, 24_000))
        for r in FACTORS:
            est = music_rhythm(time_stretch(wav, 24_000, r).numpy(), 24_000).tempo
            devs.append(folded(est / (bpm * r)) if est else 0.5)
    return {
        "click_pairs": len(devs),
        "click_median_dev": round(statistics.median(devs), 4),
        "click_max_dev": round(max(devs), 4),
    }


def clip_tempo(demo: Path, max_clips: int) -> dict:
    meta = json.loads((demo / "clips.json").read_text())
    clips = [c for c in meta["clips"] if c["split"] == "eval"][:max_clips]
    devs, control, base_missing = [], [], 0
    for c in clips:
        wav, sr = media.read_audio(demo / c["path"], channels=1)  # [1, N]
        est0 = music_rhythm(wav[0].numpy(), sr).tempo
        if not est0:
            base_missing += 1
            continue
        for r in FACTORS:
            est = music_rhythm(time_stretch(wav[0], sr, r).numpy(), sr).tempo
            devs.append(folded(est / (est0 * r)) if est else 0.5)
            # control: a speed change by resampling (every event exactly r times earlier, pitch moved too)
            fast = media.resample(wav.numpy(), round(sr * r), sr)[0]  # [N / r]
            est = music_rhythm(fast, sr).tempo
            control.append(folded(est / (est0 * r)) if est else 0.5)
    if not devs:
        return {}

    def summary(d):
        return {
            "median_dev": round(statistics.median(d), 4),
            "mean_dev": round(statistics.mean(d), 4),
            "frac_dev_below_0.05": round(sum(x < 0.05 for x in d) / len(d), 3),
        }

    return {
        "clips": len(clips),
        "clip_pairs": len(devs),
        "clips_without_tempo": base_missing,
        **{f"clip_{k}": v for k, v in summary(devs).items()},
        **{f"clip_resample_control_{k}": v for k, v in summary(control).items()},
    }


def prepare_cost() -> dict:
    from v2meow.data.prepare import PrepareConfig, prepare
    from v2meow.tokenizers.acoustic import SoundStream, SoundStreamConfig
    from v2meow.tokenizers.semantic import MelBackbone, SemanticTokenizer

    out = {}
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        g = torch.Generator().manual_seed(0)
        SemanticTokenizer.from_backbone(
            MelBackbone(), centroids=torch.randn(1024, 128, generator=g), mean=torch.zeros(128), std=torch.ones(128)
        ).save_pretrained(root / "semantic")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            SoundStream(SoundStreamConfig.from_preset("small", kmeans_init=False)).save_pretrained(root / "codec")
        (root / "in").mkdir()
        sf.write(str(root / "in" / "music.wav"), music_like(60.0, 24_000, 1)[0].numpy(), 24_000)  # two 30-s clips
        variants = {"plain": {}, "rhythm": {"rhythm": True}, "stretch4_rhythm": {"rhythm": True, "stretch": FACTORS}}
        for name, kw in variants.items():
            cfg = PrepareConfig(
                features="none", semantic=str(root / "semantic"), codec=str(root / "codec"), threads=1, **kw
            )
            prepare(root / "in", root / f"warm-{name}", cfg, progress=False)  # loads the components once
            t0 = time.perf_counter()
            report = prepare(root / "in", root / name, cfg, progress=False)
            out[f"prepare_s_per_clip_{name}"] = round((time.perf_counter() - t0) / 2, 2)
            out[f"prepare_items_{name}"] = report.new_items
    return out


def run(demo: str = "data/demo", max_clips: int = 12, parts: str = "speed,clicks,clips,prepare") -> dict:
    pin_one_core()
    result = {"torch_threads": torch.get_num_threads()}
    if "speed" in parts:
        result.update(speed())
    if "clicks" in parts:
        result.update(click_tempo())
    if "clips" in parts and (Path(demo) / "clips.json").is_file():
        result.update(clip_tempo(Path(demo), max_clips))
    if "prepare" in parts:
        result.update(prepare_cost())
    return {"stretch": result, "machine": machine()}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demo", default="data/demo", help="demo data folder (clips.json; default: data/demo)")
    ap.add_argument("--max-clips", type=int, default=12, help="held-out clips measured (default: 12)")
    ap.add_argument("--parts", default="speed,clicks,clips,prepare", help="what to measure (default: all)")
    a = ap.parse_args()
    print(json.dumps(run(a.demo, a.max_clips, a.parts), indent=2))
