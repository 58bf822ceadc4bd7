"""Cut tracks into mono clips of 10-30 s, skipping silence, deterministically under a seed."""

from __future__ import annotations

import math
import os
import zlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

from recipes._jsonio import read_json, relative, write_json
from v2meow import media
from v2meow.errors import ConfigError, MediaError

FORMAT_VERSION = 1
_FRAME = 0.1  # seconds per loudness frame


def load_tracks(path: str | os.PathLike) -> list[dict]:
    """The entries of a `tracks.json`, with `path` made absolute."""
    path = Path(path)
    index = read_json(path)
    return [{**t, "path": str((path.parent / t["path"]).resolve())} for t in index["tracks"]]


def _budgets(max_minutes: float | dict[str, float | None] | None, splits: set[str]) -> dict[str, float | None]:
    """Seconds of clips allowed per split (None: no limit)."""
    if not isinstance(max_minutes, dict):
        max_minutes = {s: max_minutes for s in splits}
    return {s: (None if max_minutes.get(s) is None else 60.0 * float(max_minutes[s])) for s in splits}


def cut_clips(
    tracks: list[dict],
    out_dir: str | os.PathLike,
    clip_seconds: tuple[float, float] = (10.0, 30.0),
    sample_rate: int = 24000,
    max_clips_per_track: int = 3,
    max_minutes: float | dict[str, float | None] | None = None,
    seed: int = 0,
    silence_db: float = -50.0,
    relative_db: float = 40.0,
    log: Callable[[str], None] = print,
) -> list[dict]:
    """Cut `tracks` into mono wav clips under `out_dir/clips/` and list them in `out_dir/clips.json`.

    Each track's active span (from the first to the last 0.1-s frame louder than
    `max(silence_db, peak - relative_db)` dBFS) is split into equal segments, one clip
    per segment, with a random length in `clip_seconds` and a random offset inside it;
    a clip that is mostly silent is dropped. Tracks are visited in a seeded order and a
    split stops taking clips once its minutes budget is reached; each track gets the
    same quota, so a budget spreads over many tracks.

    Args:
        tracks: entries of `tracks.json` (`id`, absolute `path`, `package`, `split`,
            `licence`, `duration`), e.g. from `load_tracks`.
        out_dir: the data folder.
        clip_seconds: (shortest, longest) clip length.
        max_minutes: minutes of clips per split, a float for all splits or a dict by split.
        seed: the same seed and arguments cut the same clips.

    Returns:
        The clip entries (paths absolute), as listed in `clips.json` (there relative).
    """
    lo, hi = map(float, clip_seconds)
    if not 0 < lo <= hi:
        raise ConfigError(f"clip_seconds must satisfy 0 < min <= max, got {clip_seconds}")
    if max_clips_per_track < 1:
        raise ConfigError(f"max_clips_per_track must be >= 1, got {max_clips_per_track}")
    out_dir = Path(out_dir)
    budgets = _budgets(max_minutes, {t["split"] for t in tracks})
    order: dict[str, list[dict]] = {}
    for split in sorted(budgets):
        eligible = sorted((t for t in tracks if t["split"] == split and t["duration"] >= lo), key=lambda t: t["id"])
        perm = np.random.default_rng([seed, zlib.crc32(split.encode())]).permutation(len(eligible))
        order[split] = [eligible[i] for i in perm]
    quota = {
        s: max_clips_per_track
        if budgets[s] is None or not order[s]
        else min(max_clips_per_track, math.ceil(budgets[s] / (len(order[s]) * 0.5 * (lo + hi))))
        for s in order
    }
    params = {
        "clip_seconds": [lo, hi],
        "sample_rate": sample_rate,
        "seed": seed,
        "silence_db": silence_db,
        "relative_db": relative_db,
        "quota": quota,
        "budget_seconds": budgets,
    }
    index_path = out_dir / "clips.json"
    previous = read_json(index_path, default={"params": None})
    done: dict[str, list[dict]] = {}
    if previous.get("params") == params:
        for tid in previous.get("tracks_done", []):
            done[tid] = []
        for c in previous.get("clips", []) + previous.get("spare", []):
            done.setdefault(c["track"], []).append({**c, "path": str((out_dir / c["path"]).resolve())})
    clips, spare, tracks_done = [], [], []
    for split, ordered in order.items():
        used = 0.0
        for track in ordered:
            if budgets[split] is not None and used >= budgets[split]:
                break
            entries = done.get(track["id"])
            if entries is None or not all(Path(c["path"]).exists() for c in entries):
                rng = np.random.default_rng([seed, zlib.crc32(track["id"].encode())])
                entries = _cut_track(
                    track, out_dir, lo, hi, sample_rate, quota[split], rng, silence_db, relative_db, log
                )
            for c in entries:
                if budgets[split] is None or used < budgets[split]:
                    clips.append(c)
                    used += c["duration"]
                else:
                    spare.append(c)
            tracks_done.append(track["id"])
            _write_index(index_path, params, clips, spare, tracks_done, complete=False)
    _write_index(index_path, params, clips, spare, tracks_done, complete=True)
    return clips


def _write_index(
    path: Path, params: dict, clips: list[dict], spare: list[dict], done: list[str], complete: bool
) -> None:

    def rel(cs: list[dict]) -> list[dict]:
        return [{**c, "path": relative(c["path"], path.parent)} for c in cs]

    write_json(
        path,
        {
            "format_version": FORMAT_VERSION,
            "complete": complete,
            "params": params,
            "clips": rel(clips),
            "spare": rel(spare),
            "tracks_done": done,
        },
    )


def active_span(x: np.ndarray, sample_rate: int, silence_db: float, relative_db: float) -> tuple[np.ndarray, int, int]:
    """Loudness activity of `x [N]`: `(active [F] bool per 0.1-s frame, first, end)` frames.

    `first == end == 0` when the whole signal is silent.
    """
    hop = max(1, round(_FRAME * sample_rate))
    n = len(x) // hop
    if n == 0:
        return np.zeros(0, bool), 0, 0
    rms = np.sqrt(np.mean(np.square(x[: n * hop].reshape(n, hop), dtype=np.float64), axis=1))  # [F]
    db = 20.0 * np.log10(rms + 1e-10)
    active = db > max(silence_db, db.max() - relative_db)
    if not active.any():
        return active, 0, 0
    return active, int(np.argmax(active)), int(n - np.argmax(active[::-1]))


def _cut_track(
    track: dict,
    out_dir: Path,
    lo: float,
    hi: float,
    sample_rate: int,
    n_max: int,
    rng: np.random.Generator,
    silence_db: float,
    relative_db: float,
    log: Callable[[str], None],
) -> list[dict]:
    """Decode one track, write its clips, return their entries (paths absolute)."""
    try:
        wav, _ = media.read_audio(track["path"], sample_rate=sample_rate, channels=1)  # [1, N]
    except MediaError as e:
        log(f"skip {track['id']}: {e}")
        return []
    x = wav[0].numpy()
    active, first, end = active_span(x, sample_rate, silence_db, relative_db)
    span = (end - first) * _FRAME
    count = min(n_max, int(span // lo))
    entries = []
    for k in range(count):
        seg = span / count
        length = max(lo, math.floor(100 * rng.uniform(lo, min(hi, seg))) / 100)
        offset = round(first * _FRAME + k * seg + rng.uniform(0.0, max(0.0, seg - length)), 3)
        f0, f1 = round(offset / _FRAME), round((offset + length) / _FRAME)
        if active[f0:f1].mean() < 0.5:  # mostly silent inside (a pause between movements)
            continue
        i0 = round(offset * sample_rate)
        clip = x[i0 : i0 + round(length * sample_rate)]
        slug = track["id"].split("/", 1)[-1]
        path = out_dir / "clips" / track["package"] / f"{slug}-{k:02d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        media.write_audio(path, clip[None], sample_rate)
        entries.append(
            {
                "id": f"{track['id']}-{k:02d}",
                "path": str(path.resolve()),
                "track": track["id"],
                "package": track["package"],
                "split": track["split"],
                "licence": track["licence"],
                "offset": offset,
                "duration": round(len(clip) / sample_rate, 3),
                "sample_rate": sample_rate,
            }
        )
    return entries


def load_clips(path: str | os.PathLike) -> list[dict]:
    """The clip entries of a `clips.json`, with `path` made absolute."""
    path = Path(path)
    index = read_json(path)
    return [{**c, "path": str((path.parent / c["path"]).resolve())} for c in index["clips"]]


def summarize_clips(clips: list[dict]) -> str:
    """A few lines: clips, minutes, tracks and licences per split."""
    lines = []
    for split in sorted({c["split"] for c in clips}):
        cs = [c for c in clips if c["split"] == split]
        lic = Counter(c["licence"] for c in cs)
        lines.append(
            f"{split}: {len(cs)} clips, {sum(c['duration'] for c in cs) / 60:.1f} min from "
            f"{len({c['track'] for c in cs})} tracks; licences: " + ", ".join(f"{k} x{v}" for k, v in lic.most_common())
        )
    return "\n".join(lines) or "no clips"
