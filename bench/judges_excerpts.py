"""Held-out music excerpts for the judges: 12-s cuts of the ufoai tracks at their own rate (44.1 kHz).

The first `n` eval-split clips of data/demo/clips.json (by id) give the track and offset; the
excerpt is read from the original track file, so the 'original' row is the music as released.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from v2meow import media

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: recipes/


def track_excerpts(
    data: Path, n: int = 8, seconds: float = 12.0, steady: bool = True
) -> list[tuple[str, torch.Tensor, int]]:
    """(clip id, mono wav [N], rate) for the first `n` held-out clips (with a steady tempo if `steady`)."""
    from recipes.ladder import has_steady_tempo

    clips = json.loads((data / "clips.json").read_text())["clips"]
    tracks = {t["id"]: t for t in json.loads((data / "tracks.json").read_text())["tracks"]}
    out = []
    for c in sorted((c for c in clips if c["split"] == "eval"), key=lambda c: c["id"]):
        wav, sr = media.read_audio(data / tracks[c["track"]]["path"], channels=1, start=c["offset"], duration=seconds)
        if wav.shape[-1] < seconds * sr * 0.99 or (steady and not has_steady_tempo(wav, sr)):
            continue
        out.append((c["id"], wav[0], sr))
        if len(out) == n:
            break
    return out
