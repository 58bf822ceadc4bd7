"""fairseq HuBERT -> transformers HuBERT conversion, without fairseq, and the pickle safety gate."""

import argparse
import json
import sys
import types

import pytest
import torch

from v2meow.cli import convert as cli
from v2meow.errors import ConfigError, MissingWeightsError
from v2meow.tokenizers.semantic import convert_fairseq_hubert, load_backbone, tiny_hubert_config
from v2meow.tokenizers.semantic.fairseq import hubert_to_fairseq, parse_conv_layers

VARIANTS = {
    "base": dict(),  # group norm on the first conv, post-LN transformer (HuBERT Base)
    "large": dict(feat_extract_norm="layer", do_stable_layer_norm=True, conv_bias=True),  # HuBERT Large/X-Large layout
}


def tiny_fairseq(tmp_path, variant="base", name="hubert.pt", with_cfg=True, **config):
    """A tiny transformers HuBERT and the same weights saved the way fairseq saves a checkpoint."""
    from transformers import HubertModel

    torch.manual_seed(0)
    model = HubertModel(tiny_hubert_config(**{**VARIANTS[variant], **config})).eval()
    state, model_cfg = hubert_to_fairseq(model)
    state["final_proj.weight"] = torch.randn(16, 32)
    state["final_proj.bias"] = torch.randn(16)
    state["label_embs_concat"] = torch.randn(504, 16)
    ckpt = {"model": state, "optimizer_history": [{"num_updates": 10}], "extra_state": {"epoch": 3}}
    if with_cfg:
        ckpt["cfg"] = {"model": model_cfg, "task": {"sample_rate": 16000, "normalize": variant == "large"}}
    torch.save(ckpt, tmp_path / name)
    return model, tmp_path / name


def outputs(model, x):
    with torch.no_grad():
        return model(x).last_hidden_state


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_round_trip_outputs_equal(tmp_path, variant):
    from transformers import HubertModel

    model, src = tiny_fairseq(tmp_path, variant)
    out, notes = convert_fairseq_hubert(src, tmp_path / "out")
    assert {p.name for p in out.iterdir()} >= {"config.json", "model.safetensors", "preprocessor_config.json"}
    assert not list(out.glob("*.bin")) and not list(out.glob("*.pt"))
    assert any("final_proj.weight" in n and "label_embs_concat" in n for n in notes)
    converted = HubertModel.from_pretrained(str(out), local_files_only=True).eval()
    x = torch.randn(2, 8000)
    torch.testing.assert_close(outputs(converted, x), outputs(model, x), rtol=0, atol=0)
    backbone = load_backbone("hubert", str(out), layer=2)  # the tokenizer backbone reads the output directly
    assert backbone.normalize_waveform == (variant == "large") and backbone(x).shape == (2, 25, 32)


def test_cli_requires_trust_for_non_tensor_pickles(tmp_path, capsys):
    model, src = tiny_fairseq(tmp_path, with_cfg=False)
    _, model_cfg = hubert_to_fairseq(model)
    ckpt = torch.load(src, weights_only=True)
    ckpt["args"] = argparse.Namespace(**model_cfg, sample_rate=16000, normalize=False)  # legacy fairseq layout
    torch.save(ckpt, src)
    rc = cli.main(["fairseq-hubert", str(src), str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert "argparse.Namespace" in err and "arbitrary code" in err and "--trust-pickle" in err
    assert not (tmp_path / "out").exists()
    rc = cli.main(["fairseq-hubert", str(src), str(tmp_path / "out"), "--trust-pickle"])
    assert rc == 0, capsys.readouterr().err
    assert json.loads((tmp_path / "out" / "config.json").read_text())["num_attention_heads"] == 4


def test_trusted_pickle_with_classes_that_cannot_be_imported(tmp_path):
    mod = types.ModuleType("fake_fairseq_meters")

    class Meter:
        def __init__(self):
            self.total = 3.0

    Meter.__module__ = mod.__name__
    Meter.__qualname__ = "Meter"
    mod.Meter = Meter
    sys.modules[mod.__name__] = mod
    try:
        model, src = tiny_fairseq(tmp_path)
        ckpt = torch.load(src, weights_only=True)
        ckpt["extra_state"]["metrics"] = {"loss": Meter()}
        torch.save(ckpt, src)
    finally:
        del sys.modules[mod.__name__]  # as on a machine without fairseq
    with pytest.raises(ConfigError, match="trust-pickle"):
        convert_fairseq_hubert(src, tmp_path / "a")
    out, _ = convert_fairseq_hubert(src, tmp_path / "b", trust_pickle=True)
    assert (out / "model.safetensors").is_file()


def test_bare_state_dict_is_inferred_with_notes(tmp_path):
    from transformers import HubertModel

    # fairseq's default conv layout (narrow) and 64-d heads, so nothing needs the config
    default_conv = dict(conv_dim=(8,) * 7, conv_kernel=(10, 3, 3, 3, 3, 2, 2), conv_stride=(5, 2, 2, 2, 2, 2, 2))
    model, src = tiny_fairseq(tmp_path, with_cfg=False, hidden_size=64, num_attention_heads=1, **default_conv)
    out, notes = convert_fairseq_hubert(src, tmp_path / "out")
    assert any("inferred from tensor shapes" in n for n in notes) and any("default strides" in n for n in notes)
    converted = HubertModel.from_pretrained(str(out), local_files_only=True).eval()
    x = torch.randn(1, 8000)
    torch.testing.assert_close(outputs(converted, x), outputs(model, x), rtol=0, atol=0)


def test_fine_tuned_prefix_and_unknown_keys(tmp_path):
    model, src = tiny_fairseq(tmp_path)
    ckpt = torch.load(src, weights_only=True)
    ckpt["model"] = {f"w2v_encoder.w2v_model.{k}": v for k, v in ckpt["model"].items()}
    ckpt["model"]["w2v_encoder.proj.weight"] = torch.randn(32, 32)  # CTC head, not part of HuBERT
    torch.save(ckpt, tmp_path / "ctc.pt")
    convert_fairseq_hubert(tmp_path / "ctc.pt", tmp_path / "ctc")
    ckpt = torch.load(src, weights_only=True)
    ckpt["model"]["encoder.layers.0.adapter.weight"] = torch.randn(3)
    torch.save(ckpt, tmp_path / "odd.pt")
    with pytest.raises(ConfigError, match="unmapped fairseq keys: encoder.layers.0.adapter.weight"):
        convert_fairseq_hubert(tmp_path / "odd.pt", tmp_path / "odd")
    assert not (tmp_path / "odd").exists()


def test_bad_inputs(tmp_path):
    with pytest.raises(MissingWeightsError):
        convert_fairseq_hubert(tmp_path / "none.pt", tmp_path / "out")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(ConfigError):
        convert_fairseq_hubert(tmp_path / "junk.pt", tmp_path / "out", trust_pickle=True)
    torch.save({"model": {"foo": torch.zeros(1)}}, tmp_path / "other.pt")
    with pytest.raises(ConfigError, match="not a fairseq HuBERT"):
        convert_fairseq_hubert(tmp_path / "other.pt", tmp_path / "out")
    _, src = tiny_fairseq(tmp_path)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("x")
    with pytest.raises(Exception, match="not empty"):
        convert_fairseq_hubert(src, tmp_path / "full")


def test_conv_layer_spec_is_parsed_not_evaluated():
    expected = [(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512, 2, 2)] * 2
    assert parse_conv_layers("[(512,10,5)] + [(512,3,2)] * 4 + [(512,2,2)] * 2") == expected
    with pytest.raises(ConfigError):
        parse_conv_layers("__import__('os').system('echo pwned')")
    with pytest.raises(ConfigError):
        parse_conv_layers("[(1, 2)]")


def test_help_explains_trust_pickle(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["fairseq-hubert", "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and "arbitrary" in out and "weights_only=True" in out
