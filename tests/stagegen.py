"""Tiny stage models with shared sizes, for the stage tests."""

from v2meow.stages.stage1 import Stage1, Stage1Config
from v2meow.stages.stage2 import Stage2, Stage2Config
from v2meow.stages.stage3 import Stage3, Stage3Config

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
