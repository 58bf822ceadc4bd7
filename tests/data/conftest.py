"""Tiny weight-free components saved as component directories, and generated media, for prepare tests."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import mediagen
from v2meow.tokenizers.acoustic import SoundStream, SoundStreamConfig
from v2meow.tokenizers.semantic import MelBackbone, fit_kmeans
from v2meow.tokenizers.style import HashedTextConfig, HashedTextEmbedder

SR = 16000


def _tones() -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    t = torch.arange(SR) / SR
    return [0.5 * torch.sin(2 * math.pi * f * t) + 0.01 * torch.randn(SR, generator=g) for f in (220.0, 440.0, 1760.0)]


def save_codec(directory: Path, seed: int = 0) -> Path:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        codec = SoundStream(SoundStreamConfig.from_preset("debug", kmeans_init=False))
    codec.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def components(tmp_path_factory) -> dict[str, str]:
    """Directories of: a mel + k-means (K=16) tokenizer, a debug SoundStream, a hashed-text embedder."""
    root = tmp_path_factory.mktemp("components")
    fit_kmeans(_tones(), MelBackbone(), k=16, batch_frames=64, seed=0).save_pretrained(root / "semantic")
    save_codec(root / "codec", seed=0)
    save_codec(root / "codec2", seed=1)
    HashedTextEmbedder(HashedTextConfig(dim=16)).save_pretrained(root / "style")
    return {name: str(root / name) for name in ("semantic", "codec", "codec2", "style")}


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    """A folder of 2 videos with audio (2.0 s and 3.5 s), one audio-only file (2.5 s) and a corrupt video."""
    root = tmp_path_factory.mktemp("media")
    (root / "sub").mkdir()
    mediagen.make_video(root / "a.mp4", duration=2.0, fps=10, size=(32, 48), audio_rate=16000)
    mediagen.make_video(root / "sub" / "b.mp4", duration=3.5, fps=10, size=(32, 48), pattern="cut", audio_rate=16000)
    mediagen.make_audio(root / "music.wav", duration=2.5, rate=22050)
    (root / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    return root
