"""Tiny stage models with shared sizes, for the stage tests."""

from v2meow.stages.ar_coarse import Stage2, Stage2Config
from v2meow.stages.ar_fine import Stage3, Stage3Config
from v2meow.stages.ar_semantic import Stage1, Stage1Config

VOCAB, SEM_RATE, K, NC, NF, CODEC_RATE, FDIM, FRATE = 24, 10.0, 16, 2, 2, 20.0, 8, 5.0


def stage1(**kw):
    fields = dict(
        feature_dim=FDIM,
        feature_rate=FRATE,
        style_dim=6,
        semantic_vocab=VOCAB,
        semantic_rate=SEM_RATE,
        window_seconds=2.0,
    )
    cfg = Stage1Config.preset("debug", **{**fields, **kw})
    return Stage1(cfg)


def stage2(variant="decoder", **kw):
    cfg = Stage2Config.preset(
        "debug",
        variant=variant,
        semantic_vocab=VOCAB,
        semantic_rate=SEM_RATE,
        codebook_size=K,
        num_coarse=NC,
        codec_rate=CODEC_RATE,
        feature_dim=FDIM if variant == "encdec" else 0,
        feature_rate=FRATE,
        window_seconds=2.0,
        **kw,
    )
    return Stage2(cfg)


def stage3(**kw):
    cfg = Stage3Config.preset(
        "debug", codebook_size=K, num_coarse=NC, num_fine=NF, codec_rate=CODEC_RATE, window_seconds=1.0, **kw
    )
    return Stage3(cfg)


def editable_bundle(out, **debug):
    """The debug bundle at `out` (`build_debug_bundle(out, **debug)`) with MaskGIT stages 2 and 3 (they
    infill between kept frames) and a semantic tokenizer (it reads music back): a bundle that can edit
    a soundtrack. Returns `out`."""
    import json
    import shutil

    import torch

    from v2meow.pipelines.debug import build_debug_bundle
    from v2meow.stages.maskgit import MaskGITConfig, MaskGITStage
    from v2meow.tokenizers.semantic import MelBackbone, SemanticTokenizer

    out = build_debug_bundle(out, **debug)

    def fields(name):
        return json.loads((out / name / "config.json").read_text())

    c2, c3 = fields("stage2"), fields("stage3")
    shared = {k: c2[k] for k in ("codebook_size", "num_coarse", "codec_rate")}
    torch.manual_seed(0)
    coarse = MaskGITConfig.preset(
        "debug", role="coarse", semantic_vocab=c2["semantic_vocab"], semantic_rate=c2["semantic_rate"],
        window_seconds=1.0, decode_iterations=[4], **shared,
    )  # fmt: skip
    fine = MaskGITConfig.preset("debug", role="fine", num_fine=c3["num_fine"], window_seconds=1.0, **shared)
    for name, cfg in (("stage2", coarse), ("stage3", fine)):
        shutil.rmtree(out / name)
        MaskGITStage(cfg).save_pretrained(out / name)
    tok = SemanticTokenizer.from_backbone(MelBackbone(n_mels=16, deltas=False), torch.randn(32, 16), average_frames=2)
    tok.save_pretrained(out / "semantic")
    spec = json.loads((out / "pipeline.json").read_text())
    spec["components"]["semantic"] = "semantic"
    (out / "pipeline.json").write_text(json.dumps(spec))
    return out
