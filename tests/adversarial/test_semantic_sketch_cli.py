"""`v2meow-codec sketch`: audio -> semantic tokens -> average codec frames -> audio; refusals in one line."""

import json

import pytest
import soundfile as sf
import torch

from v2meow.cli.codec import main as codec_main
from v2meow.cli.tokenizer import main as tokenizer_main
from v2meow.tokenizers.acoustic import VocosCodec
from v2meow.tokenizers.semantic import PitchMelBackbone, fit_kmeans, fit_token_frames, save_token_frames

SR = 16000


def melody(seconds: float, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(round(SR * seconds)) / SR
    f = 110.0 * 2 ** (torch.randint(0, 24, (int(seconds * 4) + 1,), generator=g) / 12)
    return 0.3 * torch.sin(2 * torch.pi * torch.cumsum(f[(t * 4).long()], 0) / SR) * torch.exp(-5 * ((t * 4) % 1.0))


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """A tiny bundle: a Griffin-Lim mel codec, a `mel-pitch` tokenizer with its frame table, empty stages."""
    root = tmp_path_factory.mktemp("sketch_bundle")
    torch.manual_seed(0)
    codec = VocosCodec.from_preset("debug", encoder="mel", n_mels=48, inversion="griffin_lim", griffin_lim_iters=4)
    codec.save_pretrained(root / "codec")
    audio = [melody(5.0, seed=s) for s in range(2)]
    tok = fit_kmeans(audio, PitchMelBackbone(), 8, average_frames=2, batch_frames=64)
    tok.save_pretrained(root / "semantic")
    save_token_frames(root / "semantic", fit_token_frames(tok, codec.eval(), [(a, SR) for a in audio]))
    tok.save_pretrained(root / "bare_semantic")  # no frames.safetensors
    for stage in ("stage1", "stage2", "stage3"):
        (root / stage).mkdir()
    components = {"stage1": "stage1", "stage2": "stage2", "stage3": "stage3", "codec": "codec", "semantic": "semantic"}
    (root / "pipeline.json").write_text(json.dumps({"format_version": 3, "components": components}))
    return root


def test_sketch_writes_a_wav_as_long_as_the_input(bundle, tmp_path, capsys):
    src = tmp_path / "in.wav"
    x = melody(2.3, seed=5).numpy()
    sf.write(src, x, 22050)  # read as 22.05 kHz audio: the output at 16 kHz keeps the duration
    out = tmp_path / "sketch.wav"
    assert codec_main(["sketch", str(src), str(out), "--bundle", str(bundle)]) == 0
    assert "semantic sketch" in capsys.readouterr().err
    info = sf.info(out)
    assert info.samplerate == SR and info.channels == 1
    assert abs(info.frames - round(len(x) * SR / 22050)) <= 1
    y, _ = sf.read(out)
    assert abs(y).max() > 0


def test_frames_subcommand_adds_a_table(bundle, tmp_path, capsys):
    import shutil

    tok = tmp_path / "tok"
    shutil.copytree(bundle / "bare_semantic", tok)
    src = tmp_path / "music"
    src.mkdir()
    sf.write(src / "a.wav", melody(3.0, seed=2).numpy(), SR)
    argv = ["frames", "--tokenizer", str(tok), "--codec", str(bundle / "codec"), "--audio", str(src), "--quiet"]
    assert tokenizer_main(argv) == 0
    assert (tok / "frames.safetensors").is_file() and "tokens" in capsys.readouterr().err
    out = tmp_path / "o.wav"
    assert codec_main(["sketch", str(src / "a.wav"), str(out), "--bundle", str(bundle), "--tokenizer", str(tok)]) == 0


def test_sketch_refuses_bad_inputs_in_one_line(bundle, tmp_path, refused):
    good = tmp_path / "in.wav"
    sf.write(good, melody(1.0).numpy(), SR)
    out = tmp_path / "out.wav"
    junk = tmp_path / "junk.wav"
    junk.write_text("not audio")
    assert "junk.wav" in refused(codec_main, ["sketch", junk, out, "--bundle", bundle], out)
    assert "no such file" in refused(codec_main, ["sketch", tmp_path / "missing.wav", out, "--bundle", bundle], out)
    assert "bundle" in refused(codec_main, ["sketch", good, out, "--bundle", tmp_path / "nobundle"], out)
    assert "pipeline.json" in refused(codec_main, ["sketch", good, out, "--bundle", tmp_path], out)
    err = refused(codec_main, ["sketch", good, out, "--bundle", bundle, "--tokenizer", bundle / "bare_semantic"], out)
    assert "no token frame table" in err
    unwritable = tmp_path / "no_dir" / "out.wav"
    assert "does not exist" in refused(codec_main, ["sketch", good, unwritable, "--bundle", bundle], unwritable)
    assert "must end in" in refused(codec_main, ["sketch", good, tmp_path / "out.txt", "--bundle", bundle])
    assert "is the input" in refused(codec_main, ["sketch", good, good, "--bundle", bundle], good)
    short = tmp_path / "short.wav"
    sf.write(short, melody(0.01).numpy(), SR)
    assert "one token" in refused(codec_main, ["sketch", short, out, "--bundle", bundle], out)


def test_sketch_refuses_a_non_mel_codec(bundle, tmp_path, refused):
    import shutil

    other = tmp_path / "bundle"
    shutil.copytree(bundle, other)
    shutil.rmtree(other / "codec")
    VocosCodec.from_preset("debug", encoder="melnet").save_pretrained(other / "codec")
    good = tmp_path / "in.wav"
    sf.write(good, melody(1.0).numpy(), SR)
    out = tmp_path / "out.wav"
    assert "needs a mel codec" in refused(codec_main, ["sketch", good, out, "--bundle", other], out)
