"""Beat markers for video editors: beats and downbeats of a click track, CSV and EDL, the CLI option."""

import numpy as np
import pytest

from v2meow.errors import ConfigError
from v2meow.signal.markers import Markers, beat_markers, check_suffix, timecode, write_markers

SR = 16000


def click_track(bpm=120.0, seconds=8.0, first=0.25, kick_on=1):
    """Clicks every beat from `first`; every 4th beat (from beat `kick_on`) a 60-Hz kick, the others a 2-kHz tick."""
    x = np.zeros(int(seconds * SR), np.float32)
    n = np.arange(800)
    for i, b in enumerate(np.arange(first, seconds - 0.1, 60.0 / bpm)):
        s = int(b * SR)
        if i % 4 == kick_on:
            x[s : s + 800] += np.sin(2 * np.pi * 60 * n / SR) * np.exp(-n / 300)
        else:
            x[s : s + 800] += 0.5 * np.sin(2 * np.pi * 2000 * n / SR) * np.exp(-n / 100)
    return x


@pytest.mark.parametrize("kick_on", [0, 1, 3])
def test_beats_of_a_click_track_and_its_bars(kick_on):
    m = beat_markers(click_track(kick_on=kick_on), SR)
    want = np.arange(0.25, 7.9, 0.5)
    assert m.times.shape == want.shape and np.abs(m.times - want).max() < 0.03
    assert np.flatnonzero(m.downbeat).tolist() == list(range(kick_on, len(want), 4))


def test_csv_and_edl(tmp_path):
    m = Markers(times=np.array([0.5, 1.0, 61.04]), downbeat=np.array([True, False, False]))
    csv = write_markers(tmp_path / "m.csv", m).read_text().splitlines()
    assert csv == ["time_s,downbeat", "0.500,1", "1.000,0", "61.040,0"]
    edl = write_markers(tmp_path / "m.EDL", m, fps=25.0, title="clip").read_text()
    assert edl.startswith("TITLE: clip\nFCM: NON-DROP FRAME\n")
    events = [line for line in edl.splitlines() if line[:3].isdigit()]
    assert [e.split()[4] for e in events] == ["00:00:00:12", "00:00:01:00", "00:01:01:01"]
    assert edl.count("|C:ResolveColorRed |M:Downbeat") == 1 and edl.count("|M:Beat") == 2
    assert timecode(3600 + 0.5, 30) == "01:00:00:15" and timecode(1.0, 29.97) == "00:00:01:00"


def test_unknown_format_and_quiet_music(tmp_path):
    with pytest.raises(ConfigError, match=r"\.csv or \.edl"):
        check_suffix(tmp_path / "m.txt")
    m = beat_markers(np.zeros(SR * 3, np.float32), SR)
    assert m.times.shape == (0,) and write_markers(tmp_path / "q.csv", m).read_text() == "time_s,downbeat\n"


def test_generate_writes_markers(tmp_path, make_video, capsys):
    from v2meow.cli.generate import main
    from v2meow.pipelines.debug import build_debug_bundle

    bundle = build_debug_bundle(tmp_path / "b")
    video = make_video("v.mp4", duration=3.0, fps=10, size=(32, 32))
    base = ["--video", str(video), "--bundle", str(bundle), "--out", str(tmp_path / "o.wav"), "--quiet"]
    assert main([*base, "--markers", str(tmp_path / "beats.edl")]) == 0
    assert capsys.readouterr().out.split() == [str(tmp_path / "o.wav"), str(tmp_path / "beats.edl")]
    assert (tmp_path / "beats.edl").read_text().startswith("TITLE: v\n")
    for argv, words in (
        ([*base, "--markers", str(tmp_path / "beats.txt")], ".csv or .edl"),
        (
            ["--video-dir", str(tmp_path), "--out-dir", str(tmp_path / "x"), "--markers", str(tmp_path / "m.csv")],
            "--video",
        ),
        ([*base, "--markers", str(video)], "--markers"),
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert words in err and len(err.splitlines()) == 1, err
