"""The music visualizer: deterministic, motion follows onsets, pulse videos pulse at their tempo."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

from recipes import render as render_cli
from recipes._jsonio import write_json
from recipes.analysis import analyze
from recipes.visualizer import render, render_pulse
from v2meow.errors import ConfigError
from v2meow.features.registry import build_extractor
from v2meow.features.video import extract_video
from v2meow.media import probe, write_audio

SR = 24000


def click_track(seconds: float = 12.0, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Noise-burst clicks at irregular times (0.3-0.9 s apart) over faint noise: `(wav [N], click times)`."""
    rng = np.random.default_rng(seed)
    times = np.cumsum(rng.uniform(0.3, 0.9, 64))
    times = times[times < seconds - 0.2]
    x = 0.005 * rng.standard_normal(round(seconds * SR))
    n = round(0.05 * SR)
    for t in times:
        i = round(t * SR)
        x[i : i + n] += 0.8 * np.exp(-np.arange(n) / (0.01 * SR)) * rng.standard_normal(n)
    return x.astype(np.float32), times


def motion(path: Path) -> np.ndarray:
    """`motion_mean` at 10 Hz."""
    return extract_video(build_extractor("motion"), path).features[:, 0].double().numpy()


def video_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.video[0]) if p.size]


def corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


def test_analysis_finds_clicks_and_tempo():
    x, times = click_track()
    a = analyze(x, SR)
    assert len(a.onsets) == len(times)
    assert np.abs(a.onsets - times).max() < 0.03
    t = np.arange(0, 10, 0.5) + 0.25  # a 120-BPM metronome
    y = np.zeros(10 * SR, np.float32)
    for b in t:
        y[round(b * SR) : round(b * SR) + 600] = np.sin(np.arange(600) * 0.3)
    m = analyze(y, SR)
    assert m.tempo == pytest.approx(120, rel=0.02)
    assert np.abs(m.beats[:, None] - t[None]).min(1).max() < 0.03


def test_render_is_deterministic_and_muxes_the_music(tmp_path):
    x, _ = click_track(4.0)
    a, b = render(x, SR, tmp_path / "a.mp4"), render(x, SR, tmp_path / "b.mp4")
    assert video_packets(tmp_path / "a.mp4") == video_packets(tmp_path / "b.mp4")
    assert a.frames == b.frames == 80
    info = probe(tmp_path / "a.mp4")
    assert info.has_audio and info.sample_rate == SR and (info.height, info.width) == (96, 96)
    assert info.duration == pytest.approx(4.0, abs=0.06)
    assert (tmp_path / "a.mp4").stat().st_size < 100_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4", "b.mp4"]  # no temporary left over
    render_pulse(100, 3, tmp_path / "p.mp4", seed=2)
    render_pulse(100, 3, tmp_path / "q.mp4", seed=2)
    assert video_packets(tmp_path / "p.mp4") == video_packets(tmp_path / "q.mp4")


def test_motion_follows_the_onsets(tmp_path):
    x, _ = click_track()
    render(x, SR, tmp_path / "v.mp4")
    m = motion(tmp_path / "v.mp4")  # [120]
    hop = SR // 100  # audio onset envelope: positive rise of log RMS (10-ms frames), max per 0.1-s step
    log_rms = np.log(np.sqrt(np.mean(x[: len(x) // hop * hop].reshape(-1, hop) ** 2, 1)) + 1e-4)
    rise = np.maximum(0.0, np.diff(log_rms, prepend=log_rms[0]))[: len(m) * 10].reshape(len(m), 10).max(1)
    onset = np.maximum(rise, np.concatenate([[0.0], rise[:-1]]))  # a picture may come up to one step late
    c = corr(m, onset)
    rng = np.random.default_rng(0)
    shuffled = [corr(rng.permutation(m), onset) for _ in range(300)]
    assert c > 0.5 and c > np.percentile(shuffled, 99) + 0.2, (c, np.percentile(shuffled, 99))


@pytest.mark.parametrize("bpm, lag", [(120, 5), (75, 8)])
def test_pulse_motion_period_matches_the_tempo(tmp_path, bpm, lag):
    info = render_pulse(bpm, 10.0, tmp_path / "p.mp4")
    assert info.tempo == bpm and info.frames == 200 and not probe(tmp_path / "p.mp4").has_audio
    m = motion(tmp_path / "p.mp4")
    m = m - m.mean()
    ac = np.array([m[: len(m) - k] @ m[k:] / (m @ m) for k in range(lag + 4)])
    assert int(np.argmax(ac[2:])) + 2 == lag and ac[lag] > 0.2, np.round(ac, 2)


def test_render_silence_and_bad_settings(tmp_path):
    info = render(np.zeros(SR * 2, np.float32), SR, tmp_path / "s.mp4")
    assert info.tempo is None and info.onsets == 0
    with pytest.raises(ConfigError, match="even"):
        render_pulse(120, 1, tmp_path / "x.mp4", size=(95, 96))
    with pytest.raises(ConfigError, match="bpm"):
        render_pulse(0, 1, tmp_path / "x.mp4")


def test_render_cli_is_resumable(tmp_path, capsys):
    x, _ = click_track(3.0)
    clips = []
    (tmp_path / "clips" / "pkg").mkdir(parents=True)
    for i in range(2):
        write_audio(tmp_path / "clips" / "pkg" / f"c{i}.wav", x[None] * (i + 1) / 2, SR)
        clips.append(
            {
                "id": f"pkg/c{i}",
                "path": f"clips/pkg/c{i}.wav",
                "track": "pkg/t",
                "package": "pkg",
                "split": "train",
                "licence": "GPL-2+",
                "offset": 0.0,
                "duration": 3.0,
            }
        )
    write_json(tmp_path / "clips.json", {"clips": clips})
    args = ["--clips", str(tmp_path / "clips.json"), "--out", str(tmp_path / "videos"), "--preview", "1"]
    assert render_cli.main(args) == 0
    index = json.loads((tmp_path / "videos" / "videos.json").read_text())
    assert [v["id"] for v in index["videos"]] == ["pkg/c0", "pkg/c1"]
    assert index["videos"][0]["licence"] == "GPL-2+" and index["videos"][0]["video"] == "pkg/c0.mp4"
    assert (tmp_path / "videos" / "pkg" / "c0.png").exists()
    stamp = (tmp_path / "videos" / "pkg" / "c1.mp4").stat().st_mtime_ns
    assert render_cli.main(args) == 0
    assert (tmp_path / "videos" / "pkg" / "c1.mp4").stat().st_mtime_ns == stamp
    again = json.loads((tmp_path / "videos" / "videos.json").read_text())
    assert (
        again == index and (tmp_path / "videos" / again["videos"][1]["clip"]).resolve() == tmp_path / "clips/pkg/c1.wav"
    )
