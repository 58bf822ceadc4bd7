"""What `v2meow-prepare` reads: the list of media sources, their content hashes and clips.

An input is either a folder (every video file, with its own audio track, and every
audio-only music file under it, recursively, in sorted order) or a CSV manifest with
the columns

    video,audio,caption,split

where `audio` is optional (a separate music file for the video), audio-only rows have
`audio` and no `video`, and relative paths are relative to the CSV's folder.

Keys. A source is named by its path relative to the input root (`rel`) and the hash of
its bytes: `source_key = "<rel>@<hash16>"`; clip `i` of it is `"<source_key>#<i>"`. A
renamed or moved-root file keeps nothing (new key); an edited file gets a new hash, so
it is prepared again, while an unchanged one is recognised on any machine. A
time-stretched copy of a clip (`v2meow-prepare --stretch`) is `"<clip key>@x<factor>"`
(`"...#3@x1.25"`: the factor as `%g` prints it); the original keeps the plain clip key.

Hashes (`hash_mode`):
    quick  BLAKE2b of the file size + its first and last MiB (default). Two reads of
           1 MiB per file instead of the whole file, so a re-run over 100k videos on a
           network file system does not re-read terabytes. It detects any re-encode,
           truncation or replacement; an in-place edit that keeps the size and touches
           only the middle of a file goes unnoticed.
    full   BLAKE2b of every byte, streamed in 1-MiB blocks.
"""

from __future__ import annotations

import csv
import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path

from v2meow.errors import ConfigError, UnreadableMediaError

VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".flv", ".wmv")
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".aif", ".aiff")
HASH_MODES = ("quick", "full")
_BLOCK = 1 << 20  # 1 MiB


@dataclass(frozen=True)
class Source:
    """One input: a video (with its own or a separate audio file) or an audio-only file.

    Attributes:
        rel: name relative to the input root; the stable part of every key.
        video: path of the video file, or None for audio-only music.
        audio: path the music is read from (the video itself, a separate file, or the audio file).
        caption: free text from the manifest ("" if none).
        split: "train", "valid", ... ("train" if not given).
    """

    rel: str
    video: str | None
    audio: str
    caption: str = ""
    split: str = "train"

    @property
    def files(self) -> list[str]:
        """The distinct files this source reads (hashed together)."""
        return [self.video, self.audio] if self.video and self.audio != self.video else [self.audio]


def list_sources(input_path: str | os.PathLike, split: str = "train") -> list[Source]:
    """All sources of a folder or a CSV manifest, in a deterministic order.

    Args:
        input_path: a directory, or a `.csv` file with columns video, audio, caption, split.
        split: split of folder items and of manifest rows with no `split` value.

    Raises:
        ConfigError: no such input, a CSV without a `video` or `audio` column, or no media found.
    """
    path = Path(input_path)
    if path.is_dir():
        sources = _folder_sources(path, split)
    elif path.is_file() and path.suffix.lower() == ".csv":
        sources = _manifest_sources(path, split)
    elif path.exists():
        raise ConfigError(f"{path}: --input must be a folder or a .csv manifest")
    else:
        raise ConfigError(f"{path}: no such input folder or manifest")
    if not sources:
        raise ConfigError(
            f"{path}: no video or audio files found (videos: {', '.join(VIDEO_EXTENSIONS)}; "
            f"audio: {', '.join(AUDIO_EXTENSIONS)})"
        )
    names = [s.rel for s in sources]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise ConfigError(f"{path}: '{dup}' is listed more than once")
    return sources


def _folder_sources(root: Path, split: str) -> list[Source]:
    out = []
    seen: set[str] = set()  # real paths of visited folders: a symlink loop is walked once
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            full = Path(dirpath) / name
            rel = full.relative_to(root).as_posix()
            ext = full.suffix.lower()
            if ext in VIDEO_EXTENSIONS:
                out.append(Source(rel=rel, video=str(full), audio=str(full), split=split))
            elif ext in AUDIO_EXTENSIONS:
                out.append(Source(rel=rel, video=None, audio=str(full), split=split))
    return sorted(out, key=lambda s: s.rel)


def _manifest_sources(manifest: Path, default_split: str) -> list[Source]:
    base = manifest.parent
    try:
        with open(manifest, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            header = [(h or "").strip().lower() for h in reader.fieldnames or []]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise ConfigError(f"{manifest}: not a readable CSV manifest ({e})") from None
    if not {"video", "audio"} & set(header):
        raise ConfigError(f"{manifest}: needs a 'video' and/or an 'audio' column (has: {', '.join(header)})")
    out = []
    for n, row in enumerate(rows, start=2):  # line 1 is the header
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        video, audio = row.get("video", ""), row.get("audio", "")
        if not video and not audio:
            raise ConfigError(f"{manifest}:{n}: row has neither a video nor an audio path")
        rel = video + (f"+{audio}" if video and audio else "") if video else audio
        video_path = _resolve(base, video) if video else None
        audio_path = _resolve(base, audio) if audio else video_path
        out.append(
            Source(
                rel=rel,
                video=video_path,
                audio=audio_path,
                caption=row.get("caption", ""),
                split=row.get("split", "") or default_split,
            )
        )
    return out


def _resolve(base: Path, name: str) -> str:
    p = Path(name).expanduser()
    return str(p if p.is_absolute() else base / p)


def content_hash(paths: list[str], mode: str = "quick") -> str:
    """Hex BLAKE2b digest of the files' bytes (see the module docstring for `mode`).

    Raises:
        UnreadableMediaError: a file is missing, a directory, empty or unreadable.
    """
    if mode not in HASH_MODES:
        raise ConfigError(f"unknown hash mode {mode!r} (known: {', '.join(HASH_MODES)})")
    h = hashlib.blake2b(digest_size=16)
    for path in paths:
        try:
            size = os.path.getsize(path)
            if size == 0:
                raise UnreadableMediaError(f"{path}: file is empty (0 bytes)")
            h.update(f"{size}\0".encode())
            with open(path, "rb") as f:
                if mode == "full" or size <= 2 * _BLOCK:
                    while block := f.read(_BLOCK):
                        h.update(block)
                else:
                    h.update(f.read(_BLOCK))
                    f.seek(size - _BLOCK)
                    h.update(f.read(_BLOCK))
        except IsADirectoryError:
            raise UnreadableMediaError(f"{path}: is a directory, not a media file") from None
        except FileNotFoundError:
            raise UnreadableMediaError(f"{path}: no such file") from None
        except OSError as e:
            raise UnreadableMediaError(f"{path}: cannot read ({e.strerror or e})") from None
    return h.hexdigest()


def source_key(source: Source, digest: str) -> str:
    return f"{source.rel}@{digest[:16]}"


def clip_key(src_key: str, index: int) -> str:
    return f"{src_key}#{index}"


def stretch_key(key: str, factor: float) -> str:
    """The key of clip `key` played `factor` times as fast: `key` itself for 1, else `"<key>@x<factor:g>"`."""
    return key if factor == 1.0 else f"{key}@x{factor:g}"


def split_clip_key(key: str) -> tuple[str, int] | None:
    """`"<source_key>#<i>"` (or a stretched copy, `"...#<i>@x<factor>"`) -> `(source_key, i)`; None for a key that names no clip."""
    parsed = parse_item_key(key)
    return None if parsed is None else parsed[:2]


def parse_item_key(key: str) -> tuple[str, int, float] | None:
    """`"<source_key>#<i>[@x<factor>]"` -> `(source_key, i, factor)` (factor 1.0 without a suffix); None otherwise."""
    head, sep, tail = key.rpartition("#")
    index, at, factor = tail.partition("@x")
    if not sep or not index.isdigit():
        return None
    if not at:
        return head, int(index), 1.0
    try:
        value = float(factor)
    except ValueError:
        return None
    return (head, int(index), value) if math.isfinite(value) and value > 0 and f"{value:g}" == factor else None


def clip_spans(duration: float, clip_seconds: float, min_seconds: float) -> list[tuple[float, float]]:
    """`(start, length)` of the clips of a `duration`-s input.

    Consecutive `clip_seconds` clips from 0; a last clip shorter than `min_seconds` is
    dropped (a whole input shorter than that gives none).
    """
    if duration <= 0:
        return []
    n = max(1, math.ceil(duration / clip_seconds - 1e-9))
    spans = [(i * clip_seconds, min(clip_seconds, duration - i * clip_seconds)) for i in range(n)]
    return [(s, d) for s, d in spans if d >= min_seconds - 1e-9]


def parse_shard(spec: str | None) -> tuple[int, int]:
    """`"i/n"` -> `(i, n)` with 0 <= i < n; None -> `(0, 1)`."""
    if not spec:
        return 0, 1
    i, sep, n = spec.partition("/")
    try:
        i, n = int(i), int(n)
    except ValueError:
        raise ConfigError(f"--shard expects i/n (e.g. 0/4), got '{spec}'") from None
    if not sep or n < 1 or not 0 <= i < n:
        raise ConfigError(f"--shard expects i/n with 0 <= i < n, got '{spec}'")
    return i, n


def in_shard(source: Source, index: int, count: int) -> bool:
    """Deterministic assignment by the source's name, stable when other files come and go."""
    if count == 1:
        return True
    digest = hashlib.blake2b(source.rel.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count == index
