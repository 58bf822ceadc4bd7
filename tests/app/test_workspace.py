"""The app's temporary folder: Gradio's cache points into it, and it is gone afterwards."""

from __future__ import annotations

import os

import pytest

from v2meow.app.workspace import GRADIO_CACHE_ENV, workspace


def test_removed_and_env_restored_even_on_error(tmp_path, monkeypatch):
    monkeypatch.setenv(GRADIO_CACHE_ENV, "/somewhere/else")
    with pytest.raises(RuntimeError), workspace(tmp_path) as space:
        assert os.environ[GRADIO_CACHE_ENV] == str(space.uploads) and space.outputs.is_dir()
        (space.outputs / "song.wav").write_bytes(b"x")
        raise RuntimeError("stop")
    assert not space.root.exists()
    assert os.environ[GRADIO_CACHE_ENV] == "/somewhere/else"


def test_env_unset_afterwards_when_it_was_unset(tmp_path, monkeypatch):
    monkeypatch.delenv(GRADIO_CACHE_ENV, raising=False)
    with workspace(tmp_path):
        pass
    assert GRADIO_CACHE_ENV not in os.environ
    assert list(tmp_path.iterdir()) == []
