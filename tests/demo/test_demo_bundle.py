"""The committed demo bundle: checksums, loading, and a short generation that sounds like something."""

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "checkpoints" / "demo"
pytestmark = pytest.mark.skipif(not (BUNDLE / "pipeline.json").exists(), reason="no demo bundle (make demo-bundle)")


def test_checksums_match_checkpoints_md():
    table = dict(
        re.findall(
            r"\| `(checkpoints/demo/[^`]+)` \| \d+ \| `([0-9a-f]{64})` \|", (ROOT / "checkpoints.md").read_text()
        )
    )
    files = sorted(p for p in BUNDLE.rglob("*") if p.is_file())
    assert files and {p.relative_to(ROOT).as_posix() for p in files} == set(table)
    for p in files:
        assert hashlib.sha256(p.read_bytes()).hexdigest() == table[p.relative_to(ROOT).as_posix()], p
    assert sum(p.stat().st_size for p in files) <= 40 * 2**20


def _flatness(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x.reshape(-1, 1024) * np.hanning(1024), axis=1)) ** 2 + 1e-12  # [frames, bins]
    return float(np.mean(np.exp(np.mean(np.log(spec), 1)) / np.mean(spec, 1)))


def test_generates_five_seconds_of_music_not_silence_or_noise(make_video):
    from v2meow.pipelines import V2MeowPipeline

    pipe = V2MeowPipeline.from_pretrained(BUNDLE)
    out = pipe(make_video(duration=5.0, fps=20, size=(96, 96), pattern="moving"), seed=0)
    wav = out.audio[0, 0].numpy()
    assert wav.shape[0] == 5 * out.sample_rate
    rms = float(np.sqrt(np.mean(wav**2)))
    assert rms > 1e-3  # not silence
    white = np.random.default_rng(0).standard_normal(wav.shape[0]).astype(np.float32)
    assert _flatness(wav[: len(wav) // 1024 * 1024]) < 0.5 * _flatness(white[: len(wav) // 1024 * 1024])  # not noise
    assert torch.isfinite(out.audio).all()


@pytest.mark.parametrize("version", [1, 2])
def test_recipe_manifest_v2_adds_audio_only_training_tracks_with_tempo_placeholders(tmp_path, version):
    import csv
    import json

    from recipes.bundle import Recipe

    data = tmp_path / "data"
    (data / "videos").mkdir(parents=True)
    videos = [
        {"video": "w/a.mp4", "package": "wesnoth-1.16-music", "tempo": 150.0},
        {"video": "u/b.mp4", "package": "ufoai-music", "tempo": 80.0},
    ]
    (data / "videos" / "videos.json").write_text(json.dumps({"videos": videos}))
    tracks = [
        {"path": "packages/w/t.ogg", "package": "wesnoth-1.16-music"},
        {"path": "packages/u/t.ogg", "package": "ufoai-music"},
    ]
    (data / "tracks.json").write_text(json.dumps({"tracks": tracks}))
    runs = tmp_path / "runs"
    runs.mkdir()
    Recipe(data, runs, tmp_path / "out", tmp_path / "configs", version).manifest()
    rows = list(csv.DictReader((runs / "manifest.csv").open()))
    if version == 1:
        assert [r["caption"] for r in rows] == ["fast orchestral fantasy", "slow ambient sci-fi"] and all(
            r["video"] for r in rows
        )
        return
    assert [r["caption"] for r in rows[:2]] == ["{tempo} orchestral fantasy", "{tempo} ambient sci-fi"]
    audio_only = [r for r in rows if not r["video"]]  # the held-out package's tracks stay out of training
    assert (
        len(audio_only) == 1
        and audio_only[0]["audio"].endswith("packages/w/t.ogg")
        and audio_only[0]["split"] == "train"
    )


def test_recipe_v2_codec_step_fits_the_mel_codec_on_the_whole_training_tracks(tmp_path, monkeypatch):
    import json

    from recipes import bundle

    data = tmp_path / "data"
    for pkg in ("wesnoth-1.16-music", "ufoai-music"):
        (data / "packages" / pkg).mkdir(parents=True)
        (data / "packages" / pkg / "t.ogg").write_bytes(b"x")
    tracks = [
        {"id": f"{p}/t", "path": f"packages/{p}/t.ogg", "package": p} for p in ("wesnoth-1.16-music", "ufoai-music")
    ]
    (data / "tracks.json").write_text(json.dumps({"tracks": tracks}))
    calls = []
    monkeypatch.setattr(bundle, "_run", calls.append)
    recipe = bundle.Recipe(data, tmp_path / "runs", tmp_path / "out", tmp_path / "configs", 2)
    recipe.link_train_tracks()
    linked = sorted(p.relative_to(data / "train_tracks").as_posix() for p in (data / "train_tracks").rglob("*.ogg"))
    assert linked == ["wesnoth-1.16-music/wesnoth-1.16-music_t.ogg"]  # the held-out package stays out
    recipe.codec()
    train, fit = calls
    assert (
        train[train.index("--data") + 1].endswith("train_audio") and "codec_vocoder" in train[train.index("--out") + 1]
    )
    assert "fit-mel" in fit and fit[fit.index("--audio") + 1].endswith("train_tracks")
    assert fit[fit.index("--inversion") + 1] == "griffin_lim" and fit[fit.index("--from") + 1].endswith(
        "codec_vocoder/codec"
    )
