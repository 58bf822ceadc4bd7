"""The demo bundle's frozen tokenizers give the tokens they gave before the mel filterbanks were
merged into `v2meow.signal.dsp.mel_filterbank` (hashes recorded from the code before the change;
the codec's and the generated codes' once more for the demo bundle v3: its `mel128` codec and new stages,
and the generated codes when its rhythm guidance went from 3 to 8)."""

import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "checkpoints" / "demo"
pytestmark = pytest.mark.skipif(not (BUNDLE / "pipeline.json").exists(), reason="no demo bundle")

SEMANTIC = "86332e02f0d6c96bfe897aec5493fc42bca48d483609df82fef9fb457cb48ab4"
CODEC = "89ffdbe05daac0a2d7429706659262eb02dedce831d046ee80c9e3afd4636103"
GENERATED = (  # semantic, coarse, fine of a 3-s generation, seed 0
    "fccabb4a40d2449ac3dae2f28e49ab8a2676c471798c47ce9981cc959a03b2e9",
    "49c10359851eb6ec2cbca6b4daddf9ad38ac0b714a97ab5fe309717e07c1b81e",
    "5c0774eca7c012a37dc1ccdb5a96935c0d822f410ba2ebb541a7786f18e6d815",
)


def _signal(sr: int = 16000, seconds: float = 3.0) -> torch.Tensor:
    t = np.arange(int(sr * seconds)) / sr
    rng = np.random.default_rng(1234)
    x = (
        0.3 * np.sin(2 * np.pi * 220 * t)
        + 0.2 * np.sin(2 * np.pi * 330 * t * (1 + 0.1 * t))
        + 0.05 * rng.standard_normal(t.size)
    )
    return torch.tensor(x * (0.5 + 0.5 * np.sin(2 * np.pi * 2 * t)), dtype=torch.float32)


def _hash(tokens: torch.Tensor) -> str:
    return hashlib.sha256(tokens.cpu().numpy().astype(np.int64).tobytes()).hexdigest()


@torch.inference_mode()
def test_semantic_tokenizer_and_mel_codec_tokens_are_unchanged():
    from v2meow.tokenizers.acoustic import load_codec
    from v2meow.tokenizers.semantic import SemanticTokenizer

    semantic = SemanticTokenizer.from_pretrained(BUNDLE / "semantic").eval()
    tokens = semantic.encode(_signal(), 16000)
    assert tokens.shape == (75,) and _hash(tokens) == SEMANTIC
    codes = load_codec(BUNDLE / "codec").eval().encode(_signal()[None, None])
    assert codes.shape == (1, 8, 150) and _hash(codes) == CODEC


@pytest.mark.slow
def test_demo_bundle_generates_the_same_codes(tmp_path):
    sys.path.insert(0, str(ROOT / "tests"))
    import mediagen
    from v2meow.pipelines import V2MeowPipeline

    video = mediagen.make_video(tmp_path / "v.mp4", duration=3.0, fps=20, size=(96, 96), pattern="moving")
    out = V2MeowPipeline.from_pretrained(BUNDLE)(video, seed=0)
    assert (_hash(out.semantic), _hash(out.coarse), _hash(out.fine)) == GENERATED
