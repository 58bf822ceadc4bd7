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
    from v2meow.stages.sampling import SamplingConfig, make_generator
    from v2meow.stages.stage3 import Stage3, Stage3Config

    model = Stage3(Stage3Config.preset("debug", codebook_size=16, num_coarse=2, num_fine=2, codec_rate=20.0)).cuda().eval()
    coarse = torch.randint(0, 16, (2, 2, 20), device="cuda")
    s = SamplingConfig(temperature=0)
    assert torch.equal(model.generate(coarse, s, generator=make_generator(0, "cuda")),
                       model.generate(coarse, s, generator=make_generator(0, "cuda"), use_cache=False))
