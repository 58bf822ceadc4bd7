import pytest
import torch

from stagegen import CODEC_RATE, FDIM, FRATE, NC, NF, SEM_RATE, VOCAB, K


@pytest.fixture
def clip_tokens():
    """One 2-s 'clip': visual features, style, semantic tokens, coarse and fine codes."""
    g = torch.Generator().manual_seed(0)
    return dict(
        visual=torch.randn(1, int(2 * FRATE), FDIM, generator=g),
        style=torch.randn(1, 6, generator=g),
        semantic=torch.randint(0, VOCAB, (1, int(2 * SEM_RATE)), generator=g),
        coarse=torch.randint(0, K, (1, NC, int(2 * CODEC_RATE)), generator=g),
        fine=torch.randint(0, K, (1, NF, int(2 * CODEC_RATE)), generator=g),
    )
