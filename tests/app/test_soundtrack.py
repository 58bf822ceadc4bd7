"""The job behind Generate, without Gradio: outputs, durations, and user-facing errors."""

from __future__ import annotations

import pytest

from v2meow import media
from v2meow.app.soundtrack import Settings, SoundtrackJob
from v2meow.errors import ConfigError, MediaError
from v2meow.pipelines import V2MeowPipeline


@pytest.fixture(scope="module")
def job(bundle, tmp_path_factory):
    return SoundtrackJob(V2MeowPipeline.from_pretrained(bundle), tmp_path_factory.mktemp("out"))


def test_two_candidates_with_files(job, make_video):
    video = make_video("my clip.mp4", duration=1.5, fps=10, size=(32, 48))
    steps = []
    outcome = job.run(video, Settings(text="  fast drums ", seed=3, num_samples=2), lambda f, m: steps.append((f, m)))
    assert [c.index for c in outcome.candidates] == [0, 1]
    assert [f for f, _ in steps] == sorted(f for f, _ in steps) and steps[0][0] == 0.0
    for c in outcome.candidates:
        assert c.video.name.startswith("my clip_v2meow") and c.video.suffix == ".mp4"
        info = media.probe(c.video)
        assert info.has_audio and info.duration == pytest.approx(1.5, abs=0.05)
        wav, rate = media.read_audio(c.audio)
        assert wav.shape[-1] == round(1.5 * rate)
        assert c.picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "2 soundtracks" in outcome.summary() and "my clip.mp4" in outcome.summary()


def test_errors_name_the_file_not_its_folder(job, tmp_path, make_audio):
    fake = tmp_path / "holiday.mp4"
    fake.write_text("not a video")
    with pytest.raises(MediaError) as e:
        job.run(fake, Settings())
    assert str(e.value).startswith("holiday.mp4: not a readable media file") and str(tmp_path) not in str(e.value)
    make_audio("song.wav")
    with pytest.raises(MediaError, match="song.wav: has no video stream"):
        job.run(tmp_path / "song.wav", Settings())


@pytest.mark.parametrize(
    "settings",
    [
        Settings(num_samples=0),
        Settings(num_samples=5),
        Settings(temperatures=(1.0, -0.1, 0.4)),
        Settings(seed=-1),
        Settings(seed=1.5),
    ],
)
def test_bad_settings_are_config_errors(job, settings, make_video):
    with pytest.raises(ConfigError):
        job.run(make_video(duration=0.5, fps=10, size=(32, 32)), settings)
