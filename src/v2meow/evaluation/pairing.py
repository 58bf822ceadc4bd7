"""Pair generated, reference and video files by stem name; read a prompts file.

`out/clip07.wav` pairs with `data/test/clip07.mp4` and `videos/clip07.mkv`. Only the
top level of each folder is read; hidden files and non-media files are ignored. A stem
present on one side only is a reported problem, never an error; two media files with one
stem in the same folder are resolved by a fixed preference order and noted.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from v2meow.errors import ConfigError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac")
VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".webm", ".m4v", ".avi")


@dataclass
class Problem:
    """Something that kept (part of) a clip out of the evaluation."""

    stem: str
    kind: str  # missing_reference | missing_generated | missing_video | unreadable_generated | ...
    message: str
    path: str | None = None

    def line(self) -> str:
        """The one-line form printed on stderr."""
        return f"{self.stem}: {self.message}"

    def to_dict(self) -> dict[str, str | None]:
        return {"stem": self.stem, "kind": self.kind, "path": self.path, "message": self.message}


@dataclass
class Pairing:
    """Files matched by stem."""

    stems: list[str]  # stems with both a generated and a reference file, sorted
    generated: dict[str, Path]
    reference: dict[str, Path]
    videos: dict[str, Path] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def index_media(directory: str | os.PathLike, suffixes: tuple[str, ...]) -> tuple[dict[str, Path], list[str]]:
    """Media files at the top of `directory` by stem; earlier suffixes win a clash.

    Returns:
        `({stem: path}, notes)`.

    Raises:
        ConfigError: `directory` is not a directory.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ConfigError(f"{directory}: not a directory")
    found: dict[str, list[Path]] = {}
    for p in sorted(directory.iterdir()):
        if p.name.startswith(".") or p.suffix.lower() not in suffixes or p.is_dir():
            continue
        found.setdefault(p.stem, []).append(p)
    out, notes = {}, []
    for stem, paths in found.items():
        paths.sort(key=lambda p: suffixes.index(p.suffix.lower()))
        out[stem] = paths[0]
        if len(paths) > 1:
            notes.append(
                f"{directory}: several files for '{stem}' ({', '.join(p.name for p in paths)}); using {paths[0].name}"
            )
    return out, notes


def pair_files(
    generated: str | os.PathLike, reference: str | os.PathLike, videos: str | os.PathLike | None = None
) -> Pairing:
    """Match generated and reference (and optionally video) files by stem.

    Generated and reference folders may hold audio or video files (audio preferred when
    both exist); the videos folder holds videos.
    """
    media = AUDIO_SUFFIXES + VIDEO_SUFFIXES
    gen, notes = index_media(generated, media)
    ref, ref_notes = index_media(reference, media)
    notes += ref_notes
    vids: dict[str, Path] = {}
    if videos is not None:
        vids, vid_notes = index_media(videos, VIDEO_SUFFIXES)
        notes += vid_notes
    problems = [
        Problem(s, "missing_reference", f"generated file {gen[s]} has no reference in {reference}", str(gen[s]))
        for s in sorted(set(gen) - set(ref))
    ]
    problems += [
        Problem(s, "missing_generated", f"reference file {ref[s]} has no generated file in {generated}", str(ref[s]))
        for s in sorted(set(ref) - set(gen))
    ]
    stems = sorted(set(gen) & set(ref))
    if videos is not None:
        problems += [
            Problem(s, "missing_video", f"no video in {videos}; beat metrics skipped for it")
            for s in stems
            if s not in vids
        ]
    return Pairing(stems=stems, generated=gen, reference=ref, videos=vids, problems=problems, notes=notes)


def read_prompts(path: str | os.PathLike) -> dict[str, str]:
    """Read `{stem: prompt}` from a .json object or list, a .jsonl file, or a two-column .csv/.tsv/.txt.

    JSON lists and JSONL lines are objects with a `stem` (or `id`/`name`) and a `text`
    (or `prompt`/`caption`) key. CSV/TSV rows are `stem,text`; a first row `stem,text`
    (or `id,prompt`, ...) is taken as a header.

    Raises:
        ConfigError: unreadable file or an entry without a stem or text.
    """
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read prompts ({e})") from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            data = json.loads(raw)
            items = data.items() if isinstance(data, dict) else [_entry(d, path) for d in data]
        elif suffix == ".jsonl":
            items = [_entry(json.loads(line), path) for line in raw.splitlines() if line.strip()]
        else:
            rows = [r for r in csv.reader(raw.splitlines(), delimiter="," if suffix == ".csv" else "\t") if r]
            if rows and rows[0][0].strip().lower() in _STEM_KEYS:
                rows = rows[1:]
            bad = [r for r in rows if len(r) < 2]
            if bad:
                raise ConfigError(f"{path}: row {bad[0]!r} needs two columns: stem and prompt")
            items = [(r[0], ",".join(r[1:]) if suffix == ".csv" else "\t".join(r[1:])) for r in rows]
    except (json.JSONDecodeError, TypeError, AttributeError) as e:
        raise ConfigError(f"{path}: not a prompts file ({e})") from None
    out = {str(k).strip(): str(v).strip() for k, v in items}
    empty = [k for k, v in out.items() if not k or not v]
    if empty:
        raise ConfigError(f"{path}: empty stem or prompt for entry {empty[0]!r}")
    return out


_STEM_KEYS = ("stem", "id", "name")
_TEXT_KEYS = ("text", "prompt", "caption")


def _entry(d: object, path: Path) -> tuple[str, str]:
    if not isinstance(d, dict):
        raise ConfigError(f"{path}: prompt entries must be objects, got {type(d).__name__}")
    stem = next((d[k] for k in _STEM_KEYS if k in d), None)
    text = next((d[k] for k in _TEXT_KEYS if k in d), None)
    if stem is None or text is None:
        raise ConfigError(f"{path}: entry {d!r} needs a 'stem' and a 'text'")
    return str(stem), str(text)
