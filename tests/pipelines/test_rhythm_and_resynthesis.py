"""The rhythm channel at generation time, its guidance, and acoustic resynthesis from audio."""

import shutil

import numpy as np
import pytest
import torch

from v2meow.errors import ConfigError
from v2meow.pipelines import V2MeowPipeline
from v2meow.pipelines.debug import SEMANTIC_RATE, build_debug_bundle
from v2meow.signal.rhythm import estimate_tempo

RHYTHM = {"name": "rhythm", "kind": "features", "size": 1, "rate": SEMANTIC_RATE, "dropout": 0.3, "route": "aligned"}


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    return V2MeowPipeline.from_pretrained(build_debug_bundle(tmp_path_factory.mktemp("b") / "plain"))


@pytest.fixture(scope="module")
def rhythm_pipe(tmp_path_factory):
    out = build_debug_bundle(tmp_path_factory.mktemp("b") / "rhythm", stage1_fields={"extra_streams": [RHYTHM]})
    return V2MeowPipeline.from_pretrained(out)


def test_rhythm_channel_of_a_pulsing_video_pulses_at_its_tempo(rhythm_pipe, tmp_path):
    from recipes.visualizer import render_pulse

    video = tmp_path / "pulse.mp4"
    render_pulse(120, 6.0, video, seed=0)
    feats = rhythm_pipe.extract_features(video)
    channel = rhythm_pipe.video_channel("rhythm", video, feats)
    assert channel.shape == (round(6.0 * SEMANTIC_RATE), 1) and 0 <= float(channel.min()) and float(channel.max()) <= 1
    tempo = estimate_tempo(channel[:, 0].numpy().astype(np.float64), SEMANTIC_RATE)
    assert tempo is not None and abs(np.log2(tempo / 120) - round(np.log2(tempo / 120))) < 0.05  # 120 BPM or an octave


def test_generation_reads_the_rhythm_channel_and_its_guidance(rhythm_pipe, make_video):
    video = make_video(duration=3.0, fps=10, size=(32, 32))
    feats = rhythm_pipe.extract_features(video)
    n = round(3.0 * SEMANTIC_RATE)
    quiet, pulses = torch.zeros(n, 1), torch.zeros(n, 1)
    pulses[::12] = 1.0
    a = rhythm_pipe(feats, rhythm=quiet, seed=0).semantic
    b = rhythm_pipe(feats, rhythm=pulses, seed=0).semantic
    assert a.shape == b.shape == (1, n) and not torch.equal(a, b)  # the channel reaches stage 1
    c = rhythm_pipe(feats, rhythm=pulses, seed=0, guidance=({"rhythm": 3.0}, {}, {}))
    assert c.audio.shape[-1] == round(3.0 * c.sample_rate)
    d = rhythm_pipe(video, seed=0)  # made from the video itself
    assert d.semantic.shape == (1, n)


def test_rhythm_guidance_on_a_bundle_without_the_channel_is_refused_before_work(pipe, monkeypatch):
    monkeypatch.setattr(pipe, "extract_features", lambda v: pytest.fail("work started"))
    with pytest.raises(ConfigError, match="no condition 'rhythm'"):
        pipe("unused.mp4", guidance=({"rhythm": 2.0}, {}, {}))
    with pytest.raises(ConfigError, match="stage 3"):
        pipe("unused.mp4", cfg=(1.0, 1.0, 2.0))


def test_resynthesis_keeps_the_duration_and_is_seeded(tmp_path_factory):
    from v2meow.tokenizers.semantic import MelBackbone, SemanticTokenizer

    out = build_debug_bundle(tmp_path_factory.mktemp("b") / "resynth")
    backbone = MelBackbone(n_mels=16, deltas=False)
    tok = SemanticTokenizer.from_backbone(backbone, torch.randn(32, 16), average_frames=2)
    tok.save_pretrained(out / "semantic")
    import json

    spec = json.loads((out / "pipeline.json").read_text())
    spec["components"]["semantic"] = "semantic"
    (out / "pipeline.json").write_text(json.dumps(spec))
    pipe = V2MeowPipeline.from_pretrained(out)
    g = torch.Generator().manual_seed(0)
    wav = torch.randn(1, 16000 * 2, generator=g) * 0.1
    a, b = pipe.resynthesize(wav, 16000, seed=3), pipe.resynthesize(wav, 16000, seed=3)
    assert a.audio.shape[-1] == round(2.0 * a.sample_rate) and a.semantic.shape == (1, round(2.0 * SEMANTIC_RATE))
    assert torch.equal(a.fine, b.fine) and torch.equal(a.semantic[0], pipe.audio_semantic_tokens(wav, 16000)[0])
    with pytest.raises(ConfigError, match="sample_rate"):
        pipe.resynthesize(wav)


def _with_coarse_stage(out, extra_streams):
    """The debug bundle at `out` with a MaskGIT stage 2 reading `extra_streams`, and a semantic tokenizer."""
    import json

    from v2meow.stages.maskgit import MaskGITConfig, MaskGITStage
    from v2meow.tokenizers.semantic import MelBackbone, SemanticTokenizer

    old = json.loads((out / "stage2" / "config.json").read_text())
    fields = {k: old[k] for k in ("semantic_vocab", "semantic_rate", "codebook_size", "num_coarse", "codec_rate")}
    torch.manual_seed(0)
    stage = MaskGITStage(
        MaskGITConfig.preset("debug", role="coarse", window_seconds=2.0, extra_streams=extra_streams, **fields)
    )
    if stage.extra is not None:  # a strong rhythm projection: its effect on the codes is plain to see
        torch.nn.init.normal_(stage.extra.inputs[extra_streams[0]["name"]][1].weight, std=2.0)
    shutil.rmtree(out / "stage2")
    stage.save_pretrained(out / "stage2")
    SemanticTokenizer.from_backbone(
        MelBackbone(n_mels=16, deltas=False), torch.randn(32, 16), average_frames=2
    ).save_pretrained(out / "semantic")
    spec = json.loads((out / "pipeline.json").read_text())
    spec["components"]["semantic"] = "semantic"
    (out / "pipeline.json").write_text(json.dumps(spec))
    return out


def test_a_coarse_stage_reads_the_videos_rhythm_and_resynthesis_the_musics(tmp_path, make_video):
    from v2meow.pipelines.channels import from_music

    pipe = V2MeowPipeline.from_pretrained(_with_coarse_stage(build_debug_bundle(tmp_path / "b"), [RHYTHM]))
    assert pipe.uses_rhythm and pipe.reads("coarse", "rhythm") and not pipe.reads("semantic", "rhythm")
    seen = []
    original = pipe.stage2.generate
    pipe.stage2.generate = lambda **kw: seen.append(kw["conditions"]["rhythm"].value) or original(**kw)
    video = make_video(duration=3.0, fps=10, size=(32, 32))
    feats = pipe.extract_features(video)
    n = round(3.0 * SEMANTIC_RATE)
    quiet, pulses = torch.zeros(n, 1), torch.zeros(n, 1)
    pulses[::12] = 1.0
    a, b = pipe(feats, rhythm=quiet, seed=0), pipe(feats, rhythm=pulses, seed=0)
    assert torch.equal(a.semantic, b.semantic) and not torch.equal(a.coarse, b.coarse)  # stage 2 alone reads it
    seen.clear()
    pipe(video, seed=0)  # the channel made from the video
    from_video = pipe.video_channel("rhythm", video, feats)  # [T_s, 1]
    assert seen and torch.equal(seen[0][0], from_video[: seen[0].shape[1]])
    g = torch.Generator().manual_seed(0)
    wav = torch.randn(1, 16000 * 2, generator=g) * 0.1
    wav[:, ::4000] = 1.0  # clicks: the music's own pulses
    seen.clear()
    out = pipe.resynthesize(wav, 16000, seed=1)
    want = from_music(pipe, wav, 16000, 2.0)["rhythm"]  # [T_s, 1], as v2meow-prepare --channel rhythm caches it
    assert out.audio.shape[-1] == round(2.0 * out.sample_rate) and float(want.sum()) > 0
    assert torch.equal(seen[0][0], want[: seen[0].shape[1]])


def test_a_coarse_stage_reading_a_condition_generation_cannot_compute_is_refused(tmp_path):
    from v2meow.pipelines.checks import IncompatibleComponentsError

    bundle = _with_coarse_stage(build_debug_bundle(tmp_path / "b"), [{**RHYTHM, "name": "lyrics"}])
    with pytest.raises(IncompatibleComponentsError, match="lyrics"):
        V2MeowPipeline.from_pretrained(bundle)


def test_a_rhythm_channel_no_stage_reads_is_refused(tmp_path, make_video):
    pipe = V2MeowPipeline.from_pretrained(build_debug_bundle(tmp_path / "debug"))  # no stage reads rhythm
    assert not pipe.uses_rhythm
    with pytest.raises(ConfigError, match="no stage of this bundle reads one"):
        pipe(make_video("v.mp4", duration=1.0), rhythm=torch.zeros(25, 1))
