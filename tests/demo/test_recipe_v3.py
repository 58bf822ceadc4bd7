"""Demo recipes 3 and 4: a validation split by track (no crop of a validation track is ever trained on); recipe 4's stretched cache."""

import csv
import json
from collections import defaultdict

from recipes.bundle import TRAIN_PACKAGES, VALID_EVERY, Recipe, held_out_tracks


def _fake_data(root, tracks_per_package=15, clips_per_track=2):
    """data/demo as `make demo-data` leaves it: tracks.json, and visualizer clips cut from each track."""
    tracks, videos = [], []
    for package in (*TRAIN_PACKAGES, "ufoai-music"):
        for i in range(tracks_per_package):
            track = f"{package}/t{i:02d}"
            tracks.append({"id": track, "path": f"packages/{track}.ogg", "package": package, "duration": 60.0})
            videos += [
                {"id": f"{track}-{c}", "video": f"{track}-{c}.mp4", "track": track, "package": package, "tempo": 100.0}
                for c in range(clips_per_track)
            ]
    (root / "videos").mkdir(parents=True)
    (root / "videos" / "videos.json").write_text(json.dumps({"videos": videos}))
    (root / "tracks.json").write_text(json.dumps({"tracks": tracks}))
    return tracks


def test_held_out_tracks_are_every_nth_training_track_by_sorted_id():
    tracks = [{"id": f"{p}/t{i:02d}", "package": p} for p in (*TRAIN_PACKAGES, "ufoai-music") for i in range(13)]
    ids = sorted(t["id"] for t in tracks if t["package"] in TRAIN_PACKAGES)
    assert held_out_tracks(tracks) == {ids[0], ids[VALID_EVERY], ids[2 * VALID_EVERY]}


def test_recipe_3_manifest_puts_each_track_wholly_in_one_split(tmp_path):
    tracks = _fake_data(tmp_path / "data")
    runs = tmp_path / "runs"
    runs.mkdir()
    Recipe(tmp_path / "data", runs, tmp_path / "out", tmp_path / "configs", 3).manifest()
    rows = list(csv.DictReader((runs / "manifest.csv").open()))
    by_path = {p: t["id"] for t in tracks for p in (t["path"], f"{t['id']}-0.mp4", f"{t['id']}-1.mp4")}
    splits = defaultdict(set)  # track -> the splits its rows (audio and clips) are in
    for r in rows:
        path = r["video"] or r["audio"]
        track = next(t for p, t in by_path.items() if path.endswith(p))
        splits[track].add(r["split"])
    assert all(len(s) == 1 for s in splits.values()), {t: s for t, s in splits.items() if len(s) > 1}
    valid = {t for t, s in splits.items() if s == {"valid"}}
    assert valid == held_out_tracks(tracks) and len(valid) == 3  # 30 training tracks: the 1st, 13th and 25th
    assert all(s == {"eval"} for t, s in splits.items() if t.startswith("ufoai"))  # the held-out package
    assert sum(1 for r in rows if r["split"] == "valid") == 3 * 3  # each valid track: its audio row and its two clips
    assert all(r["caption"].startswith("{tempo} {energy} {brightness} ") for r in rows)


def test_recipes_1_and_2_keep_every_training_track_in_train(tmp_path):
    _fake_data(tmp_path / "data")
    for version in (1, 2):
        runs = tmp_path / f"runs{version}"
        runs.mkdir()
        Recipe(tmp_path / "data", runs, tmp_path / "out", tmp_path / "configs", version).manifest()
        assert {r["split"] for r in csv.DictReader((runs / "manifest.csv").open())} == {"train", "eval"}


def test_recipe_4_prepares_tempo_stretched_copies_and_trains_stage_1_on_them(tmp_path, monkeypatch):
    from pathlib import Path

    import recipes.bundle as bundle

    ran = []
    monkeypatch.setattr(bundle, "_run", ran.append)
    configs = Path(__file__).resolve().parents[2] / "configs" / "demo" / "v4"
    recipe = Recipe(tmp_path / "data", tmp_path / "runs", tmp_path / "out", configs, 4)
    recipe.prepare()
    recipe.stage("stage1")
    prepare, stage1 = ran
    cache = str(tmp_path / "runs" / "cache_stretch")
    assert prepare[prepare.index("--out") + 1] == cache
    assert prepare[prepare.index("--stretch") + 1] == bundle.V2_STRETCH  # recipe 3's factors
    assert stage1[stage1.index("--data") + 1] == cache
    config = Path(stage1[stage1.index("--config") + 1])
    assert config == configs / "stage1_stretch.yaml" and config.is_file()
    assert "cache: runs/demo_v4/cache_stretch" in config.read_text()  # the config alone trains on the same cache
