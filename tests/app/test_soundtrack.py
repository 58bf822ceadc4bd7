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


def test_regenerating_a_range_of_a_candidate(tmp_path_factory, make_video):
    """With a bundle that reads music back: a candidate's range written anew, the rest kept; the picture
    shades the range. A bundle without a semantic tokenizer cannot edit."""
    from stagegen import editable_bundle

    job = SoundtrackJob(
        V2MeowPipeline.from_pretrained(editable_bundle(tmp_path_factory.mktemp("b") / "edit")),
        tmp_path_factory.mktemp("out"),
    )
    assert job.can_edit
    video = make_video("clip.mp4", duration=3.0, fps=10, size=(32, 32))
    first = job.run(video, Settings(seed=0)).candidates[0]
    edited = job.run(video, Settings(seed=1, regenerate=(1.0, 2.0)), keep=first.audio).candidates[0]
    old, rate = media.read_audio(first.audio)
    new, _ = media.read_audio(edited.audio)
    assert new.shape == old.shape
    assert float((new[:, : rate // 2] - old[:, : rate // 2]).abs().max()) < 1e-3  # 16-bit wavs
    assert (
        float(
            (new[:, round(1.2 * rate) : round(1.8 * rate)] - old[:, round(1.2 * rate) : round(1.8 * rate)]).abs().mean()
        )
        > 1e-4
    )
    with pytest.raises(ConfigError, match="empty"):
        job.run(video, Settings(regenerate=(2.0, 1.0)), keep=first.audio)
    with pytest.raises(ConfigError, match="start and an end"):
        job.run(video, Settings(regenerate=(None, 1.0)), keep=first.audio)


def test_a_bundle_without_a_semantic_tokenizer_cannot_edit(job, make_video):
    assert not job.can_edit
    video = make_video("c.mp4", duration=1.0, fps=10, size=(32, 32))
    with pytest.raises(ConfigError, match="semantic tokenizer"):
        job.run(video, Settings(regenerate=(0.2, 0.5)), keep=video)
