import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))  # tests/mediagen.py

import mediagen

# Test models are tiny: one intra-op thread avoids thread hand-off costs that dominate small ops.
torch.set_num_threads(1)


@pytest.fixture
def make_video(tmp_path):
    def make(name="v.mp4", **kw):
        return mediagen.make_video(tmp_path / name, **kw)

    return make


@pytest.fixture
def make_audio(tmp_path):
    def make(name="a.wav", **kw):
        return mediagen.make_audio(tmp_path / name, **kw)

    return make
