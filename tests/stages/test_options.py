"""The related systems' options: VMAs contrastive objective, VidMuse long-short-term front-end."""

import pytest
import torch

from stagegen import FDIM, FRATE, VOCAB, stage1, stage2
from v2meow.errors import ConfigError
from v2meow.stages.ar_coarse import Stage2
from v2meow.stages.ar_semantic import Stage1, Stage1Config
from v2meow.stages.contrastive import info_nce, video_music_loss
from v2meow.stages.longshort import even_sample


def _batch(b=4, seconds=2.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    visual = torch.randn(b, int(seconds * FRATE), FDIM, generator=g)
    semantic = torch.randint(0, VOCAB, (b, int(seconds * 10)), generator=g)
    return dict(semantic=semantic, conditions={"visual": visual, "style": torch.randn(b, 6, generator=g)})


# ---- VMAs contrastive objective -----------------------------------------------------------


@pytest.mark.parametrize("temperature", [1.0, 0.1])
def test_info_nce_matched_pairs_score_lower_than_shuffled(temperature):
    g = torch.Generator().manual_seed(0)
    video = torch.randn(8, 16, generator=g)
    music = video + 0.3 * torch.randn(8, 16, generator=g)
    shuffled = music[torch.roll(torch.arange(8), 1)]
    assert info_nce(video, music, temperature) < info_nce(video, shuffled, temperature)


def test_expected_embedding_loss_matched_lower_than_shuffled():
    """Music whose predicted tokens embed like the clip's video beats the same music given to other clips."""
    b, t_v, t, v, d = 6, 5, 7, 6, 12
    g = torch.Generator().manual_seed(1)
    table = torch.randn(v, d, generator=g).requires_grad_()  # token i's embedding
    noise = 0.2 * torch.randn(b, t_v, d, generator=g)
    video = table.detach()[:b, None, :].expand(b, t_v, d) + noise  # clip i looks like token i
    logits = torch.full((b, t, v), -4.0)
    logits[torch.arange(b), :, torch.arange(b)] = 4.0  # clip i's music predicts token i
    matched = video_music_loss(video, None, logits, table, None)
    shuffled = video_music_loss(video, None, logits[torch.roll(torch.arange(b), 2)], table, None)
    assert matched < shuffled
    video.requires_grad_()
    video_music_loss(video, None, logits, table, None).backward()
    assert video.grad is not None and table.grad is None  # the table stands for a fixed codebook embedding
    # rows with no valid frame or target, or fewer than two rows, are left out
    one = torch.zeros(b, dtype=torch.bool)
    one[0] = True
    assert video_music_loss(video, None, logits, table, None, rows=one) == 0


def test_stage1_contrastive_loss_is_returned_and_its_gradient_reaches_the_encoder():
    model = stage1(contrastive_weight=0.25, cond_dropout=0.0).train()
    out = model(**_batch())
    assert out.aux_loss is not None and out.aux_loss.ndim == 0 and out.aux_loss > 0
    out.aux_loss.backward()
    enc = [p.grad for p in model.encoder.parameters() if p.grad is not None]
    assert enc and sum(float(g.abs().sum()) for g in enc) > 0
    assert float(model.decoder.head.weight.grad.abs().sum()) > 0  # through the predicted distribution
    assert stage1()(**_batch()).aux_loss is None  # off by default


def test_contrastive_video_side_does_not_see_the_music(monkeypatch):
    """At training the style is the clip's own music (stage 1) and the encoder reads the semantic tokens (stage 2):
    the pooled video representation must not depend on either."""
    import v2meow.stages.ar_coarse as s2
    import v2meow.stages.ar_semantic as s1

    seen = []

    def spy(video_states, *args, **kw):
        seen.append(video_states.detach().clone())
        return video_states.new_zeros(())

    monkeypatch.setattr(s1, "video_music_loss", spy)
    monkeypatch.setattr(s2, "video_music_loss", spy)
    batch = _batch(b=2)
    model = stage1(contrastive_weight=0.25).eval()
    model(**batch)
    model(batch["semantic"], {**batch["conditions"], "style": torch.randn(2, 6)})
    encdec = stage2("encdec", contrastive_weight=0.25).eval()
    coarse = torch.randint(0, 16, (2, 2, 40))
    visual = {"visual": batch["conditions"]["visual"]}
    encdec(batch["semantic"], coarse, conditions=visual)
    encdec(torch.randint(0, VOCAB, (2, 20)), coarse, conditions=visual)
    assert torch.equal(seen[0], seen[1]) and torch.equal(seen[2], seen[3])


def test_stage2_contrastive_needs_the_visual_variant():
    with pytest.raises(ConfigError, match="encdec"):
        stage2("decoder", contrastive_weight=0.25)
    model = stage2("encdec", contrastive_weight=0.25, cond_dropout=0.0).train()
    g = torch.Generator().manual_seed(0)
    sem = torch.randint(0, VOCAB, (3, 20), generator=g)
    out = model(
        sem, torch.randint(0, 16, (3, 2, 40), generator=g), conditions={"visual": torch.randn(3, 10, FDIM, generator=g)}
    )
    out.aux_loss.backward()
    assert sum(float(p.grad.abs().sum()) for p in model.encoder.parameters() if p.grad is not None) > 0


# ---- VidMuse long-short-term module --------------------------------------------------------


def test_even_sample_takes_segment_centres_and_repeats_short_inputs():
    x = torch.arange(20.0)[:, None]  # [T, 1]: value = frame index
    assert even_sample(x, 4)[:, 0].tolist() == [2.0, 7.0, 12.0, 17.0]
    assert even_sample(x[:3], 6)[:, 0].tolist() == [0.0, 0.0, 1.0, 1.0, 2.0, 2.0]
    assert even_sample(torch.zeros(2, 9, 3), 5).shape == (2, 5, 3)


def _window_states(model: Stage1, video: torch.Tensor) -> torch.Tensor:
    """Encoder states of the window of frames 10..19 of `video` [1, 50, D] (the whole video as long-term stream)."""
    extra = {"long_term": video} if model.config.long_term else {}
    with torch.no_grad():
        return model.encode({"visual": video[:, 10:20], "style": torch.zeros(1, 6), **extra}).states


def test_long_term_window_sees_frames_outside_it():
    g = torch.Generator().manual_seed(0)
    video = torch.randn(1, 50, FDIM, generator=g)
    changed = video.clone()
    changed[:, 30:] = torch.randn(1, 20, FDIM, generator=g)  # only frames after the window
    torch.manual_seed(0)
    long_model = stage1(long_term=True, long_term_steps=8).eval()
    assert not torch.allclose(_window_states(long_model, video), _window_states(long_model, changed))
    base = stage1().eval()
    assert torch.equal(_window_states(base, video), _window_states(base, changed))
    with pytest.raises(ConfigError, match="long-term"):
        base.encode({"visual": video[:, 10:20], "long_term": video})


def test_long_term_generation_and_training_shapes():
    model = stage1(long_term=True, long_term_steps=8)
    batch = _batch(b=2)
    long = torch.randn(2, 8, FDIM)
    out = model.train()(batch["semantic"], {**batch["conditions"], "long_term": long})
    assert out.logits.shape == (2, 20, VOCAB + 1)
    out.logits.logsumexp(-1).mean().backward()
    assert model.long_short.long_in[1].weight.grad is not None
    model.eval()
    visual = batch["conditions"]["visual"][:1]
    a = model.generate(conditions={"visual": visual, "long_term": torch.randn(1, 33, FDIM)}, length=12)
    b = model.generate(
        conditions={"visual": visual}, length=12
    )  # no long stream given: the window stands for the whole video
    assert a.shape == b.shape == (1, 12)


# ---- configs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: stage1(long_term=True, long_term_steps=6, contrastive_weight=0.25, contrastive_temperature=0.1),
        lambda: stage2("encdec", contrastive_weight=0.5),
    ],
    ids=["stage1", "stage2-encdec"],
)
def test_options_survive_save_and_load(make, tmp_path):
    model = make().eval()
    model.save_pretrained(tmp_path / "m")
    loaded = type(model).from_pretrained(tmp_path / "m").eval()
    assert loaded.config == model.config
    batch = _batch(b=2)
    if isinstance(model, Stage2):
        args = (batch["semantic"], torch.randint(0, 16, (2, 2, 40)))
        kw = dict(conditions={"visual": batch["conditions"]["visual"]})
    else:
        args, kw = (batch["semantic"], {**batch["conditions"], "long_term": torch.randn(2, 6, FDIM)}), {}
    torch.testing.assert_close(model(*args, **kw).logits, loaded(*args, **kw).logits)


def test_configs_written_before_the_options_still_load():
    old = stage1().config.to_dict()
    for key in ("contrastive_weight", "contrastive_temperature", "long_term", "long_term_steps"):
        del old[key]
    cfg = Stage1Config.from_dict(old)
    assert cfg.contrastive_weight == 0.0 and cfg.long_term is False
    with pytest.raises(ConfigError, match="long_term_steps"):
        Stage1Config.preset("debug", long_term=True, long_term_steps=0)
