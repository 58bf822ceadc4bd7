"""Odd audio into `v2meow-codec encode` and odd codes files into `decode`, through the CLI and the codec API.

Every input here is either encoded to the right shape (and, where it says the same thing as a plain
mono tone, to the same codes) or refused in one line naming the file; a decode never trusts the
file's `num_samples` or code values.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from v2meow.cli.codec import main as codec_main
from v2meow.errors import ConfigError
from v2meow.media import read_audio
from v2meow.tokenizers.acoustic import EncodedAudio, InvalidAudioError, load_codec
from v2meow.tokenizers.acoustic.soundstream import SoundStream, SoundStreamConfig

RATE = 16000  # the debug SoundStream: 16 kHz, hop 320, 4 x 64 codes, mono


def tone(n: int, rate: int = RATE, amp: float = 0.3) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * 440 * np.arange(n) / rate)).astype(np.float64)


@pytest.fixture(scope="module")
def codec_dir(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("codec") / "codec"
    SoundStream(SoundStreamConfig.from_preset("debug", kmeans_init=False)).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def codec(codec_dir):
    return load_codec(codec_dir)


def encode(codec_dir, src, out):
    return codec_main(["encode", str(src), str(out), "--codec", str(codec_dir)])


@pytest.fixture(scope="module")
def reference(codec_dir, tmp_path_factory):
    """Codes of a one-second mono 16 kHz tone written as 16-bit PCM."""
    d = tmp_path_factory.mktemp("ref")
    sf.write(d / "mono.wav", tone(RATE), RATE, subtype="FLOAT")
    assert encode(codec_dir, d / "mono.wav", d / "mono.safetensors") == 0
    return EncodedAudio.load(d / "mono.safetensors")


# ---- encode: odd files -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, subtype",
    [("i32.wav", "PCM_32"), ("f64.wav", "DOUBLE"), ("i24.flac", "PCM_24"), ("f32.wav", "FLOAT")],
)
def test_sample_formats_give_the_same_codes(codec_dir, reference, tmp_path, name, subtype):
    sf.write(tmp_path / name, tone(RATE), RATE, subtype=subtype)
    assert encode(codec_dir, tmp_path / name, tmp_path / "c.safetensors") == 0
    got = EncodedAudio.load(tmp_path / "c.safetensors")
    assert got.num_samples == RATE and got.codes.shape == (4, 50)
    assert (got.codes == reference.codes).float().mean() > 0.95  # quantisation of the PCM may move a rare code


@pytest.mark.parametrize("channels", [3, 6, 8])
def test_many_channels_downmix_to_the_mean(codec_dir, reference, tmp_path, channels):
    """Identical channels downmix to that one channel (FFmpeg's matrix for an 8-channel file overshot to 1.3)."""
    path = tmp_path / f"c{channels}.wav"
    sf.write(path, np.stack([tone(RATE)] * channels, 1), RATE, subtype="FLOAT")
    mono, _ = read_audio(path)
    assert mono.shape == (1, RATE) and abs(float(mono.abs().max()) - 0.3) < 1e-3
    kept, _ = read_audio(path, channels=None)  # PyAV used to crash (SIGSEGV) on planar frames of 8 unnamed channels
    assert kept.shape == (channels, RATE) and torch.allclose(kept[0], kept[-1])
    stereo, _ = read_audio(path, channels=2)
    assert stereo.shape == (2, RATE) and float(stereo.abs().max()) < 0.31
    assert encode(codec_dir, path, tmp_path / "c.safetensors") == 0
    assert torch.equal(EncodedAudio.load(tmp_path / "c.safetensors").codes, reference.codes)


def test_192khz_is_resampled(codec_dir, reference, tmp_path):
    sf.write(tmp_path / "hi.wav", tone(192000, 192000), 192000, subtype="FLOAT")
    assert encode(codec_dir, tmp_path / "hi.wav", tmp_path / "c.safetensors") == 0
    got = EncodedAudio.load(tmp_path / "c.safetensors")
    assert got.num_samples == RATE and got.codes.shape == (4, 50)
    assert (got.codes == reference.codes).float().mean() > 0.9


@pytest.mark.parametrize("suffix", [".mp3", ".ogg", ".flac"])
def test_compressed_inputs(codec_dir, make_audio, tmp_path, suffix):
    src = tmp_path / ("tone" + suffix)
    make_audio(src.name, duration=1.0, rate=48000 if suffix == ".ogg" else 44100)
    assert encode(codec_dir, src, tmp_path / "c.safetensors") == 0
    got = EncodedAudio.load(tmp_path / "c.safetensors")
    assert abs(got.num_samples - RATE) <= 32 and got.codes.shape == (4, -(-got.num_samples // 320))
    assert (
        codec_main(["decode", str(tmp_path / "c.safetensors"), str(tmp_path / "o.wav"), "--codec", str(codec_dir)]) == 0
    )
    assert sf.info(tmp_path / "o.wav").frames == got.num_samples


def test_silence_encodes_and_decodes_finite(codec_dir, tmp_path):
    sf.write(tmp_path / "s.wav", np.zeros(RATE), RATE)
    assert encode(codec_dir, tmp_path / "s.wav", tmp_path / "c.safetensors") == 0
    assert (
        codec_main(["decode", str(tmp_path / "c.safetensors"), str(tmp_path / "o.wav"), "--codec", str(codec_dir)]) == 0
    )
    out, sr = sf.read(tmp_path / "o.wav")
    assert sr == RATE and out.shape == (RATE,) and np.isfinite(out).all()


@pytest.mark.parametrize(
    "name, data, words",
    [
        ("one.wav", np.array([0.3]), "shorter than one codec frame"),
        ("zero.wav", np.zeros(0), "no decodable samples"),
        ("nan.wav", np.where(np.arange(RATE) < 100, np.nan, 0.1), "NaN or inf"),
        ("inf.wav", np.where(np.arange(RATE) == 5, -np.inf, 0.1), "NaN or inf"),
    ],
)
def test_unusable_audio_refused_naming_the_file(codec_dir, tmp_path, refused, name, data, words):
    sf.write(tmp_path / name, data.astype(np.float32), RATE, subtype="FLOAT")
    out = tmp_path / "c.safetensors"
    err = refused(codec_main, ["encode", tmp_path / name, out, "--codec", codec_dir], out)
    assert words in err and str(tmp_path / name) in err, err


# ---- encode: the API ---------------------------------------------------------------------------


def test_api_shapes_and_dtypes(codec, reference):
    x = torch.from_numpy(tone(RATE))
    assert torch.equal(codec.encode(x), reference.codes)  # float64 [N]
    assert torch.equal(codec.encode(np.stack([tone(RATE)] * 8)), reference.codes)  # [8, N] numpy: the mean
    assert codec.encode(x[None, None].expand(3, 2, -1)).shape == (3, 4, 50)  # batched, stereo
    assert codec.encode(torch.zeros(320)).shape == (4, 1) and codec.encode(torch.zeros(321)).shape == (4, 2)
    assert codec.encode(torch.zeros(1), sample_rate=16).shape == (4, 4)  # 1 sample at 16 Hz = 1000 at 16 kHz
    assert torch.equal(
        codec.encode(tone(192000, 192000), sample_rate=192000), codec.encode(tone(192000, 192000), 192000)
    )


@pytest.mark.parametrize(
    "wav, words",
    [
        (torch.zeros(1), "shorter than one codec frame"),
        (np.zeros(RATE, dtype=np.int32), "float"),
        (torch.zeros(1, 1, 1, 400), "shape"),
        (torch.zeros(0, 400), "no batch items or channels"),
        (torch.full((400,), float("nan")), "NaN"),
    ],
)
def test_api_refusals(codec, wav, words):
    with pytest.raises(InvalidAudioError, match=words):
        codec.encode(wav)
    with pytest.raises(InvalidAudioError, match="positive"):
        codec.encode(torch.zeros(400), sample_rate=-8000)


# ---- decode ------------------------------------------------------------------------------------


def _variant(src, dst, codes=None, **meta):
    with safe_open(str(src), "pt") as f:
        old, base = f.get_tensor("codes"), f.metadata()
    save_file({"codes": (old if codes is None else codes(old)).contiguous()}, str(dst), metadata={**base, **meta})
    return dst


@pytest.fixture
def codes_file(codec_dir, tmp_path):
    sf.write(tmp_path / "in.wav", tone(RATE), RATE)
    assert encode(codec_dir, tmp_path / "in.wav", tmp_path / "c.safetensors") == 0
    return tmp_path / "c.safetensors"


@pytest.mark.parametrize(
    "codes, meta, words",
    [
        (lambda c: torch.where(torch.arange(50) == 3, -1, c).int(), {}, "must lie in [0, 64)"),
        (lambda c: torch.where(torch.arange(50) == 3, 64, c).int(), {}, "must lie in [0, 64)"),
        (lambda c: torch.full_like(c, 2**40, dtype=torch.int64), {}, "must lie in [0, 64)"),
        (lambda c: torch.cat([c, c[:1]]), {"num_codebooks": "5"}, "codebooks 5 vs 4"),
        (lambda c: torch.cat([c, c[:1]]), {}, "metadata says 4 codebooks, the codes have 5"),
        (lambda c: c[:0], {"num_codebooks": "0"}, "empty"),
        (lambda c: c[0], {}, "must be [K, T]"),
        (lambda c: c.float() + 0.5, {}, "must be integers"),
        (lambda c: torch.full(c.shape, float("nan")), {}, "must be integers"),
        (lambda c: c > 3, {}, "must be integers"),
        (None, {"num_samples": str(10**12)}, "num_samples 1000000000000 does not fit 50 frames"),
        (None, {"num_samples": "-5"}, "num_samples -5 does not fit"),
        (None, {"num_samples": "0"}, "num_samples 0 does not fit"),
        (None, {"num_samples": "320"}, "num_samples 320 does not fit"),
        (None, {"num_samples": "1e3"}, "malformed codes metadata"),
    ],
)
def test_bad_codes_files_refused(codec_dir, codes_file, tmp_path, refused, codes, meta, words):
    bad = _variant(codes_file, tmp_path / "bad.safetensors", codes, **meta)
    out = tmp_path / "o.wav"
    err = refused(codec_main, ["decode", bad, out, "--codec", codec_dir], out)
    assert words in err, err


def test_fewer_levels_and_other_int_dtypes_decode(codec_dir, codes_file, tmp_path):
    """A prefix of the codebooks decodes a coarser version; uint8/int64 codes in range are plain integers."""
    for name, codes, meta in [
        ("k1", lambda c: c[:1], {"num_codebooks": "1"}),
        ("u8", lambda c: c.to(torch.uint8), {}),
        ("i64", lambda c: c.long(), {}),
    ]:
        src = _variant(codes_file, tmp_path / f"{name}.safetensors", codes, **meta)
        out = tmp_path / f"{name}.wav"
        assert codec_main(["decode", str(src), str(out), "--codec", str(codec_dir)]) == 0
        assert sf.info(out).frames == RATE


@pytest.mark.parametrize(
    "length, words",
    [(-5, "at least 1"), (0, "at least 1"), (2.5, "whole number"), (True, "whole number"), ("10", "whole number")],
)
def test_api_decode_length_refused(codec, reference, length, words):
    with pytest.raises(ConfigError, match=words):
        codec.decode(reference.codes, length=length)


def test_api_decode_lengths(codec, reference):
    assert codec.decode(reference.codes, length=10**12).shape == (1, RATE)  # no allocation of 10**12 samples
    assert codec.decode(reference.codes, length=np.int64(7)).shape == (1, 7)
    assert codec.decode(reference.codes[:2]).shape == (1, RATE)
    for bad, words in [
        (reference.codes.index_fill(1, torch.tensor([7]), -1), r"\[0, 64\)"),
        (reference.codes.float(), "integers"),
        (torch.cat([reference.codes] * 2), "5|8 codebooks"),
        (reference.codes[:, :0], "empty"),
        (reference.codes[None, None], "shape"),
    ]:
        with pytest.raises(ConfigError, match=words):
            codec.decode(bad)
