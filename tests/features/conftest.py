"""Synthetic frame tensors for the feature tests (no media files needed)."""

from __future__ import annotations

import math

import pytest
import torch


def make_frames(kind: str, duration: float, rate: float, size: tuple[int, int] = (64, 64)):
    """uint8 frames `[T, 3, H, W]` and float64 times `[T]` sampled at `rate` for `duration` s.

    Kinds: "static" (a fixed two-colour picture), "moving" (a white square sweeping
    left-right twice a second), "cut" (black, then white from t = 1.0), "noise".
    """
    n = max(1, math.ceil(duration * rate - 1e-6))
    times = torch.arange(n, dtype=torch.float64) / rate  # [T]
    h, w = size
    frames = torch.zeros(n, 3, h, w, dtype=torch.uint8)  # [T, 3, H, W]
    if kind == "static":
        frames[:, 0, :, : w // 2] = 200
        frames[:, 2, h // 4 : h // 2, w // 4 :] = 220
    elif kind == "moving":
        s = max(4, h // 4)
        for i, t in enumerate(times.tolist()):
            x = int((w - s) * (0.5 + 0.5 * math.sin(2 * math.pi * 2 * t)))
            frames[i, :, h // 3 : h // 3 + s, x : x + s] = 255
    elif kind == "cut":
        frames[times >= 1.0] = 255
    elif kind == "noise":
        g = torch.Generator().manual_seed(0)
        frames = torch.randint(0, 256, (n, 3, h, w), dtype=torch.uint8, generator=g)
    else:
        raise ValueError(kind)
    return frames, times


@pytest.fixture
def synth():
    return make_frames


@pytest.fixture
def no_weight_caches(tmp_path, monkeypatch):
    """Point every weight cache at empty temporary folders (nothing local, no network)."""
    import huggingface_hub.constants

    hf = tmp_path / "hf"
    hub = tmp_path / "torch_hub"
    hf.mkdir()
    hub.mkdir()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hf))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return {"hf": hf, "torch_hub": hub}
