"""The parallel (MaskGIT / SoundStorm) stage kind: one class for stage 2 (coarse) and stage 3 (fine)."""

import json
import sys
from pathlib import Path

import pytest
import torch

from stagegen import CODEC_RATE, NC, NF, SEM_RATE, VOCAB, K
from v2meow.errors import ConfigError
from v2meow.stages import registry
from v2meow.stages.maskgit import MaskGITConfig, MaskGITStage
from v2meow.stages.sampling import DecodeOptions, SamplingConfig, make_generator
from v2meow.training.stages import masked_cross_entropy

ROOT = Path(__file__).parents[2]


def coarse_stage(**kw):
    fields = dict(
        role="coarse",
        semantic_vocab=VOCAB,
        semantic_rate=SEM_RATE,
        codebook_size=K,
        num_coarse=NC,
        codec_rate=CODEC_RATE,
        window_seconds=2.0,
    )
    return MaskGITStage(MaskGITConfig.preset("debug", **{**fields, **kw}))


def fine_stage(**kw):
    fields = dict(
        role="fine", codebook_size=K, num_coarse=NC, num_fine=NF + 1, codec_rate=CODEC_RATE, window_seconds=2.0
    )
    return MaskGITStage(MaskGITConfig.preset("debug", **{**fields, **kw}))


def tokens(b=2, t=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    semantic = torch.randint(0, VOCAB, (b, int(t * SEM_RATE / CODEC_RATE)), generator=g)  # [B, S]
    coarse = torch.randint(0, K, (b, NC, t), generator=g)  # [B, N_c, T]
    fine = torch.randint(0, K, (b, NF + 1, t), generator=g)  # [B, N_f, T]
    return semantic, coarse, fine


def count_passes(stage):
    calls = []
    handle = stage.stack.register_forward_hook(lambda m, args, out: calls.append(args[0].shape[0]))
    return calls, handle


def test_shapes_and_roles():
    semantic, coarse, fine = tokens(b=3)
    c2, c3 = coarse_stage(), fine_stage()
    assert (c2.role, c3.role) == ("coarse", "fine") and c2.guidable == ["semantic"] and c3.guidable == []
    out = c2(semantic=semantic, coarse=coarse)
    assert out.logits.shape == (3, 40, K) and out.targets.shape == out.mask.shape == (3, 40)
    out = c3(coarse=coarse, fine=fine)
    assert out.logits.shape == (3, 40, K) and out.targets.shape == (3, 40)
    assert c2.eval().generate(conditions={"semantic": semantic}, length=40).shape == (3, NC, 40)
    assert c3.eval().generate(conditions={"coarse": coarse}, length=40).shape == (3, NF + 1, 40)
    with pytest.raises(ConfigError, match="role"):
        MaskGITConfig(role="semantic")
    with pytest.raises(ConfigError, match="codebooks"):
        c3(coarse=coarse, fine=fine[:, :2])


def test_training_mask_counts_only_level_q_masked_real_frames():
    stage = coarse_stage(num_coarse=4)
    torch.manual_seed(0)
    codes = torch.randint(0, K, (64, 4, 30))
    real = torch.ones(64, 30, dtype=torch.bool)
    real[::2, 20:] = False  # padding
    inputs, level, targets, loss_mask = stage.training_masks(codes, real)
    assert set(level.tolist()) == {0, 1, 2, 3}  # uniform over levels
    masked = inputs == stage.mask_id  # [B, K, T]
    for b in range(64):
        q = int(level[b])
        assert torch.equal(targets[b], codes[b, q])
        assert torch.equal(loss_mask[b], masked[b, q] & real[b])  # the loss: level q's masked real frames
        assert not (loss_mask[b] & ~real[b]).any() and loss_mask[b].any()
        assert torch.equal(inputs[b, :q], codes[b, :q])  # coarser levels given
        p = int((~masked[b, q:]).all(0).int().argmin()) if masked[b, q:].any() else 30  # the prompt: all levels given
        assert masked[b, q + 1 :, p:].all()  # finer levels hidden after it
        assert not masked[b, :, :p].any()
    fractions = (loss_mask.sum(1) / real.sum(1)).tolist()
    assert min(fractions) < 0.3 and max(fractions) > 0.9  # cosine schedule: few to all
    out = stage(semantic=torch.zeros(64, 15, dtype=torch.long), coarse=codes, coarse_mask=real)
    assert not (out.mask & ~real).any()


def test_full_mask_hides_a_level_whole_after_the_prompt():
    codes = torch.randint(0, K, (64, 4, 30), generator=torch.Generator().manual_seed(0))
    real = torch.ones(64, 30, dtype=torch.bool)
    real[::2, 20:] = False

    def hidden_whole(full_mask: float) -> list[bool]:
        torch.manual_seed(0)
        inputs, level, _, loss_mask = coarse_stage(num_coarse=4, full_mask=full_mask).training_masks(codes, real)
        out = []
        for b in range(64):
            given = ~(inputs[b] == K).any(0)  # [T] frames with every level given: the prompt (and padding)
            prompt = int(given.int().argmin()) if not given.all() else 30
            out.append(torch.equal(loss_mask[b], real[b] & (torch.arange(30) >= prompt)))
        return out

    assert all(hidden_whole(1.0))  # every open frame of the level, as one greedy pass will fill it
    assert 10 <= sum(hidden_whole(0.0)) <= 40  # the cosine draw: sometimes all of it by chance
    assert sum(hidden_whole(0.5)) > sum(hidden_whole(0.0)) + 10
    with pytest.raises(ConfigError, match="full_mask"):
        MaskGITConfig(role="coarse", full_mask=1.5)


def test_a_tiny_model_overfits_and_greedy_decoding_gives_its_codes_back():
    torch.manual_seed(0)
    stage = coarse_stage(dim=64, depth=2, heads=2, ffn=128, cond_dropout=0.0, decode_iterations=[8])
    semantic, coarse, _ = tokens(b=2, t=20, seed=1)
    opt = torch.optim.AdamW(stage.parameters(), lr=3e-3, weight_decay=0.0)
    losses = []
    for _ in range(300):
        out = stage(semantic=semantic, coarse=coarse)
        loss, _ = masked_cross_entropy(out.logits, out.targets, out.mask)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-20:]) / 20 < 0.05 * sum(losses[:5]) / 5
    stage.eval()
    got = stage.generate(conditions={"semantic": semantic}, length=20, sampling=SamplingConfig(temperature=0.0))
    assert torch.equal(got, coarse)
    fixed = coarse.clone()
    fixed[:, :, 6:14] = -1  # infill: both sides given, the middle free
    got = stage.generate(
        conditions={"semantic": semantic}, length=20, sampling=SamplingConfig(temperature=0.0), fixed=fixed
    )
    assert torch.equal(got, coarse)
    fixed[:, :, :6], fixed[:, :, 14:] = (coarse[:, :, :6] + 1) % K, (coarse[:, :, 14:] + 1) % K
    got = stage.generate(conditions={"semantic": semantic}, length=20, fixed=fixed)
    assert torch.equal(got[:, :, :6], fixed[:, :, :6]) and torch.equal(got[:, :, 14:], fixed[:, :, 14:])


def test_seeds_are_exact_and_prompts_stay():
    semantic, coarse, fine = tokens()
    for stage, cond, codes in (
        (coarse_stage().eval(), {"semantic": semantic}, coarse),
        (fine_stage(decode_iterations=[4, 2]).eval(), {"coarse": coarse}, fine),
    ):

        def run(seed, t=1.0, stage=stage, cond=cond, codes=codes):
            return stage.generate(
                conditions=cond,
                length=40,
                prompt=codes[:, :, :7],
                sampling=SamplingConfig(temperature=t),
                options=DecodeOptions(generator=make_generator(seed)),
            )

        a = run(0)
        assert torch.equal(a, run(0)) and not torch.equal(a, run(1))
        assert torch.equal(a[:, :, :7], codes[:, :, :7])
        assert torch.equal(run(3, 0.0), run(4, 0.0))  # greedy: no draw, no noise, whatever the seed
    assert torch.equal(
        stage.generate(conditions={"coarse": coarse[:, :, :5]}, length=5, prompt=codes[:, :, :7]), codes[:, :, :5]
    )


def test_guidance_batches_the_dropped_condition():
    semantic, _, _ = tokens()
    stage = coarse_stage(decode_iterations=[3, 2]).eval()
    torch.nn.init.normal_(stage.null_embed, std=1.0)

    def run(guidance):
        return stage.generate(
            conditions={"semantic": semantic},
            length=40,
            sampling=SamplingConfig(guidance=guidance),
            options=DecodeOptions(generator=make_generator(0)),
        )

    assert torch.equal(run({}), run({"semantic": 1.0}))
    calls, handle = count_passes(stage)
    guided = run({"all": 3.0})
    handle.remove()
    assert calls == [4] * 5  # 3 + 2 passes, each over [conditional ; unconditional] rows
    assert not torch.equal(guided, run({}))
    with pytest.raises(ConfigError, match="no condition"):
        fine_stage().eval().generate(
            conditions={"coarse": tokens()[1]}, length=40, sampling=SamplingConfig(guidance={"all": 2.0})
        )


def test_iterations_per_level_come_from_the_config():
    semantic, coarse, _ = tokens()
    stage = coarse_stage(num_coarse=3, decode_iterations=[5, 2]).eval()
    calls, handle = count_passes(stage)
    stage.generate(conditions={"semantic": semantic}, length=40)
    assert calls == [2] * 8  # a whole window: 5 + 2 + 1 (levels past the list take one pass)
    calls.clear()
    stage.generate(conditions={"semantic": semantic}, length=40, prompt=torch.zeros(2, 3, 20, dtype=torch.long))
    assert len(calls) == 3 + 1 + 1  # half the window is the prompt: ceil(5 / 2), ceil(2 / 2), 1
    calls.clear()
    stage.generate(conditions={"semantic": semantic}, length=40, prompt=torch.zeros(2, 3, 4, dtype=torch.long))
    assert len(calls) == 5 + 2 + 1  # 36 of 40 frames: ceil(4.5), ceil(1.8), 1
    calls.clear()
    fixed = torch.full((2, 3, 40), -1, dtype=torch.long)
    fixed[:, :, 20:] = 0  # an edit: the second half kept, every pass kept for the first
    stage.generate(conditions={"semantic": semantic}, length=40, fixed=fixed)
    assert len(calls) == 5 + 2 + 1
    calls.clear()
    out = stage.generate(conditions={"semantic": semantic}, length=6, prompt=torch.zeros(2, 3, 5, dtype=torch.long))
    assert len(calls) == 1 + 1 + 1 and bool((out < stage.mask_id).all())  # one frame: one pass a level, filled
    handle.remove()
    for stage, cond, passes in (
        (coarse_stage(num_coarse=3).eval(), {"semantic": semantic}, 16 + 1 + 1),
        (fine_stage().eval(), {"coarse": coarse}, NF + 1),
    ):  # defaults: SoundStorm's
        calls, handle = count_passes(stage)
        stage.generate(conditions=cond, length=40)
        handle.remove()
        assert len(calls) == passes
    with pytest.raises(ConfigError, match="decode_iterations"):
        MaskGITConfig(decode_iterations=[0])


def test_non_finite_logits_are_an_error():
    semantic, _, _ = tokens()
    stage = coarse_stage().eval()
    with torch.no_grad():
        stage.head.weight[0, 0] = float("nan")
    with pytest.raises(ConfigError, match="NaN or inf"):
        stage.generate(conditions={"semantic": semantic}, length=40)


def _component_fields(directory):
    config = json.loads((directory / "config.json").read_text())
    return {
        k: v
        for k, v in config.items()
        if k
        not in (
            "model_type",
            "format_version",
            "v2meow_version",
            "variant",
            "feature_dim",
            "feature_rate",
            "cond_dropout",
            "contrastive_weight",
            "contrastive_temperature",
            "aligned_semantic",
            "aligned_coarse",
        )
    }


def test_maskgit_stages_run_a_windowed_bundle(tmp_path, make_video):
    from v2meow.pipelines import V2MeowPipeline
    from v2meow.pipelines.assemble import create_bundle
    from v2meow.pipelines.debug import build_debug_bundle

    debug = build_debug_bundle(tmp_path / "debug")
    fields2 = {**_component_fields(debug / "stage2"), "window_seconds": 1.0, "decode_iterations": [4]}
    fields3 = {**_component_fields(debug / "stage3"), "window_seconds": 1.0}
    MaskGITStage(MaskGITConfig(role="coarse", **fields2)).save_pretrained(tmp_path / "coarse")
    MaskGITStage(MaskGITConfig(role="fine", **fields3)).save_pretrained(tmp_path / "fine")
    with pytest.raises(ConfigError, match="fine stage .*not a coarse stage"):
        registry.load_stage(tmp_path / "fine", role="coarse")
    bundle = create_bundle(
        tmp_path / "bundle",
        {
            "stage1": debug / "stage1",
            "codec": debug / "codec",
            "style": debug / "style",
            "stage2": tmp_path / "coarse",
            "stage3": tmp_path / "fine",
        },
    )
    pipe = V2MeowPipeline.from_pretrained(bundle)
    assert isinstance(pipe.stage2, MaskGITStage) and pipe.guided_roles() == ("semantic", "coarse")
    windows = []
    for stage in (pipe.stage2, pipe.stage3):
        original = stage.generate
        stage.generate = lambda *, _g=original, **kw: windows.append(kw.get("prompt")) or _g(**kw)
    duration = 2.6
    out = pipe(make_video(duration=duration, fps=10, size=(32, 32)), seed=0, cfg=(1.0, 2.0, 1.0))
    assert out.audio.shape[-1] == round(duration * pipe.codec.sample_rate) and torch.isfinite(out.audio).all()
    frames = round(duration * pipe.codec.frame_rate)
    assert out.coarse.shape[-1] == out.fine.shape[-1] == frames
    assert len(windows) >= 6 and sum(p is not None for p in windows) >= 4  # several windows per stage, primed
    again = pipe(make_video(duration=duration, fps=10, size=(32, 32)), seed=0, cfg=(1.0, 2.0, 1.0))
    assert torch.equal(out.coarse, again.coarse) and torch.equal(out.fine, again.fine)


@pytest.mark.parametrize("stage", ["stage2", "stage3"])
def test_training_a_maskgit_stage_exports_a_component_that_loads(stage, tmp_path):
    sys.path.insert(0, str(ROOT / "tests"))
    from cachegen import make_cache
    from v2meow.training.runner import load_run_config, set_value
    from v2meow.training.stage_train import train_stage

    cache = make_cache(
        tmp_path / "cache", durations=(3.0, 2.5, 2.0), splits=("train", "train", "valid"), contract={"num_coarse": 2}
    )  # a real cache names its codec's split; the v3 configs leave it to the manifest
    cfg = load_run_config(ROOT / "configs" / "demo" / "v3" / f"{stage}_maskgit.yaml")
    settings = {
        "out": str(tmp_path / "run"),
        "data.cache": str(cache),
        "data.batch_size": 2,
        "data.num_workers": 0,
        "model.preset": "debug",
        "model.warmup_steps": 1,
        "model.fields.dim": 32,
        "model.fields.depth": 1,
        "model.fields.heads": 2,
        "model.fields.ffn": 64,
        "model.fields.window_seconds": 2.0,
        "trainer.max_steps": 2,
        "trainer.log_every_n_steps": 1,
        "checkpoint.every_n_train_steps": 1,
        "trainer.val_check_interval": 1,
    }
    for k, v in settings.items():
        set_value(cfg, k, v)
    exported = train_stage(stage, cfg)
    role = {"stage2": "coarse", "stage3": "fine"}[stage]
    model = registry.load_stage(exported, role)
    assert isinstance(model, MaskGITStage) and model.role == role
    written = json.loads((exported / "config.json").read_text())
    assert written["model_type"] == "v2meow-maskgit" and written["training"]["val_loss"] is not None
    set_value(cfg, "model.fields.role", "fine" if role == "coarse" else "coarse")
    with pytest.raises(ConfigError, match="role"):
        train_stage(stage, cfg)


RHYTHM = {"name": "rhythm", "kind": "features", "size": 1, "rate": SEM_RATE, "dropout": 0.0, "route": "aligned"}


def test_a_coarse_stage_learns_what_only_the_rhythm_channel_says():
    """Codes that the rhythm channel alone determines (the semantic tokens say nothing): a stage with
    the `rhythm` extra stream learns them and follows a pulse train it never saw; without it, chance."""
    frames, steps = 40, 250

    def batch(b, seed):
        gen = torch.Generator().manual_seed(seed)
        pulses = (torch.rand(b, int(frames * SEM_RATE / CODEC_RATE), 1, generator=gen) < 0.5).float()  # [B, S, 1]
        idx = (torch.arange(frames) * SEM_RATE / CODEC_RATE + 1e-4).floor().long()  # the pulse frame over each code
        coarse = pulses[:, idx, 0].long()[:, None].expand(-1, NC, -1).contiguous()  # [B, N_c, T]: 1 on a pulse
        return torch.zeros(b, pulses.shape[1], dtype=torch.long), pulses, coarse

    def trained(extra):
        torch.manual_seed(0)
        stage = coarse_stage(dim=32, depth=2, heads=2, ffn=64, cond_dropout=0.0, extra_streams=extra)
        opt = torch.optim.AdamW(stage.parameters(), lr=3e-3, weight_decay=0.0)
        for step in range(steps):
            semantic, pulses, coarse = batch(8, step)
            out = stage(semantic=semantic, coarse=coarse, conditions={"rhythm": pulses} if extra else None)
            loss, _ = masked_cross_entropy(out.logits, out.targets, out.mask)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return stage.eval()

    semantic, pulses, coarse = batch(4, 10_000)  # a pulse train no step trained on
    greedy = SamplingConfig(temperature=0.0)
    with_rhythm = trained([RHYTHM]).generate(
        conditions={"semantic": semantic, "rhythm": pulses}, length=frames, sampling=greedy
    )
    without = trained([]).generate(conditions={"semantic": semantic}, length=frames, sampling=greedy)
    assert (with_rhythm == coarse).float().mean() > 0.95
    assert (without == coarse).float().mean() < 0.75


def test_extra_streams_are_checked():
    with pytest.raises(ConfigError, match="coarse stage"):
        fine_stage(extra_streams=[RHYTHM])
    with pytest.raises(ConfigError, match="time-aligned"):
        coarse_stage(extra_streams=[{**RHYTHM, "route": "encoder"}])
    stage = coarse_stage(extra_streams=[RHYTHM]).eval()
    semantic, coarse, _ = tokens()
    with pytest.raises(ConfigError, match="rhythm"):  # declared but not given
        stage.generate(conditions={"semantic": semantic}, length=40)
    with pytest.raises(ConfigError, match="rhythm"):
        stage(semantic=semantic, coarse=coarse)
    with pytest.raises(ConfigError, match="got"):  # given to a stage that does not read it
        coarse_stage().eval().generate(conditions={"semantic": semantic, "rhythm": torch.zeros(2, 20, 1)}, length=40)


def test_rhythm_guidance_drops_the_rhythm_alone():
    stage = coarse_stage(extra_streams=[{**RHYTHM, "dropout": 0.2}], decode_iterations=[2]).eval()
    torch.nn.init.normal_(stage.extra.null_embed, std=1.0)
    semantic, _, _ = tokens()
    pulses = torch.ones(2, semantic.shape[1], 1)

    def run(guidance):
        return stage.generate(
            conditions={"semantic": semantic, "rhythm": pulses},
            length=40,
            sampling=SamplingConfig(guidance=guidance),
            options=DecodeOptions(generator=make_generator(0)),
        )

    assert stage.guidable == ["semantic", "rhythm"]
    assert not torch.equal(run({"rhythm": 4.0}), run({})) and not torch.equal(
        run({"rhythm": 4.0}), run({"semantic": 4.0})
    )
