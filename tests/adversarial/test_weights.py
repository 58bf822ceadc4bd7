"""Nothing executable is loaded without --trust-pickle: planted payloads never run, refusals are one line."""

from __future__ import annotations

import os

import pytest
import torch

from v2meow.safety.safeload import load_torch


class Payload:
    """Unpickling this runs `touch <marker>`."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def planted(tmp_path):
    """Weight-looking files whose loading would create `marker`: torch.save pickles and a TorchScript archive."""
    marker = tmp_path / "PAYLOAD_RAN"
    files = {}
    for suffix in (".pt", ".pth", ".ckpt", ".bin"):
        path = tmp_path / f"evil{suffix}"
        torch.save({"state_dict": {"visual.weight": torch.zeros(2)}, "x": Payload(marker)}, str(path))
        files[suffix] = path

    class Holder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.visual = torch.nn.Linear(2, 3)

        def forward(self, x):
            return self.visual(x)

    script = tmp_path / "script.pt"
    torch.jit.script(Holder()).save(str(script))
    files["torchscript"] = script
    return marker, files


def test_loader_refuses_every_planted_file(planted, monkeypatch):
    marker, files = planted
    jit_calls = []
    monkeypatch.setattr(torch.jit, "load", lambda *a, **k: jit_calls.append(a))
    for path in files.values():
        with pytest.raises(Exception) as e:
            load_torch(path)
        assert "--trust-pickle" in str(e.value) and "\n" not in str(e.value)
    assert not marker.exists() and jit_calls == []


def test_trusted_load_does_run_it(planted):
    """The gate is real: with trust, the payload runs (so the refusals above are what kept it from running)."""
    marker, files = planted
    load_torch(files[".pt"], trust_pickle=True)
    assert marker.exists()


@pytest.mark.parametrize("kind", [".pt", ".pth", "torchscript"])
def test_features_cli_weights(planted, make_video, tmp_path, refused, kind):
    from v2meow.cli.features import main

    marker, files = planted
    video = make_video("v.mp4", duration=1.0, fps=10, size=(32, 32))
    out = tmp_path / "f.safetensors"
    for extractor in ("clip", "i3d"):
        err = refused(
            main,
            ["--video", video, "--extractors", extractor, "--weights", f"{extractor}={files[kind]}", "--out", out],
            out,
        )
        assert "--trust-pickle" in err
    assert not marker.exists()


def test_export_cli(planted, tmp_path, refused):
    from v2meow.cli.export import main as export

    marker, files = planted
    for path in (files[".ckpt"], files["torchscript"]):
        assert "--trust-pickle" in refused(export, [path, tmp_path / "exported"], tmp_path / "exported")
    assert not marker.exists()


@pytest.mark.slow  # imports transformers
def test_convert_cli(planted, tmp_path, refused):
    from v2meow.cli.convert import main as convert

    marker, files = planted
    for path in (files[".pt"], files["torchscript"]):
        assert "--trust-pickle" in refused(convert, ["fairseq-hubert", path, tmp_path / "hubert"], tmp_path / "hubert")
    assert not marker.exists()


def test_vggish_weights(planted):
    from v2meow.errors import ConfigError
    from v2meow.evaluation.vggish import VGGish

    marker, files = planted
    for path in (files[".pth"], files["torchscript"]):
        with pytest.raises(ConfigError, match="--trust-pickle"):
            VGGish.from_pretrained(path)
    assert not marker.exists()


def test_resume_checkpoint_is_read_safely(planted, tmp_path):
    from v2meow.errors import ConfigError
    from v2meow.training.runner import resolve_ckpt_path

    marker, files = planted
    for path in (files[".ckpt"], files["torchscript"]):
        with pytest.raises(ConfigError, match="--trust-pickle"):
            resolve_ckpt_path(str(path), tmp_path)
    assert not marker.exists()
