"""Fetch Debian packages without installing them, and read their licences.

`apt-get download` fetches a `.deb` into a folder (no root needed once the package
lists exist), `dpkg -x` unpacks it, and game archives (`.pk3`, `.zip`) inside are
opened with `zipfile` for their audio members. The licence of a file comes from the
package's `usr/share/doc/<pkg>/copyright`: machine-readable (DEP-5) files give the
`License:` of the last `Files:` paragraph that matches; free-form files give the
first licence statement, recognised by a few patterns.
"""

from __future__ import annotations

import fnmatch
import os
import re
import subprocess
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from v2meow.errors import V2MeowError

#: Suffixes of the audio files the recipe keeps.
AUDIO_SUFFIXES = (".ogg", ".oga", ".opus", ".flac", ".wav", ".mp3")
#: Suffixes of zip-format game archives whose audio members are extracted.
ARCHIVE_SUFFIXES = (".pk3", ".zip")

#: `runner(cmd, cwd)` runs a command and returns its completed process (stdout/stderr text).
Runner = Callable[[list[str], Path], subprocess.CompletedProcess]


class PackageError(V2MeowError):
    """A Debian package cannot be fetched or unpacked."""


class PackageNotFoundError(PackageError):
    """apt does not know the package (wrong name, or stale package lists)."""


def run_command(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run `cmd` in `cwd`, capturing text output; a missing program is a `PackageError`."""
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise PackageError(
            f"{cmd[0]}: program not found; the demo data recipe needs a Debian or Ubuntu system (apt-get, dpkg)"
        ) from None


def _last_error(stderr: str) -> str:
    lines = [ln.strip() for ln in (stderr or "").splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("E:")]
    return (errors or lines or ["no message"])[-1][:300]


def apt_update(runner: Runner | None = None) -> None:
    """Refresh apt's package lists (`apt-get update`; needs root)."""
    res = (runner or run_command)(["apt-get", "update"], Path.cwd())
    if res.returncode != 0:
        raise PackageError(f"apt-get update failed ({_last_error(res.stderr)}); run it as root")


def download(package: str, dest_dir: Path, runner: Runner | None = None) -> Path:
    """`apt-get download package` in a temporary folder, then move the `.deb` into `dest_dir`.

    Raises:
        PackageNotFoundError: apt does not know `package`.
        PackageError: any other failure (network, several or no `.deb` produced).
    """
    dest_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".apt-", dir=dest_dir) as tmp:
        res = (runner or run_command)(["apt-get", "download", package], Path(tmp))
        if res.returncode != 0:
            msg = res.stderr or ""
            if "Unable to locate package" in msg or "no installation candidate" in msg:
                raise PackageNotFoundError(
                    f"{package}: apt cannot find this package; check the name, or refresh the "
                    "package lists once with `apt-get update` (as root; or pass --apt-update)"
                )
            raise PackageError(f"{package}: apt-get download failed ({_last_error(msg)})")
        debs = sorted(Path(tmp).glob("*.deb"))
        if len(debs) != 1:
            raise PackageError(f"{package}: apt-get download left {len(debs)} .deb files, expected 1")
        final = dest_dir / debs[0].name
        os.replace(debs[0], final)
    return final


def unpack(deb: Path, dest: Path, runner: Runner | None = None) -> None:
    """`dpkg -x deb dest`: unpack the package's files (no scripts run, nothing installed)."""
    dest.mkdir(parents=True, exist_ok=True)
    deb, dest = deb.resolve(), dest.resolve()
    res = (runner or run_command)(["dpkg", "-x", str(deb), str(dest)], dest.parent)
    if res.returncode != 0:
        raise PackageError(f"{deb.name}: dpkg -x failed ({_last_error(res.stderr)})")


def extract_archives(root: Path, remove: bool = True) -> int:
    """Extract the audio members of every zip-format game archive under `root`.

    Members land beside the archive (`base/0music.pk3:music/a.ogg` -> `base/music/a.ogg`),
    where the game would see them, so the copyright file's `Files:` patterns still match.

    Args:
        root: an unpacked package.
        remove: delete each archive once its audio is out (it would double the disk use).

    Returns:
        The number of audio files extracted.
    """
    count = 0
    for archive in sorted(p for p in root.rglob("*") if p.suffix.lower() in ARCHIVE_SUFFIXES and p.is_file()):
        try:
            with zipfile.ZipFile(archive) as z:
                for info in z.infolist():
                    name = PurePosixPath(info.filename)
                    if info.is_dir() or name.suffix.lower() not in AUDIO_SUFFIXES:
                        continue
                    if name.is_absolute() or ".." in name.parts:
                        raise PackageError(f"{archive}: unsafe member path {info.filename!r}")
                    target = archive.parent.joinpath(*name.parts)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with z.open(info) as src, open(target, "wb") as dst:
                        while chunk := src.read(1 << 20):
                            dst.write(chunk)
                    count += 1
        except zipfile.BadZipFile:
            raise PackageError(f"{archive}: not a readable zip archive") from None
        if remove:
            archive.unlink()
    return count


@dataclass
class Licence:
    """The licence of one file and where it was read."""

    name: str  # short name, e.g. "GPL-2+", "CC-BY-SA-3.0"; "unknown" if not recognised
    source: str  # e.g. "DEP-5 Files: base/music/a.ogg" or "free-form: first licence statement"


def parse_paragraphs(text: str) -> list[dict[str, str]]:
    """Split a deb822 text into paragraphs of `{field: value}` (continuation lines joined by newlines)."""
    paragraphs: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last = None
    for line in text.splitlines():
        if not line.strip():
            if current:
                paragraphs.append(current)
            current, last = {}, None
        elif line[0] in " \t" and last is not None:
            current[last] += "\n" + line.strip()
        elif ":" in line:
            last, value = line.split(":", 1)
            last = last.strip()
            current[last] = value.strip()
    if current:
        paragraphs.append(current)
    return paragraphs


# (pattern over lower-cased, whitespace-collapsed text, licence name); first hit wins
_FREE_FORM = (
    (r"(?:lesser|library) general public license.{0,80}?version (\d)(?:\.\d)?.{0,60}?later", r"LGPL-\1+"),
    (r"general public license.{0,80}?version (\d).{0,60}?later", r"GPL-\1+"),
    (r"general public license.{0,80}?version (\d)", r"GPL-\1"),
    (r"creative commons attribution[- ]sharealike (\d\.\d)", r"CC-BY-SA-\1"),
    (r"creative commons attribution (\d\.\d)", r"CC-BY-\1"),
    (r"public domain", "public-domain"),
)


def guess_licence(statement: str) -> str:
    """A short licence name for a free-form licence statement, or "unknown"."""
    text = " ".join(statement.lower().split())
    for pattern, name in _FREE_FORM:
        m = re.search(pattern, text)
        if m:
            return m.expand(name)
    return "unknown"


class CopyrightFile:
    """A package's `copyright` file, asked for the licence of installed files."""

    def __init__(self, text: str, path: str = "copyright"):
        self.path = path
        paragraphs = parse_paragraphs(text)
        self.machine_readable = bool(paragraphs) and "Format" in paragraphs[0]
        # (patterns, licence short name) of each Files paragraph, in file order
        self.files = [
            (p["Files"].split(), p.get("License", "").splitlines()[0].strip() if p.get("License") else "unknown")
            for p in paragraphs
            if "Files" in p
        ]
        self._free_form = None if self.machine_readable else guess_licence(_first_statement(text))

    @classmethod
    def read(cls, path: Path) -> CopyrightFile:
        """Parse the copyright file at `path`."""
        return cls(path.read_text(encoding="utf-8", errors="replace"), str(path))

    def licence_for(self, installed: str) -> Licence:
        """The licence of the file installed at `installed` (e.g. `usr/share/games/x/music/a.ogg`).

        DEP-5 patterns name paths in the source tree, so a pattern matches when it
        matches any tail of the installed path; the last matching paragraph wins.
        """
        if not self.machine_readable:
            return Licence(self._free_form or "unknown", "free-form copyright file: first licence statement")
        parts = PurePosixPath(installed).parts
        tails = ["/".join(parts[i:]) for i in range(len(parts))]
        found = None
        for patterns, name in self.files:
            hit = next((p for p in patterns if any(fnmatch.fnmatchcase(t, p) for t in tails)), None)
            if hit is not None:
                found = Licence(name or "unknown", f"DEP-5 Files: {hit}")
        return found or Licence("unknown", "DEP-5: no Files paragraph matches")


def _first_statement(text: str) -> str:
    """The first `License:` section of a free-form file, up to a `-----` rule (or the whole text)."""
    m = re.search(r"^licen[cs]e:?", text, re.IGNORECASE | re.MULTILINE)
    body = text[m.end() :] if m else text
    return re.split(r"^\s*-{4,}\s*$", body, maxsplit=1, flags=re.MULTILINE)[0]
