"""The demo data recipe with a fake apt: tracks.json with licences, clips, resumability, errors."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from recipes import debian, demo_data
from recipes.clips import cut_clips, load_clips
from v2meow.media import write_audio

SR = 16000
DEP5 = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Source: https://example.org

Files: *
Copyright: 2020 Someone
License: GPL-2+

Files: music/special.ogg
Copyright: 2021 Composer
License: CC-BY-SA-3.0
 Some licence text.
"""
FREE_FORM = """This package was debianized by someone.

License:
        This program is free software; you can redistribute it and/or modify
        it under the terms of the GNU General Public License version 2
        or at your option any later version.
        -----
        other/ is under the GNU Lesser General Public License version 3.
"""


def music(seconds: float, seed: int, lead: float = 1.0, tail: float = 1.0) -> np.ndarray:
    """`[1, N]` silence, then tones with note onsets every 0.25 s, then silence."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * SR)) / SR
    notes = 0.3 * np.sin(2 * np.pi * rng.choice([220, 330, 440], len(t) // (SR // 4) + 1).repeat(SR // 4)[: len(t)] * t)
    notes *= np.exp(-((t % 0.25) / 0.1))
    return np.concatenate([np.zeros(round(lead * SR)), notes, np.zeros(round(tail * SR))])[None].astype(np.float32)


def game_tree(dest: Path) -> None:
    """A DEP-5 package with two tracks, an album.json and an upstream licence file."""
    doc, mus = dest / "usr/share/doc/game-music", dest / "usr/share/games/game/music"
    doc.mkdir(parents=True)
    mus.mkdir(parents=True)
    (doc / "copyright").write_text(DEP5)
    write_audio(mus / "a.ogg", music(6.0, 0), SR)
    write_audio(mus / "special.ogg", music(5.0, 1), SR)
    (mus / "album.json").write_text(json.dumps({"tracks": [{"filename": "a.ogg", "title": "A", "bpm": 120}]}))
    (mus / "license.txt").write_text("CC-BY-SA-3.0 or GPL-2+")


def archive_tree(dest: Path) -> None:
    """A free-form-copyright package whose music is inside a .pk3 (zip) archive."""
    doc, base = dest / "usr/share/doc/arch-music", dest / "usr/share/games/arch/base"
    doc.mkdir(parents=True)
    base.mkdir(parents=True)
    (doc / "copyright").write_text(FREE_FORM)
    write_audio(base / "x.ogg", music(4.0, 2), SR)
    with zipfile.ZipFile(base / "0music.pk3", "w") as z:
        z.write(base / "x.ogg", "music/x.ogg")
        z.writestr("maps/readme.txt", "not audio")
    (base / "x.ogg").unlink()


class FakeApt:
    """Answers `apt-get download` and `dpkg -x` for the packages it knows, like apt would."""

    def __init__(self):
        self.trees = {"game-music": game_tree, "arch-music": archive_tree}
        self.calls: list[list[str]] = []

    def __call__(self, cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
        self.calls.append(cmd)
        if cmd[:2] == ["apt-get", "download"]:
            if cmd[2] not in self.trees:
                return subprocess.CompletedProcess(cmd, 100, "", f"E: Unable to locate package {cmd[2]}\n")
            (cwd / f"{cmd[2]}_1%3a2.0-1_all.deb").write_bytes(b"!<arch>\n")
            return subprocess.CompletedProcess(cmd, 0, "", "")
        if cmd[:2] == ["dpkg", "-x"]:
            self.trees[Path(cmd[2]).name.split("_")[0]](Path(cmd[3]))
            return subprocess.CompletedProcess(cmd, 0, "", "")
        raise AssertionError(f"unexpected command {cmd}")


PACKAGES = {"game-music": "train", "arch-music": "eval"}


@pytest.fixture
def recipe(tmp_path):
    apt = FakeApt()
    tracks = demo_data.build_tracks(tmp_path / "demo", PACKAGES, runner=apt, log=lambda s: None)
    return tmp_path / "demo", tracks, apt


def test_tracks_json_lists_tracks_with_licences(recipe):
    out, tracks, _ = recipe
    by_id = {t["id"]: t for t in tracks}
    assert set(by_id) == {"game-music/a", "game-music/special", "arch-music/x"}
    assert by_id["game-music/a"]["licence"] == "GPL-2+"
    assert by_id["game-music/special"]["licence"] == "CC-BY-SA-3.0"
    assert by_id["game-music/special"]["licence_source"] == "DEP-5 Files: music/special.ogg"
    assert by_id["arch-music/x"]["licence"] == "GPL-2+"  # free-form: the first statement, not the LGPL one
    assert by_id["arch-music/x"]["split"] == "eval" and by_id["game-music/a"]["split"] == "train"
    assert by_id["game-music/a"]["meta"] == {"title": "A", "bpm": 120}
    assert by_id["game-music/a"]["duration"] == pytest.approx(8.0, abs=0.05)
    assert any(p.endswith("license.txt") for p in by_id["game-music/a"]["licence_files"])
    index = json.loads((out / "tracks.json").read_text())
    assert index["packages"]["game-music"]["version"] == "1:2.0-1"
    for t in index["tracks"]:  # paths in the index are relative to it
        assert not Path(t["path"]).is_absolute() and (out / t["path"]).exists()
    assert not list((out / "debs").glob("*.deb"))  # removed once unpacked
    assert not list(out.rglob("*.pk3"))  # the archive's audio is out, the archive gone


def test_rerun_fetches_nothing(recipe):
    out, tracks, apt = recipe
    n_calls = len(apt.calls)
    again = demo_data.build_tracks(out, PACKAGES, runner=apt, log=lambda s: None)
    assert len(apt.calls) == n_calls
    assert again == tracks


def test_missing_package_is_one_clear_error(tmp_path):
    with pytest.raises(debian.PackageNotFoundError, match="no-such-music: apt cannot find this package"):
        demo_data.build_tracks(tmp_path, {"no-such-music": "train"}, runner=FakeApt())


def test_cli_missing_package_exits_2_with_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(debian, "run_command", FakeApt())
    assert demo_data.main(["--out", str(tmp_path), "--packages", "game-music", "no-such-music"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no-such-music" in err[0] and "apt-get update" in err[0]
    assert "game-music" in json.loads((tmp_path / "tracks.json").read_text())["packages"]  # finished work kept


def test_cut_clips_deterministic_within_bounds_and_skips_silence(recipe, tmp_path):
    _, tracks, _ = recipe
    kw = dict(clip_seconds=(1.0, 2.5), sample_rate=8000, max_clips_per_track=3, seed=3, log=lambda s: None)
    a = cut_clips(tracks, tmp_path / "a", **kw)
    b = cut_clips(tracks, tmp_path / "b", **kw)
    assert len(a) == 9

    def strip(cs):
        return [{k: v for k, v in c.items() if k != "path"} for c in cs]

    assert strip(a) == strip(b)
    for ca, cb in zip(a, b, strict=True):
        assert Path(ca["path"]).read_bytes() == Path(cb["path"]).read_bytes()
    durations = {t["id"]: t["duration"] for t in tracks}
    for c in a:
        assert 1.0 <= c["duration"] <= 2.5
        assert c["offset"] >= 0.9 and c["offset"] + c["duration"] <= durations[c["track"]] - 0.9  # 1-s silences
        wav, sr = sf.read(c["path"])
        assert sr == 8000 and wav.ndim == 1 and len(wav) == round(c["duration"] * sr)
    assert {c["licence"] for c in a} == {"GPL-2+", "CC-BY-SA-3.0"}
    c = cut_clips(tracks, tmp_path / "c", **{**kw, "seed": 4})
    assert [x["offset"] for x in c] != [x["offset"] for x in a]


def test_cut_clips_budget_and_resume(recipe, tmp_path):
    _, tracks, _ = recipe
    kw = dict(clip_seconds=(1.0, 1.0), sample_rate=8000, max_clips_per_track=3, log=lambda s: None)
    clips = cut_clips(tracks, tmp_path, max_minutes={"train": 3 / 60, "eval": None}, **kw)
    train = [c for c in clips if c["split"] == "train"]
    assert sum(c["duration"] for c in train) == pytest.approx(3.0)
    assert len({c["track"] for c in train}) == 2  # the budget is spread over the tracks
    assert load_clips(tmp_path / "clips.json") == clips
    stamps = {c["path"]: Path(c["path"]).stat().st_mtime_ns for c in clips}
    again = cut_clips(tracks, tmp_path, max_minutes={"train": 3 / 60, "eval": None}, **kw)
    assert again == clips and all(Path(p).stat().st_mtime_ns == t for p, t in stamps.items())


def test_copyright_parsing_last_match_wins_and_guesses():
    rights = debian.CopyrightFile(DEP5)
    assert rights.licence_for("usr/share/games/game/music/special.ogg").name == "CC-BY-SA-3.0"
    assert rights.licence_for("usr/share/games/game/music/other.ogg").name == "GPL-2+"
    assert debian.guess_licence("Creative Commons Attribution-ShareAlike 3.0 Unported") == "CC-BY-SA-3.0"
    assert debian.guess_licence("all rights reserved") == "unknown"


def test_interrupted_unpack_reuses_the_download(tmp_path):
    apt = FakeApt()
    (tmp_path / "packages" / ".game-music.partial").mkdir(parents=True)  # a half-done unpack
    (tmp_path / "debs").mkdir()
    (tmp_path / "debs" / "game-music_2.0_all.deb").write_bytes(b"!<arch>\n")
    root, version = demo_data.fetch_package("game-music", tmp_path, runner=apt)
    assert [c[0] for c in apt.calls] == ["dpkg"] and version == "2.0"
    assert (root / "usr/share/games/game/music/a.ogg").exists()
    assert not (tmp_path / "packages" / ".game-music.partial").exists()
