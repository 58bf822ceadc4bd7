import torch

from v2meow.stages import layout
from v2meow.stages.lm import TokenLM
from v2meow.stages.sampling import SamplingConfig, filter_logits, guide, make_generator, sample


def test_flatten_round_trip_and_offsets():
    codes = torch.randint(0, 16, (3, 4, 7))
    flat = layout.flatten_codes(codes, 16, offset=100)
    assert flat.shape == (3, 28)
    assert flat[0, 0] == 100 + codes[0, 0, 0] and flat[0, 1] == 116 + codes[0, 1, 0] and flat[0, 4] == 100 + codes[0, 0, 1]
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
    torch.testing.assert_close(guide(cond, uncond, 1.0), cond.log_softmax(-1))
    torch.testing.assert_close(guide(cond, uncond, 0.0), uncond.log_softmax(-1))
    assert not SamplingConfig(cfg_scale=1.0).uses_cfg and SamplingConfig(cfg_scale=3.0).uses_cfg


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
