"""A VidMuse long-term stage 1 in the windowed pipeline: every window reads the whole video."""

import dataclasses

import pytest
import torch

from v2meow.pipelines import V2MeowPipeline
from v2meow.pipelines.debug import build_debug_bundle
from v2meow.stages.ar_semantic import Stage1


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    return V2MeowPipeline.from_pretrained(build_debug_bundle(tmp_path_factory.mktemp("bundle") / "debug"))


def _semantic_with_calls(pipe, features):
    calls = []
    generate = pipe.stage1.generate

    def recording(*, conditions, **kw):
        long_term = conditions.get("long_term")
        calls.append((conditions["visual"].value.shape[1], None if long_term is None else long_term.value))
        return generate(conditions=conditions, **kw)

    pipe.stage1.generate = recording
    try:
        gen = pipe.generation.replace(temperatures=(0.0, 0.0, 0.0))
        out = pipe.semantic_tokens(
            features, None, num_samples=1, generation=gen, generator=torch.Generator().manual_seed(0)
        )
    finally:
        del pipe.stage1.generate
    return out, calls


def test_windows_get_the_whole_video_as_long_term_stream(pipe, make_video):
    features = pipe.extract_features(make_video(duration=9.0, fps=10, size=(32, 32)))
    base_stage1 = pipe.stage1
    _, calls = _semantic_with_calls(pipe, features)
    assert len(calls) > 1 and all(long is None for _, long in calls)  # no module: windows only
    torch.manual_seed(0)
    pipe.stage1 = Stage1(dataclasses.replace(base_stage1.config, long_term=True, long_term_steps=8)).eval()
    try:
        out, calls = _semantic_with_calls(pipe, features)
    finally:
        pipe.stage1 = base_stage1
    total = features.features.shape[0]
    assert len(calls) > 1 and out.shape[1] == round(9.0 * pipe.stage1.config.semantic_rate)
    for window_frames, long in calls:
        assert window_frames < total and long.shape[1] == total
        torch.testing.assert_close(long[0], features.features)
