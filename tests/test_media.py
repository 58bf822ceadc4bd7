import math
import os

import av
import numpy as np
import pytest
import torch

from v2meow import media
from v2meow.errors import MediaError, NoAudioStreamError, NoVideoStreamError, OutputError, UnreadableMediaError


@pytest.mark.parametrize("fps", [25, 30000 / 1001, 7])
@pytest.mark.parametrize("rate", [1.0, 10.0])
def test_frame_grid_matches_rate(make_video, fps, rate):
    path = make_video(duration=3.0, fps=fps, pattern="counter")
    out = media.read_frames(path, rate=rate, size=(16, 24))
    info = media.probe(path)
    assert out.frames.shape == (math.ceil(info.duration * rate - 1e-6), 3, 16, 24)
    assert out.frames.dtype == torch.uint8
    torch.testing.assert_close(out.times, torch.arange(len(out.times), dtype=torch.float64) / rate)
    # the frame shown at time t is the last source frame that started at or before t
    src = torch.floor(out.times * fps + 1e-6) / fps
    torch.testing.assert_close(out.source_times, src, atol=2e-3, rtol=0)
    # and its pixels are that frame's (brightness encodes the frame index)
    idx = torch.round(out.source_times * fps).long()
    expected = (idx * 7) % 256
    got = out.frames[:, 0].float().mean(dim=(1, 2))
    assert (got - expected).abs().max() < 6


def test_frames_start_and_duration(make_video):
    path = make_video(duration=4.0, fps=25, pattern="counter")
    out = media.read_frames(path, rate=5, start=1.0, duration=2.0)
    assert out.frames.shape[0] == 10
    assert out.times[0] == pytest.approx(1.0)
    assert out.source_times[0] == pytest.approx(1.0, abs=1e-3)
    assert out.frames.shape[2:] == (64, 96)  # source size kept


def test_short_side_resize_keeps_aspect(make_video):
    path = make_video(duration=1.0, size=(64, 128))
    assert media.read_frames(path, rate=2, size=32).frames.shape[2:] == (32, 64)


def test_one_frame_video(make_video):
    path = make_video(duration=0.04, fps=25)
    out = media.read_frames(path, rate=1.0)
    assert out.frames.shape[0] == 1


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".ogg", ".opus", ".mp3", ".aac", ".m4a"])
def test_read_audio_formats(make_audio, tmp_path, suffix):
    make_audio(f"tone{suffix}", duration=1.0, rate=48000, channels=2)
    wav, sr = media.read_audio(tmp_path / f"tone{suffix}", sample_rate=16000, channels=1)
    assert sr == 16000 and wav.dtype == torch.float32 and wav.shape[0] == 1
    assert abs(wav.shape[1] - 16000) < 0.1 * 16000  # lossy codecs pad a little
    assert wav.abs().max() <= 1.0


def test_resampling_is_band_limited(make_audio, tmp_path):
    # a 1 kHz tone at 44.1 kHz resampled to 16 kHz keeps its frequency and level, with no aliases
    make_audio("tone.wav", duration=1.0, rate=44100, freq=1000.0)
    wav, sr = media.read_audio(tmp_path / "tone.wav", sample_rate=16000)
    spec = np.abs(np.fft.rfft(wav[0, 1000:-1000].numpy()))
    freqs = np.fft.rfftfreq(wav.shape[1] - 2000, 1 / sr)
    assert abs(freqs[spec.argmax()] - 1000) < 3
    off_peak = spec[np.abs(freqs - 1000) > 50]
    assert off_peak.max() < 1e-2 * spec.max()


def test_stereo_and_mono(make_audio, tmp_path):
    make_audio("st.flac", duration=0.5, rate=22050, channels=2)
    wav, sr = media.read_audio(tmp_path / "st.flac", channels=None)
    assert wav.shape[0] == 2 and sr == 22050
    mono, _ = media.read_audio(tmp_path / "st.flac", channels=1)
    assert mono.shape == (1, wav.shape[1])
    st, _ = media.read_audio(tmp_path / "st.flac", channels=2)
    assert st.shape == wav.shape


def test_audio_offset(make_audio, tmp_path):
    make_audio("t.wav", duration=2.0, rate=8000)
    full, _ = media.read_audio(tmp_path / "t.wav")
    part, _ = media.read_audio(tmp_path / "t.wav", start=0.5, duration=0.25)
    assert part.shape[1] == 2000
    torch.testing.assert_close(part, full[:, 4000:6000])


def test_audio_track_of_video(make_video):
    path = make_video(duration=2.0, audio_rate=16000)
    wav, sr = media.read_audio(path, sample_rate=16000)
    assert sr == 16000 and abs(wav.shape[1] - 32000) < 2048


def _video_packets(path):
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.video[0]) if p.size]


def _audio_duration(path):
    with av.open(str(path)) as c:
        s = c.streams.audio[0]
        return float(s.duration * s.time_base), s.codec_context.name


@pytest.mark.parametrize("n_seconds_audio", [1.0, 5.0])  # padded and trimmed
def test_mux_round_trip(make_video, tmp_path, n_seconds_audio):
    src = make_video(duration=3.0, fps=25, audio_rate=44100)
    sr = 24000
    wav = 0.2 * torch.sin(torch.arange(int(n_seconds_audio * sr)) / sr * 2 * math.pi * 330)[None]
    out = media.mux_audio(src, wav, sr, tmp_path / "out.mp4")
    assert _video_packets(out) == _video_packets(src)  # video stream copied, not re-encoded
    dur, codec = _audio_duration(out)
    assert codec == "aac"
    assert dur == pytest.approx(media.probe(src).duration, abs=0.03)
    got, _ = media.read_audio(out, sample_rate=sr)
    assert got[:, : int(0.9 * sr)].abs().max() > 0.1  # our tone is there, not the source's
    assert not [p for p in os.listdir(tmp_path) if ".tmp" in p]


def test_mux_stereo_mkv(make_video, tmp_path):
    src = make_video(duration=1.0)
    out = media.mux_audio(src, torch.zeros(2, 16000), 16000, tmp_path / "out.mkv")
    info = media.probe(out)
    assert info.has_audio and info.channels == 2


def test_write_audio_atomic(tmp_path):
    wav = torch.rand(2, 800) - 0.5
    media.write_audio(tmp_path / "x.wav", wav, 8000)
    back, sr = media.read_audio(tmp_path / "x.wav", channels=None)
    assert sr == 8000 and back.shape == (2, 800)
    torch.testing.assert_close(back, wav, atol=1e-4, rtol=0)
    with pytest.raises(ValueError):
        media.write_audio(tmp_path / "y.wav", torch.full((1, 10), float("nan")), 8000)
    assert sorted(os.listdir(tmp_path)) == ["x.wav"]


# ---- bad input ----


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(UnreadableMediaError, match="no such file"):
        media.read_frames(tmp_path / "nope.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(UnreadableMediaError, match="empty"):
        media.read_frames(tmp_path / "empty.mp4")


def test_text_renamed_mp4(tmp_path):
    p = tmp_path / "notes.mp4"
    p.write_text("this is not a video\n" * 50)
    with pytest.raises(UnreadableMediaError, match="notes.mp4"):
        media.probe(p)
    with pytest.raises(UnreadableMediaError):
        media.read_audio(p)


def test_truncated_mp4(make_video, tmp_path):
    src = make_video(duration=3.0, size=(128, 128))
    data = src.read_bytes()
    bad = tmp_path / "trunc.mp4"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(UnreadableMediaError, match="trunc.mp4"):
        media.read_frames(bad)


def test_audio_only_as_video(make_audio, tmp_path):
    make_audio("song.mp3", duration=0.5)
    with pytest.raises(NoVideoStreamError, match="song.mp3"):
        media.read_frames(tmp_path / "song.mp3")
    with pytest.raises(NoVideoStreamError):
        media.mux_audio(tmp_path / "song.mp3", torch.zeros(1, 100), 8000, tmp_path / "o.mp4")
    assert not (tmp_path / "o.mp4").exists()


def test_video_without_audio(make_video):
    with pytest.raises(NoAudioStreamError):
        media.read_audio(make_video(duration=0.5))


def test_video_with_no_frames(tmp_path):
    p = tmp_path / "noframes.mp4"
    with av.open(str(p), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height = 32, 32
    with pytest.raises(MediaError, match="noframes.mp4"):
        media.read_frames(p)


def test_mux_to_bad_directory(make_video, tmp_path):
    src = make_video(duration=0.5)
    with pytest.raises(OutputError, match="does not exist"):
        media.mux_audio(src, torch.zeros(1, 10), 8000, tmp_path / "missing" / "o.mp4")
    assert not (tmp_path / "missing").exists()


def test_outputs_get_normal_permissions(tmp_path):
    import stat

    old = os.umask(0o022)
    try:
        media.write_audio(tmp_path / "p.wav", torch.zeros(1, 100), 8000)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "p.wav").stat().st_mode) == 0o644


def test_the_media_package_gives_avio_s_names_and_only_them():
    from v2meow.media import avio

    for name in media.__all__:
        assert getattr(media, name) is getattr(avio, name), name
    assert "read_audio" in dir(media)
    with pytest.raises(AttributeError, match="no attribute 'np'"):
        media.np  # noqa: B018 - avio's own imports are not the package's names


def test_the_media_package_and_its_containers_load_without_pyav_numpy_or_torch():
    import subprocess
    import sys

    code = (
        "import sys, v2meow.media, v2meow.media.containers; print(sorted({'av', 'numpy', 'torch'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
