import pytest
import torch

from v2meow.errors import ConfigError
from v2meow.stages import layout
from v2meow.stages.graphs import DecodeGraph
from v2meow.stages.lm import TokenLM
from v2meow.stages.sampling import (
    SamplingConfig,
    filter_logits,
    guide,
    make_generator,
    sample,
)
from v2meow.stages.transformer import use_decode_layout


def test_flatten_round_trip_and_offsets():
    codes = torch.randint(0, 16, (3, 4, 7))
    flat = layout.flatten_codes(codes, 16, offset=100)
    assert flat.shape == (3, 28)
    assert (
        flat[0, 0] == 100 + codes[0, 0, 0] and flat[0, 1] == 116 + codes[0, 1, 0] and flat[0, 4] == 100 + codes[0, 0, 1]
    )
    torch.testing.assert_close(layout.unflatten_codes(flat, 4, 16, offset=100), codes)
    ranges = layout.flat_ranges(6, 4, 16, offset=100)
    assert ranges[:, 0].tolist() == [100, 116, 132, 148, 100, 116]
    torch.testing.assert_close(layout.flat_times(2, 3, 10.0), torch.tensor([0.0, 0.0, 0.0, 0.1, 0.1, 0.1]))


def test_cached_logits_equal_full_forward():
    torch.manual_seed(0)
    lm = TokenLM(30, 32, 2, 2, 64, cross=False).eval()
    ids = torch.randint(0, 30, (2, 12))
    pos = torch.arange(12.0).expand(2, 12) * 2.5
    full = lm(ids, pos)
    cache = lm.stack.allocate_cache(2, 12, "cpu", torch.float32)
    steps = [lm(ids[:, :5], pos[:, :5], cache=cache)]
    for i in range(5, 12):
        steps.append(lm(ids[:, i : i + 1], pos[:, i : i + 1], cache=cache))
    torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-5, rtol=1e-5)


def test_key_mask_hides_padding():
    torch.manual_seed(0)
    lm = TokenLM(30, 32, 2, 2, 64, cross=False).eval()
    ids = torch.randint(0, 30, (1, 8))
    pos = torch.arange(8.0)[None]
    mask = torch.ones(1, 8, dtype=torch.bool)
    mask[0, 2] = False
    a = lm(ids, pos, key_mask=mask)
    ids2 = ids.clone()
    ids2[0, 2] = (ids[0, 2] + 1) % 30  # change the padded token: nothing after it may move
    b = lm(ids2, pos, key_mask=mask)
    torch.testing.assert_close(a[:, 3:], b[:, 3:])
    assert not torch.allclose(lm(ids, pos)[:, 3:], lm(ids2, pos)[:, 3:])


def test_cfg_scale_one_is_conditional():
    cond, uncond = torch.randn(3, 10), torch.randn(3, 10)
    torch.testing.assert_close(guide(cond, [(uncond, 1.0)]), cond.log_softmax(-1))
    torch.testing.assert_close(guide(cond, [(uncond, 0.0)]), uncond.log_softmax(-1))
    assert not SamplingConfig(guidance={"all": 1.0}).active_guidance
    assert SamplingConfig(guidance={"all": 3.0, "style": 1.0}).active_guidance == [("all", 3.0)]


def test_guidance_on_two_conditions_adds_each_difference():
    """Two guided conditions: cond + sum_k (s_k - 1) (cond - without_k); scale 1 on one of them
    gives the single-condition formula for the other."""
    g = torch.Generator().manual_seed(0)
    cond, u1, u2 = (torch.randn(2, 7, generator=g) for _ in range(3))
    lp, l1, l2 = cond.log_softmax(-1), u1.log_softmax(-1), u2.log_softmax(-1)
    torch.testing.assert_close(guide(cond, [(u1, 3.0), (u2, 2.0)]), lp + 2.0 * (lp - l1) + 1.0 * (lp - l2))
    torch.testing.assert_close(guide(cond, [(u1, 3.0), (u2, 1.0)]), guide(cond, [(u1, 3.0)]))
    for bad in ({"all": float("nan")}, {"all": -1.0}, {"all": "high"}):
        with pytest.raises(ConfigError):
            SamplingConfig(guidance=bad)
    with pytest.raises(ConfigError, match="top_k"):
        SamplingConfig(top_k=1.7)


def test_top_k_top_p_and_greedy():
    logits = torch.tensor([[4.0, 3.0, 2.0, 1.0, 0.0]])
    assert torch.isinf(filter_logits(logits, top_k=2)[0, 2:]).all()
    assert torch.isfinite(filter_logits(logits, top_k=2)[0, :2]).all()
    p = logits.softmax(-1)[0]
    kept = filter_logits(logits, top_p=float(p[0] + 0.01))
    assert torch.isfinite(kept[0, :2]).all() and torch.isinf(kept[0, 2:]).all()
    assert sample(logits, SamplingConfig(temperature=0)).item() == 0
    draws = torch.stack([sample(logits, SamplingConfig(top_k=2), make_generator(s)) for s in range(50)])
    assert set(draws.flatten().tolist()) == {0, 1}


def test_seeded_sampling_is_reproducible():
    logits = torch.randn(4, 100)
    a = sample(logits, SamplingConfig(), make_generator(7))
    b = sample(logits, SamplingConfig(), make_generator(7))
    assert torch.equal(a, b)


def test_sampled_frequencies_follow_the_probabilities():
    probs = torch.tensor([[0.5, 0.0, 0.3, 0.2, 0.0]])
    g = make_generator(0)
    draws = torch.cat([sample(probs.log().expand(1000, -1), SamplingConfig(), g) for _ in range(20)])  # 20,000 draws
    freq = torch.bincount(draws, minlength=5).float() / draws.numel()
    assert freq[1] == 0 and freq[4] == 0  # zero-probability tokens never come out
    torch.testing.assert_close(freq, probs[0], atol=0.015, rtol=0)


def test_decode_layout_changes_memory_order_only(tmp_path):
    torch.manual_seed(0)
    lm = TokenLM(30, 32, 2, 2, 64, cross=True)
    ids, pos = torch.randint(0, 30, (2, 6)), torch.arange(6.0).expand(2, 6)
    mem = torch.randn(2, 4, 32)
    before = {k: v.clone() for k, v in lm.state_dict().items()}
    out = lm.stack(lm.embed(ids), pos, memory=mem, memory_pos=torch.zeros(2, 4))
    use_decode_layout(lm)
    use_decode_layout(lm)  # idempotent
    w = lm.stack.blocks[0].ffn.fc1.weight
    assert w.shape == (64, 32) and not w.is_contiguous() and w.t().is_contiguous()
    after = lm.state_dict()
    assert after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before)
    torch.testing.assert_close(lm.stack(lm.embed(ids), pos, memory=mem, memory_pos=torch.zeros(2, 4)), out)
    # Training still works on the re-laid-out weights, and gradients keep their shapes.
    loss = lm.head(lm.stack(lm.embed(ids), pos, memory=mem, memory_pos=torch.zeros(2, 4))).logsumexp(-1).mean()
    loss.backward()
    assert w.grad is not None and w.grad.shape == w.shape


def test_decode_graph_static_step_and_capture_needs_cuda():
    lm = TokenLM(30, 32, 2, 2, 64, cross=False).eval()
    cache = lm.stack.allocate_cache(1, 4, "cpu", torch.float32)
    with pytest.raises(ValueError, match="CUDA"):
        DecodeGraph(lm, cache, rows=1, capture=True)
    for layer in cache.layers:  # what uninitialised memory may hold
        layer.k.fill_(float("nan")), layer.v.fill_(float("nan"))
    step = DecodeGraph(lm, cache, rows=1, capture=False)
    for _ in range(4):
        logits = step(torch.zeros(1, 1, dtype=torch.long), torch.ones(1, 1, 1, 16), torch.zeros(1, 1, 1, 16))
        assert logits.shape == (1, 30) and torch.isfinite(logits).all()  # unfilled slots are masked and zeroed
    with pytest.raises(ValueError, match="overflow"):
        step(torch.zeros(1, 1, dtype=torch.long), torch.ones(1, 1, 1, 16), torch.zeros(1, 1, 1, 16))
