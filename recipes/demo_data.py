"""The demo data recipe: real music from Debian game-music packages, cut into clips.

    python -m recipes.demo_data --out data/demo

Layout of `--out` (every index path is relative to the folder it sits in):

    debs/                 downloaded .deb files (deleted once unpacked unless --keep-debs)
    packages/<pkg>/       the unpacked package (a `.v2meow-unpacked.json` marks it done)
    tracks.json           one entry per track: path, package, split, licence, duration
    clips/<pkg>/*.wav     mono clips at --sample-rate
    clips.json            one entry per clip: path, track, offset, duration, split, licence

Every step is resumable: an unpacked package is not fetched again, a listed track is
not probed again, and a written clip is not cut again.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from recipes import debian
from recipes._jsonio import read_json, relative, write_json
from recipes.clips import cut_clips, load_tracks, summarize_clips
from v2meow import media
from v2meow.errors import ConfigError, MediaError

__all__ = ["DEFAULT_PACKAGES", "fetch_package", "find_tracks", "build_tracks", "cut_clips", "load_tracks", "main"]

#: package -> split of the demo: two training packages and one held out for evaluation.
DEFAULT_PACKAGES: dict[str, str] = {
    "wesnoth-1.16-music": "train",
    "warzone2100-music": "train",
    "ufoai-music": "eval",
}
FORMAT_VERSION = 1
_MARKER = ".v2meow-unpacked.json"
_LICENCE_FILE_NAMES = ("license", "licence", "copying")


def fetch_package(
    package: str, out_dir: Path, runner: debian.Runner | None = None, keep_deb: bool = False
) -> tuple[Path, str]:
    """Download and unpack `package` into `out_dir/packages/<package>` unless already there.

    Args:
        runner: runs `apt-get` / `dpkg` (default `debian.run_command`; tests pass a fake).

    Returns:
        `(root, version)`: the unpacked tree and the package version.
    """
    root = out_dir / "packages" / package
    marker = root / _MARKER
    if marker.exists():
        return root, json.loads(marker.read_text())["version"]
    partial = out_dir / "packages" / f".{package}.partial"
    for stale in (partial, root):
        if stale.exists():
            shutil.rmtree(stale)
    runner = runner or debian.run_command
    fetched = sorted((out_dir / "debs").glob(f"{package}_*.deb"))  # downloaded by an interrupted run
    deb = fetched[-1] if fetched else debian.download(package, out_dir / "debs", runner)
    debian.unpack(deb, partial, runner)
    debian.extract_archives(partial)
    parts = deb.stem.split("_")  # name_version_arch, version url-quoted ("1%3a1.16.9-1")
    version = urllib.parse.unquote(parts[1]) if len(parts) == 3 else "unknown"
    (partial / _MARKER).write_text(json.dumps({"package": package, "version": version, "deb": deb.name}))
    os.replace(partial, root)
    if not keep_deb:
        deb.unlink()
    return root, version


def _audio_files(root: Path) -> list[Path]:
    doc = root / "usr" / "share" / "doc"
    return sorted(
        p for p in root.rglob("*") if p.suffix.lower() in debian.AUDIO_SUFFIXES and p.is_file() and doc not in p.parents
    )


def _album_meta(path: Path) -> dict:
    """Title, author, bpm of `path` from an `album.json` beside it (Warzone 2100 has them)."""
    album = path.parent / "album.json"
    if not album.exists():
        return {}
    try:
        tracks = json.loads(album.read_text(encoding="utf-8")).get("tracks", [])
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return {}
    for t in tracks:
        if isinstance(t, dict) and t.get("filename") == path.name:
            return {k: t[k] for k in ("title", "author", "bpm") if k in t}
    return {}


def find_tracks(
    root: Path,
    package: str,
    version: str,
    split: str,
    out_dir: Path,
    known: dict[str, dict] | None = None,
    log: Callable[[str], None] = print,
) -> list[dict]:
    """List the audio files of an unpacked package with their licence and duration.

    Args:
        root: the unpacked package.
        out_dir: the data folder; entry paths are relative to it.
        known: entries already listed, by id: reused without probing when the file exists.
        log: where a skipped (unreadable) file is reported, one line each.
    """
    files = _audio_files(root)
    if not files:
        return []
    common = Path(os.path.commonpath([f.parent for f in files]))
    copyright_path = root / "usr" / "share" / "doc" / package / "copyright"
    rights = debian.CopyrightFile.read(copyright_path) if copyright_path.exists() else None
    tracks = []
    for f in files:
        slug = f.relative_to(common).with_suffix("").as_posix().replace("/", "-")
        track_id = f"{package}/{slug}"
        old = (known or {}).get(track_id)
        if old and old.get("split") == split and (out_dir / old["path"]).exists():
            tracks.append(old)
            continue
        try:
            info = media.probe(f)
        except MediaError as e:
            log(f"skip {track_id}: {e}")
            continue
        lic = (
            rights.licence_for(f.relative_to(root).as_posix())
            if rights
            else debian.Licence("unknown", "no copyright file")
        )
        extra = [p for p in sorted(f.parent.iterdir()) if p.is_file() and p.stem.lower() in _LICENCE_FILE_NAMES]
        tracks.append(
            {
                "id": track_id,
                "path": relative(f, out_dir),
                "package": package,
                "version": version,
                "split": split,
                "licence": lic.name,
                "licence_source": lic.source,
                "licence_files": [relative(p, out_dir) for p in ([copyright_path] if rights else []) + extra],
                "duration": round(info.duration, 3),
                "sample_rate": info.sample_rate,
                "channels": info.channels,
                "meta": _album_meta(f),
            }
        )
    return tracks


def build_tracks(
    out_dir: str | os.PathLike,
    packages: dict[str, str] | None = None,
    runner: debian.Runner | None = None,
    keep_debs: bool = False,
    log: Callable[[str], None] = print,
) -> list[dict]:
    """Fetch every package and write `out_dir/tracks.json` (after each package, so work is kept).

    Args:
        out_dir: the data folder (created if needed).
        packages: package -> split ("train" or "eval"); default `DEFAULT_PACKAGES`.
        runner: runs `apt-get` / `dpkg` (default `debian.run_command`).

    Raises:
        debian.PackageNotFoundError: apt does not know a package (its name is in the message).
    """
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    packages = dict(DEFAULT_PACKAGES if packages is None else packages)
    index_path = out_dir / "tracks.json"
    index = read_json(index_path, default={"format_version": FORMAT_VERSION, "packages": {}, "tracks": []})
    known = {t["id"]: t for t in index["tracks"]}
    for package, split in packages.items():
        t0 = time.perf_counter()
        root, version = fetch_package(package, out_dir, runner, keep_deb=keep_debs)
        tracks = find_tracks(root, package, version, split, out_dir, known, log)
        if not tracks:
            log(f"{package}: no audio files found in the package")
        index["tracks"] = [t for t in index["tracks"] if t["package"] != package] + tracks
        index["packages"][package] = {
            "version": version,
            "split": split,
            "tracks": len(tracks),
            "minutes": round(sum(t["duration"] for t in tracks) / 60, 1),
        }
        write_json(index_path, index)
        log(
            f"{package} {version} ({split}): {len(tracks)} tracks, "
            f"{index['packages'][package]['minutes']:.1f} min, {time.perf_counter() - t0:.1f} s"
        )
    return [t for t in load_tracks(index_path) if t["package"] in packages]


def parse_packages(specs: list[str] | None) -> dict[str, str]:
    """`["pkg", "pkg2:eval"]` -> `{"pkg": "train", "pkg2": "eval"}` (a known package keeps its split)."""
    if not specs:
        return dict(DEFAULT_PACKAGES)
    out = {}
    for spec in specs:
        name, _, split = spec.partition(":")
        split = split or DEFAULT_PACKAGES.get(name, "train")
        if not name or split not in ("train", "eval"):
            raise ConfigError(f"bad package spec {spec!r}: use NAME or NAME:train / NAME:eval")
        out[name] = split
    return out


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m recipes.demo_data", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="data/demo", help="data folder (default: data/demo)")
    p.add_argument(
        "--packages",
        nargs="+",
        metavar="PKG[:SPLIT]",
        help="Debian packages (default: " + " ".join(f"{k}:{v}" for k, v in DEFAULT_PACKAGES.items()) + ")",
    )
    p.add_argument("--apt-update", action="store_true", help="run `apt-get update` first (needs root)")
    p.add_argument("--keep-debs", action="store_true", help="keep the .deb files after unpacking")
    p.add_argument("--no-clips", action="store_true", help="only fetch and list the tracks")
    p.add_argument("--clip-seconds", nargs=2, type=float, default=(10.0, 30.0), metavar=("MIN", "MAX"))
    p.add_argument("--sample-rate", type=int, default=24000)
    p.add_argument("--max-clips-per-track", type=int, default=3)
    p.add_argument("--max-minutes", type=float, default=40.0, help="training clips budget, minutes (<=0: no limit)")
    p.add_argument(
        "--max-eval-minutes", type=float, default=10.0, help="evaluation clips budget, minutes (<=0: no limit)"
    )
    p.add_argument("--seed", type=int, default=0)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m recipes.demo_data`."""
    from v2meow.cli.common import parse, run

    args = parse(_parser(), argv)

    def job() -> int:
        t0 = time.perf_counter()
        if args.apt_update:
            debian.apt_update()
        tracks = build_tracks(args.out, parse_packages(args.packages), keep_debs=args.keep_debs)
        print(f"tracks: {len(tracks)} in {Path(args.out) / 'tracks.json'} ({time.perf_counter() - t0:.1f} s)")
        if args.no_clips:
            return 0
        budget = {s: (m if m > 0 else None) for s, m in (("train", args.max_minutes), ("eval", args.max_eval_minutes))}
        clips = cut_clips(
            tracks,
            args.out,
            clip_seconds=tuple(args.clip_seconds),
            sample_rate=args.sample_rate,
            max_clips_per_track=args.max_clips_per_track,
            max_minutes=budget,
            seed=args.seed,
        )
        print(summarize_clips(clips))
        print(f"done in {time.perf_counter() - t0:.1f} s")
        return 0

    return run("recipes.demo_data", job, args=args)


if __name__ == "__main__":
    sys.exit(main())
