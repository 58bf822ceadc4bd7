"""Benchmark: `prepare` throughput on one core with the weight-free components.

A 60-s 640x360 30-fps H.264 video with a 44.1-kHz AAC track (generated) goes through the
whole of `v2meow.data.prepare.prepare` (hash, probe, decode, `motion` features at 1 Hz,
`mel` + k-means K=1024 semantic tokens, SoundStream `small` codes with random weights,
shard writes) in 30-s clips, one process pinned to one core. The figure is seconds of
media per second of wall time, after a warm-up run (components loaded once per
process, as in a long run); the per-component times show where it goes.

Target (issue 4): >= 20x real time per core. Run: `.venv/bin/python bench/prepare.py`.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch

from common import machine, median_time, pin_one_core
from mediagen import make_video
from v2meow import media
from v2meow.data.prepare import PrepareConfig, prepare
from v2meow.data.work import components
from v2meow.features.video import extract_video
from v2meow.tokenizers.acoustic import SoundStream, SoundStreamConfig
from v2meow.tokenizers.semantic import MelBackbone, SemanticTokenizer


def _components(root: Path, codec_preset: str) -> tuple[str, str]:
    g = torch.Generator().manual_seed(0)
    tok = SemanticTokenizer.from_backbone(
        MelBackbone(), centroids=torch.randn(1024, 128, generator=g), mean=torch.zeros(128), std=torch.ones(128)
    )
    tok.save_pretrained(root / "semantic")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        SoundStream(SoundStreamConfig.from_preset(codec_preset, kmeans_init=False)).save_pretrained(root / codec_preset)
    return str(root / "semantic"), str(root / codec_preset)


def run(duration: float = 60.0, repeats: int = 5, codec_preset: str = "small") -> dict:
    pin_one_core()
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        (root / "in").mkdir()
        video = make_video(
            root / "in" / "bench360p.mp4",
            duration=duration,
            fps=30,
            size=(360, 640),
            pattern="moving",
            audio_rate=44100,
        )
        semantic, codec = _components(root, codec_preset)
        cfg = PrepareConfig(features="motion", semantic=semantic, codec=codec, clip_seconds=30.0, threads=1)
        runs = iter(range(1000))

        def once() -> None:
            report = prepare(root / "in", root / f"cache{next(runs)}", cfg, progress=False)
            assert report.new_items == round(duration / 30.0), report.lines()

        seconds = median_time(once, repeats=repeats, warmup=1)
        parts = _breakdown(cfg, video, duration)
    return {
        f"prepare_motion_mel1024_soundstream_{codec_preset}": {
            "media_seconds": duration,
            "source": "640x360 H.264 30 fps + AAC 44.1 kHz mono (generated), 30-s clips",
            "median_wall_s": round(seconds, 3),
            "x_real_time_one_core": round(duration / seconds, 1),
            "component_x_real_time": {k: round(duration / v, 1) for k, v in parts.items()},
            "repeats": repeats,
            "target_x_real_time": 20,
        },
        "machine": machine(),
    }


def _breakdown(cfg: PrepareConfig, video: Path, duration: float) -> dict[str, float]:
    """Seconds per stage for the whole file, each stage alone (clip by clip, as prepare runs them)."""
    c = components(cfg)
    spans = [(s, min(30.0, duration - s)) for s in range(0, int(duration), 30)]
    audio = [media.read_audio(video, channels=1, start=s, duration=n) for s, n in spans]
    stages = {
        "decode_audio": lambda: [media.read_audio(video, channels=1, start=s, duration=n) for s, n in spans],
        "motion_features_incl_decode": lambda: [
            extract_video(c.extractor, video, start=s, duration=n) for s, n in spans
        ],
        "semantic_mel_kmeans": lambda: [c.semantic.encode(w, sr) for w, sr in audio],
        "codec_encode": lambda: [c.codec.encode(w, sr) for w, sr in audio],
    }
    return {name: median_time(fn, repeats=5, warmup=1) for name, fn in stages.items()}


if __name__ == "__main__":
    preset = sys.argv[1] if len(sys.argv) > 1 else "small"
    print(json.dumps(run(codec_preset=preset), indent=2))
