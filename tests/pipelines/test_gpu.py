"""The CUDA path (bf16 autocast, SDPA kernels); skipped where no GPU is present."""

import pytest
import torch

from v2meow.pipelines import V2MeowPipeline
from v2meow.pipelines.debug import build_debug_bundle

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def test_generation_on_cuda_is_seeded_and_exact_length(tmp_path, make_video):
    pipe = V2MeowPipeline.from_pretrained(build_debug_bundle(tmp_path / "b"), device="cuda")
    video = make_video(duration=3.0, fps=10, size=(32, 32))
    a, b = pipe(video, seed=0), pipe(video, seed=0)
    assert a.audio.shape[-1] == round(3.0 * a.sample_rate)
    assert torch.isfinite(a.audio).all()
    assert torch.equal(a.semantic, b.semantic) and torch.equal(a.fine, b.fine)


def test_cached_generation_matches_uncached_on_cuda():
    from v2meow.stages.ar_fine import Stage3, Stage3Config
    from v2meow.stages.sampling import DecodeOptions, SamplingConfig, make_generator

    model = (
        Stage3(Stage3Config.preset("debug", codebook_size=16, num_coarse=2, num_fine=2, codec_rate=20.0)).cuda().eval()
    )
    coarse = torch.randint(0, 16, (2, 2, 20), device="cuda")
    s = SamplingConfig(temperature=0)
    inputs = dict(conditions={"coarse": coarse}, length=20, sampling=s)
    cached = model.generate(**inputs, options=DecodeOptions(generator=make_generator(0, "cuda")))
    full = model.generate(**inputs, options=DecodeOptions(generator=make_generator(0, "cuda"), use_cache=False))
    assert torch.equal(cached, full)


def test_cuda_graph_decoding_matches_eager_on_cuda():
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from v2meow.stages.ar_semantic import Stage1, Stage1Config
    from v2meow.stages.sampling import DecodeOptions, SamplingConfig, make_generator

    torch.manual_seed(0)
    cfg = Stage1Config.preset(
        "debug", feature_dim=8, feature_rate=5.0, semantic_vocab=24, semantic_rate=10.0, window_seconds=2.0
    )
    model = Stage1(cfg).cuda().eval()
    feats = {"visual": torch.randn(2, 10, 8, device="cuda")}
    s = SamplingConfig(temperature=0, guidance={"all": 2.0})  # greedy, with the [cond ; uncond] batch

    def options(seed, graph):
        return DecodeOptions(generator=make_generator(seed, "cuda"), cuda_graph=graph)

    with sdpa_kernel(SDPBackend.MATH):  # one attention kernel for both, masked or not: same arithmetic
        eager = model.generate(conditions=feats, length=20, sampling=s, options=options(0, False))
        graphed = model.generate(conditions=feats, length=20, sampling=s, options=options(0, True))
    assert torch.equal(eager, graphed)
    with torch.autocast("cuda", dtype=torch.bfloat16):  # the pipeline's setting: captured with autocast's cache off
        a = model.generate(conditions=feats, length=20, options=options(1, True))
        b = model.generate(conditions=feats, length=20, options=options(1, True))
    assert torch.equal(a, b) and a.min() >= 0 and a.max() < 24


def test_pipeline_with_cuda_graphs(tmp_path, make_video):
    pipe = V2MeowPipeline.from_pretrained(build_debug_bundle(tmp_path / "b"), device="cuda")
    video = make_video(duration=3.0, fps=10, size=(32, 32))
    a, b = pipe(video, seed=0, cuda_graphs=True), pipe(video, seed=0, cuda_graphs=True)
    assert a.audio.shape[-1] == round(3.0 * a.sample_rate) and torch.isfinite(a.audio).all()
    assert torch.equal(a.fine, b.fine)
