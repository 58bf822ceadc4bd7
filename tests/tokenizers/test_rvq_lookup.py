"""The inference-only residual VQ (`rvq.ResidualLookup`): what `load_codec` builds so that encoding
and decoding never import vector-quantize-pytorch; same state-dict layout and codes as the
`ResidualVQ` a codec trains with, and a clear refusal to train."""

import subprocess
import sys

import pytest
import torch

from v2meow.errors import ConfigError
from v2meow.tokenizers.acoustic import MelAECodec, SoundStream, VocosCodec, load_codec, rvq

CODECS = {
    "projected": lambda: SoundStream.from_preset("debug", codebook_dim=8),  # project_in/out are Linear layers
    "plain": lambda: VocosCodec.from_preset("debug"),
}


@pytest.mark.parametrize("kind", CODECS)
def test_lookup_has_the_trained_quantizers_keys_and_codes(kind):
    torch.manual_seed(0)
    codec = CODECS[kind]()
    trained = codec.quantizer  # ResidualVQ, random codebooks (and projections)
    dim = codec.config.latent_dim
    lookup = rvq.build_rvq(dim, codec.config, trainable=False)
    want = {k: (tuple(v.shape), v.dtype) for k, v in trained.state_dict().items()}
    assert {k: (tuple(v.shape), v.dtype) for k, v in lookup.state_dict().items()} == want
    lookup.load_state_dict(trained.state_dict())  # strict
    z = torch.randn(2, 13, dim)  # [B, T, D]
    codes = rvq.quantize(trained, z)  # [B, T, K]
    assert torch.equal(rvq.quantize(lookup, z), codes)
    assert torch.equal(rvq.dequantize(lookup, codes), rvq.dequantize(trained, codes))
    assert torch.equal(lookup.codebooks, trained.codebooks)


def test_loaded_codec_encodes_like_the_trainable_one_and_refuses_to_train(tmp_path):
    torch.manual_seed(0)
    codec = MelAECodec.from_preset("debug").eval()
    codec.save_pretrained(tmp_path / "codec")
    loaded = load_codec(tmp_path / "codec")
    assert isinstance(loaded.quantizer, rvq.ResidualLookup)
    wav = 0.1 * torch.randn(1, 1, 16000)
    assert torch.equal(
        loaded.encode(wav[0], sample_rate=codec.sample_rate), codec.encode(wav[0], sample_rate=codec.sample_rate)
    )
    with pytest.raises(ConfigError, match="trainable=True"):
        loaded.train()(wav)
    again = load_codec(tmp_path / "codec", trainable=True)
    assert not isinstance(again.quantizer, rvq.ResidualLookup)
    out = again.train()(wav)  # a training forward runs
    assert out.codes.shape[1] == codec.num_codebooks


def test_loading_a_codec_does_not_import_vector_quantize_pytorch(tmp_path):
    VocosCodec.from_preset("debug", encoder="mel", n_mels=80).save_pretrained(tmp_path / "codec")
    code = (
        "import sys; from v2meow.tokenizers.acoustic import load_codec; c = load_codec(sys.argv[1]); "
        "import torch; c.decode(c.encode(torch.zeros(1, 16000), sample_rate=16000)); "
        "print(sorted(m for m in ('vector_quantize_pytorch', 'einx', 'torch._dynamo') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "codec")], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
