import pytest
import torch
import torch.nn.functional as F

from stagegen import FRATE, NC, VOCAB, K, stage1, stage2, stage3
from v2meow.errors import ConfigError
from v2meow.stages.ar_coarse import Stage2
from v2meow.stages.ar_fine import Stage3
from v2meow.stages.ar_semantic import Stage1
from v2meow.stages.conditions import Condition
from v2meow.stages.sampling import DecodeOptions, SamplingConfig, make_generator


def _stage1_conditions(model, clip):
    conditions = {"visual": clip["visual"], "style": clip["style"]}
    if any(s.name == "rhythm" for s in model.streams):  # an aligned 1-d stream at the semantic rate
        conditions["rhythm"] = clip["semantic"][..., None].float().remainder(3) / 2
    return conditions


def _generate(model, clip, sampling=None, **kw):
    options = DecodeOptions(**kw)
    if isinstance(model, Stage1):
        conditions = _stage1_conditions(model, clip)
        return model.generate(
            conditions=conditions, length=clip["semantic"].shape[1], sampling=sampling, options=options
        )
    if isinstance(model, Stage2):
        conditions = {"semantic": clip["semantic"], **({"visual": clip["visual"]} if model.uses_visual else {})}
        return model.generate(conditions=conditions, length=clip["coarse"].shape[2], sampling=sampling, options=options)
    return model.generate(
        conditions={"coarse": clip["coarse"]}, length=clip["coarse"].shape[2], sampling=sampling, options=options
    )


def _forward(model, clip):
    if isinstance(model, Stage1):
        return model(clip["semantic"], _stage1_conditions(model, clip))
    if isinstance(model, Stage2):
        conditions = {"visual": clip["visual"]} if model.uses_visual else None
        return model(clip["semantic"], clip["coarse"], conditions=conditions)
    return model(clip["coarse"], clip["fine"])


def _guided(model):
    return {} if isinstance(model, Stage3) or (isinstance(model, Stage2) and not model.uses_visual) else {"all": 2.0}


def _target(model, clip):
    return {Stage1: clip["semantic"], Stage2: clip["coarse"], Stage3: clip["fine"]}[type(model)]


RHYTHM = {"name": "rhythm", "kind": "features", "size": 1, "rate": 10.0, "dropout": 0.1, "route": "aligned"}
MODELS = [
    stage1,
    lambda: stage2("decoder"),
    lambda: stage2("encdec"),
    stage3,
    lambda **kw: stage1(visual_route="both", extra_streams=[RHYTHM], **kw),
    lambda **kw: stage2("decoder", aligned_semantic=True, **kw),
    lambda **kw: stage2("encdec", aligned_semantic=True, **kw),
    lambda **kw: stage3(aligned_coarse=True, **kw),
]
IDS = [
    "stage1",
    "stage2-decoder",
    "stage2-encdec",
    "stage3",
    "stage1-aligned",
    "stage2-decoder-aligned",
    "stage2-encdec-aligned",
    "stage3-aligned",
]


@pytest.mark.parametrize("make", MODELS, ids=IDS)
def test_cached_and_uncached_generation_agree(make, clip_tokens):
    torch.manual_seed(0)
    model = make().eval()
    s = SamplingConfig(temperature=0.95, top_k=8, guidance=_guided(model))
    a = _generate(model, clip_tokens, sampling=s, generator=make_generator(5))
    b = _generate(model, clip_tokens, sampling=s, generator=make_generator(5), use_cache=False)
    assert torch.equal(a, b)
    assert a.shape == _target(model, clip_tokens).shape
    c = _generate(model, clip_tokens, sampling=s, generator=make_generator(6))
    assert not torch.equal(a, c)  # the seed matters


@pytest.mark.parametrize("make", MODELS, ids=IDS)
def test_static_decode_step_agrees_with_the_eager_loop(make, clip_tokens):
    """`cuda_graph=True` decodes with the fixed-shape step a CUDA graph captures; on CPU that
    step runs eagerly, so here it must sample exactly what the eager KV-cached loop samples."""
    torch.manual_seed(0)
    model = make().eval()
    s = SamplingConfig(temperature=0.95, guidance=_guided(model))
    a = _generate(model, clip_tokens, sampling=s, generator=make_generator(3))
    b = _generate(model, clip_tokens, sampling=s, generator=make_generator(3), cuda_graph=True)
    assert torch.equal(a, b)


@pytest.mark.parametrize("make", MODELS, ids=IDS)
def test_codes_stay_in_range(make, clip_tokens):
    out = _generate(make().eval(), clip_tokens, generator=make_generator(0))
    assert out.min() >= 0 and out.max() < (VOCAB if out.dim() == 2 else K)


@pytest.mark.parametrize("make", MODELS, ids=IDS)
def test_overfit_one_clip_then_greedy_decode_it(make, clip_tokens):
    torch.manual_seed(0)
    model = make()
    for s in getattr(model, "streams", []):
        object.__setattr__(s, "dropout", 0.0)  # no condition dropout: memorise the clip exactly
    opt = torch.optim.AdamW(model.parameters(), lr=5e-3)
    model.train()
    for _ in range(100):
        out = _forward(model, clip_tokens)
        loss = F.cross_entropy(out.logits.flatten(0, 1), out.targets.flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05
    got = _generate(model.eval(), clip_tokens, sampling=SamplingConfig(temperature=0))
    assert torch.equal(got, _target(model, clip_tokens))


@pytest.mark.parametrize("make", MODELS, ids=IDS)
def test_save_load_identical_outputs(make, clip_tokens, tmp_path):
    torch.manual_seed(0)
    model = make().eval()
    first = _generate(model, clip_tokens, generator=make_generator(1))  # re-lays out the weights (column-major) first
    model.save_pretrained(tmp_path / "m")
    back = type(model).from_pretrained(tmp_path / "m").eval()
    want = model.state_dict()
    assert all(torch.equal(v, want[k]) for k, v in back.state_dict().items())  # the weights, bit for bit
    assert torch.equal(_generate(back, clip_tokens, generator=make_generator(1)), first)  # and the same layout now
    # Bit for bit only in the same weight layout: a row-major and a column-major copy of a weight take
    # different matmul kernels, whose sums differ in the last bit under AVX2 (tests/README.md)
    torch.testing.assert_close(_forward(back, clip_tokens).logits, _forward(model, clip_tokens).logits, rtol=0, atol=0)


def test_prompt_is_kept_and_continued(clip_tokens):
    model = stage2().eval()
    prompt = clip_tokens["coarse"][:, :, :7]
    out = model.generate(
        conditions={"semantic": clip_tokens["semantic"]},
        length=40,
        prompt=prompt,
        options=DecodeOptions(generator=make_generator(0)),
    )
    assert out.shape == (1, NC, 40) and torch.equal(out[:, :, :7], prompt)
    sem = (
        stage1()
        .eval()
        .generate(conditions={"visual": clip_tokens["visual"]}, length=20, prompt=clip_tokens["semantic"][:, :5])
    )
    assert torch.equal(sem[:, :5], clip_tokens["semantic"][:, :5])


def test_stage1_style_and_rate(clip_tokens):
    model = stage1().eval()
    a = model.encode({"visual": clip_tokens["visual"], "style": clip_tokens["style"]}).states
    b = model.encode({"visual": clip_tokens["visual"]}).states
    assert not torch.allclose(a, b)  # text vs no text changes the encoder input
    # features at twice the rate cover the same time span: positions are times
    fast = clip_tokens["visual"].repeat_interleave(2, dim=1)
    mem = model.encode({"visual": Condition(fast, rate=2 * FRATE)})
    assert mem.pos[0, 1] == pytest.approx(model.config.ticks_per_second / (2 * FRATE))


def test_wrong_shapes_are_named(clip_tokens):
    with pytest.raises(ConfigError, match="16-d"):
        stage1(feature_dim=16).encode({"visual": clip_tokens["visual"]})
    with pytest.raises(ConfigError, match="coarse codebooks"):
        stage3()(clip_tokens["fine"][:, :1], clip_tokens["fine"])
    with pytest.raises(ConfigError, match="variant"):
        stage2("both")


@pytest.mark.parametrize("make", MODELS, ids=IDS)
def test_bf16_weights_under_autocast_decode_eagerly_and_with_the_static_step(make, clip_tokens):
    """The `--dtype bf16` path (stage weights stored in bf16, run under bf16 autocast), on CPU:
    the cache takes autocast's dtype and both decode loops give valid tokens of the right shape."""
    torch.manual_seed(0)
    model = make().eval().to(torch.bfloat16)
    s = SamplingConfig(temperature=0.95, guidance=_guided(model))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        a = _generate(model, clip_tokens, sampling=s, generator=make_generator(3))
        b = _generate(model, clip_tokens, sampling=s, generator=make_generator(3), cuda_graph=True)
    target = _target(model, clip_tokens)
    assert a.shape == b.shape == target.shape and a.min() >= 0 and b.min() >= 0
    assert a.max() < model.decoder.vocab_size and b.max() < model.decoder.vocab_size
