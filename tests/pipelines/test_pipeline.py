import json
import math

import pytest
import torch

from v2meow.errors import ConfigError, MissingWeightsError
from v2meow.pipelines import V2MeowPipeline
from v2meow.pipelines.checks import IncompatibleComponentsError
from v2meow.pipelines.debug import build_debug_bundle
from v2meow.pipelines.windows import plan_windows
from v2meow.stages.conditions import Condition


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return build_debug_bundle(tmp_path_factory.mktemp("bundle") / "debug")


@pytest.fixture(scope="module")
def pipe(bundle):
    return V2MeowPipeline.from_pretrained(bundle)


def test_windows_cover_duration():
    ws = plan_windows(25.0, 10.0, 4.0, [25.0, 10.0])
    assert [(w.start, w.context) for w in ws] == [(0.0, 0.0), (6.0, 4.0), (12.0, 4.0), (18.0, 4.0)]
    assert math.isinf(ws[-1].end)
    assert len(plan_windows(3.0, 10.0, 4.0, [25.0])) == 1
    s, e, p = ws[1].frames(25.0, 625)
    assert (s, e, p) == (150, 400, 100)


@pytest.mark.parametrize("seconds", [3.0, 10.0, 25.0])
def test_exact_duration_and_shapes(pipe, make_video, seconds):
    video = make_video(f"v{seconds}.mp4", duration=seconds, fps=10, size=(32, 32))
    out = pipe(video, seed=1)
    sr = out.sample_rate
    assert out.audio.shape == (1, 1, round(seconds * sr))
    assert out.semantic.shape == (1, math.ceil(seconds * 25))
    assert out.coarse.shape[2] == out.fine.shape[2] == math.ceil(seconds * pipe.codec.frame_rate)
    assert out.coarse.shape[1] + out.fine.shape[1] == pipe.codec.num_codebooks
    assert torch.isfinite(out.audio).all()


def test_seed_gives_identical_audio(pipe, make_video):
    video = make_video(duration=3.0, fps=10, size=(32, 32))
    a, b = pipe(video, seed=3), pipe(video, seed=3)
    assert torch.equal(a.audio, b.audio) and torch.equal(a.fine, b.fine)
    c = pipe(video, seed=4)
    assert not torch.equal(a.semantic, c.semantic)


def test_cuda_graphs_on_cpu_is_a_config_error(pipe, make_video):
    with pytest.raises(ConfigError, match="CUDA"):
        pipe(make_video(duration=1.0, fps=10, size=(32, 32)), cuda_graphs=True)


def test_text_changes_stage1_and_candidates(pipe, make_video):
    video = make_video(duration=2.0, fps=10, size=(32, 32))
    feats = pipe.extract_features(video)
    with torch.no_grad():
        visual = Condition(feats.features[None], rate=feats.rate)
        with_text = pipe.stage1.encode({"visual": visual, "style": pipe.embed_text("drum and bass")[None]}).states
        without = pipe.stage1.encode({"visual": visual}).states
    assert not torch.allclose(with_text, without)
    out = pipe(feats, text="slow ambient", num_samples=3, seed=0)
    assert out.audio.shape[0] == 3 and out.semantic.shape[0] == 3
    assert len({tuple(s.tolist()) for s in out.semantic}) > 1  # candidates differ


def test_mismatched_components_are_named(bundle, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(bundle, bad)
    cfg = json.loads((bad / "stage3" / "config.json").read_text())
    cfg["num_fine"] = 5
    (bad / "stage3" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ConfigError):  # weights no longer match, or the codec disagrees
        V2MeowPipeline.from_pretrained(bad)
    shutil.rmtree(bad)
    shutil.copytree(bundle, bad)
    cfg = json.loads((bad / "stage2" / "config.json").read_text())
    cfg["codec_rate"] = 75.0
    (bad / "stage2" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(IncompatibleComponentsError, match="stage2.codec_rate"):
        V2MeowPipeline.from_pretrained(bad)


def test_missing_and_corrupted_bundles(bundle, tmp_path):
    import shutil

    with pytest.raises(MissingWeightsError, match="not found"):
        V2MeowPipeline.from_pretrained(tmp_path / "nothing")
    bad = tmp_path / "corrupt"
    shutil.copytree(bundle, bad)
    w = bad / "stage1" / "model.safetensors"
    w.write_bytes(w.read_bytes()[:100])
    with pytest.raises(ConfigError, match="corrupted"):
        V2MeowPipeline.from_pretrained(bad)


def test_context_is_clamped_to_half_a_window():
    ws = plan_windows(20.0, 4.0, 10.0, [50.0])
    assert all(b.start - a.start == pytest.approx(2.0) for a, b in zip(ws, ws[1:]))


def test_chunked_decode_matches_one_pass(pipe):
    g = torch.Generator().manual_seed(0)
    k, size = pipe.codec.num_codebooks, pipe.codec.codebook_size
    codes = torch.randint(0, size, (1, k, 300), generator=g)  # 6 s at 50 Hz
    coarse, fine = codes[:, : pipe.codec.num_coarse], codes[:, pipe.codec.num_coarse :]
    whole = pipe.decode(coarse, fine, 6.0, chunk_seconds=60.0)
    chunked = pipe.decode(coarse, fine, 6.0, chunk_seconds=1.0, context_seconds=1.0)
    assert chunked.shape == whole.shape == (1, 1, 6 * pipe.codec.sample_rate)
    torch.testing.assert_close(chunked, whole, atol=1e-4, rtol=0)


def test_chunked_decode_cross_fades_the_joins(pipe, monkeypatch):
    """A codec whose output differs per call (as Griffin-Lim's phase does) is cross-faded, not cut."""
    calls = []

    def decode(codes, length=None):  # [S, K, T] -> [S, C, T * hop], one constant level per call
        calls.append(codes.shape[-1])
        return torch.full((codes.shape[0], 1, codes.shape[-1] * pipe.codec.hop_length), float(len(calls)))

    monkeypatch.setattr(pipe.codec, "decode", decode)
    codes = torch.zeros(1, pipe.codec.num_codebooks, 300, dtype=torch.long)  # 6 s at 50 Hz
    sr = pipe.codec.sample_rate
    out = pipe.decode(codes[:, :2], codes[:, 2:], 6.0, chunk_seconds=2.0, context_seconds=0.5, fade_seconds=0.05)[0, 0]
    assert out.shape == (6 * sr,) and len(calls) == 3
    fade = round(0.05 * sr)
    for k, join in enumerate((2 * sr, 4 * sr), start=1):  # levels k -> k + 1 across each join
        seg = out[join - fade : join + fade]
        assert torch.all(seg[1:] >= seg[:-1]) and k < float(seg[0]) < k + 0.01 and k + 0.99 < float(seg[-1]) < k + 1
        assert float(out[join - fade - 1]) == k and float(out[join + fade]) == k + 1
