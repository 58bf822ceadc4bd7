"""Editing a soundtrack: regenerate a range of earlier music, continue the user's own (pipelines/edit.py)."""

import pytest
import torch

from stagegen import editable_bundle
from v2meow.errors import ConfigError, MediaError
from v2meow.pipelines import V2MeowPipeline
from v2meow.pipelines.edit import spliced

SECONDS = 3.0


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return editable_bundle(tmp_path_factory.mktemp("b") / "edit")


@pytest.fixture(scope="module")
def pipe(bundle):
    return V2MeowPipeline.from_pretrained(bundle)


@pytest.fixture(scope="module")
def first(pipe, tmp_path_factory):
    """A video and the music first generated for it."""
    import mediagen

    video = mediagen.make_video(tmp_path_factory.mktemp("v") / "v.mp4", duration=SECONDS, fps=10, size=(32, 32))
    return video, pipe(video, seed=0).audio[0]  # [C, N]


def test_regenerating_a_range_keeps_everything_outside_it(pipe, first):
    video, music = first
    rate = pipe.codec.sample_rate
    out = pipe.edit(video, music, rate, regenerate=(1.0, 2.0), seed=5)
    audio = out.audio[0].mean(0)  # [N]
    kept = music.mean(0)
    fade = round(0.02 * rate)
    a, b = round(1.0 * rate), round(2.0 * rate)
    assert audio.shape == kept.shape
    outside = torch.cat([audio[: a - fade] - kept[: a - fade], audio[b + fade :] - kept[b + fade :]])
    assert float(outside.abs().max()) < 1e-6  # the kept music itself, not a re-decoding of it
    assert float((audio[a:b] - kept[a:b]).abs().mean()) > 1e-3  # the range is new
    assert not torch.equal(out.semantic[0], pipe.edit(video, music, rate, regenerate=(1.0, 2.0), seed=6).semantic[0])
    again = pipe.edit(video, music, rate, regenerate=(1.0, 2.0), seed=5)
    assert torch.equal(again.audio, out.audio)  # seeded
    tokens, _ = pipe.audio_semantic_tokens(music.mean(0), rate)
    t = torch.arange(tokens.shape[0]) / pipe.stage2.config.semantic_rate
    outside_range = (t < 1.0) | (t >= 2.0)
    assert torch.equal(out.semantic[0][outside_range], tokens[outside_range])  # the stages kept the kept tokens


def test_continuing_the_users_music(pipe, first):
    video, music = first
    rate = pipe.codec.sample_rate
    intro = music.mean(0)[:rate]  # the first second
    out = pipe.edit(video, intro, rate, continue_from=True, seed=1)
    audio = out.audio[0].mean(0)
    assert audio.shape[-1] == round(SECONDS * rate)
    assert float((audio[: rate - round(0.02 * rate)] - intro[: rate - round(0.02 * rate)]).abs().max()) < 1e-6


def test_a_continuation_keeps_the_music_s_beat_in_the_rhythm_channel(tmp_path, monkeypatch):
    """A bundle whose stage 1 reads the rhythm channel continues the music's own pulses at its tempo
    (the default) or, with continue_rhythm="video", takes the video's."""
    import dataclasses

    import numpy as np

    import mediagen
    import v2meow.pipelines.channels as chans
    from v2meow.features.channels import CHANNELS
    from v2meow.pipelines.debug import SEMANTIC_RATE

    stream = {
        "name": "rhythm",
        "kind": "features",
        "size": 1,
        "rate": SEMANTIC_RATE,
        "dropout": 0.3,
        "route": "aligned",
    }
    pipe = V2MeowPipeline.from_pretrained(editable_bundle(tmp_path / "b", stage1_fields={"extra_streams": [stream]}))
    video = mediagen.make_video(tmp_path / "v.mp4", duration=4.0, fps=10, size=(32, 32))
    rate = pipe.codec.sample_rate
    intro = torch.from_numpy(1e-4 * np.random.default_rng(0).standard_normal(round(2.5 * rate))).float()
    for beat in np.arange(0.1, 2.45, 0.5):  # 120 BPM clicks: a 4-beat bar is 2 s
        i = round(beat * rate)
        intro[i : i + 400] += torch.randn(400, generator=torch.Generator().manual_seed(1)) * torch.exp(
            -torch.arange(400) / 80
        )
    channels = []
    real = chans.continued
    monkeypatch.setattr(chans, "continued", lambda *a: channels.append(real(*a)["rhythm"]) or {"rhythm": channels[-1]})
    rhythm = CHANNELS["rhythm"]
    fail = dataclasses.replace(rhythm, from_video=lambda *a: pytest.fail("the video's channel was made"))
    monkeypatch.setitem(CHANNELS, "rhythm", fail)
    music = pipe.edit(video, intro, rate, continue_from=True, seed=0)
    assert len(channels) == 1 and channels[0].shape == (round(4.0 * SEMANTIC_RATE), 1)
    continued = channels[0][round(2.6 * SEMANTIC_RATE) :, 0]  # after the intro: pulses every 0.5 s
    assert float(continued.max()) > 0.9 and int((continued > 0.5).sum()) >= 2
    monkeypatch.setitem(CHANNELS, "rhythm", rhythm)
    from_video = pipe.edit(video, intro, rate, continue_from=True, continue_rhythm="video", seed=0)
    assert len(channels) == 1  # not made again
    assert not torch.equal(music.semantic, from_video.semantic)  # stage 1 read a different channel
    with pytest.raises(ConfigError, match="continue_rhythm"):
        pipe.edit(video, intro, rate, continue_from=True, continue_rhythm="tempo")


def test_joins_are_equal_power_crossfades():
    kept, new = torch.zeros(100), torch.ones(1, 1, 100)
    out = spliced(kept, new, 40, 60, 10)[0, 0]
    assert torch.all(out[:30] == 0) and torch.all(out[40:60] == 1) and torch.all(out[70:] == 0)
    assert torch.all(torch.diff(out[30:40]) > 0) and torch.all(torch.diff(out[60:70]) < 0)


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"regenerate": (2.0, 2.0)}, ConfigError, "empty"),
        ({"regenerate": (2.0, 1.0)}, ConfigError, "empty"),
        ({"regenerate": (2.5, 9.0)}, ConfigError, "outside the video"),
        ({"regenerate": (-1.0, 1.0)}, ConfigError, "outside the video"),
        ({}, ConfigError, "either"),
        ({"regenerate": (1.0, 2.0), "continue_from": True}, ConfigError, "either"),
    ],
)
def test_bad_ranges(pipe, first, kwargs, error, words):
    video, music = first
    with pytest.raises(error, match=words):
        pipe.edit(video, music, pipe.codec.sample_rate, **kwargs)


def test_music_of_the_wrong_length(pipe, first):
    video, music = first
    rate = pipe.codec.sample_rate
    with pytest.raises(MediaError, match="lasts"):
        pipe.edit(video, music[:, :rate], rate, regenerate=(0.5, 0.8))
    with pytest.raises(MediaError, match="not less than the video"):
        pipe.edit(video, music, rate, continue_from=True)


def test_generate_cli_edits(bundle, pipe, first, tmp_path, capsys):
    import soundfile as sf

    from v2meow.cli.generate import main

    video, music = first
    keep = tmp_path / "first.wav"
    sf.write(keep, music.mean(0).numpy(), pipe.codec.sample_rate)
    out = tmp_path / "new.wav"
    base = ["--video", str(video), "--bundle", str(bundle), "--quiet"]
    assert main([*base, "--keep", str(keep), "--regenerate", "1-2", "--out", str(out)]) == 0
    new, rate = sf.read(out)
    old, _ = sf.read(keep)
    assert new.shape == old.shape and abs(new[: rate // 2] - old[: rate // 2]).max() < 1e-3  # 16-bit files
    assert main([*base, "--prompt-audio", str(keep), "--out", str(tmp_path / "x.wav")]) == 2  # as long as the video
    for argv, words in (
        ([*base, "--keep", str(keep), "--out", str(tmp_path / "y.wav")], "go together"),
        ([*base, "--keep", str(keep), "--regenerate", "1to2", "--out", str(tmp_path / "y.wav")], "START-END"),
        ([*base, "--keep", str(keep), "--regenerate", "1-2", "--out", str(keep)], "input"),
        (
            [*base, "--keep", str(tmp_path / "none.wav"), "--regenerate", "1-2", "--out", str(tmp_path / "y.wav")],
            "none.wav",
        ),
        ([*base, "--prompt-audio", str(keep), "--keep", str(keep), "--out", str(tmp_path / "y.wav")], "give one"),
        ([*base, "--continue-rhythm", "video", "--out", str(tmp_path / "y.wav")], "goes with --prompt-audio"),
    ):
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert words in err and len(err.splitlines()) == 1, err
        assert not (tmp_path / "y.wav").exists()
