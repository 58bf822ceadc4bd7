"""Shared pieces of the adversarial suite: a tiny debug bundle and the refusal check every case makes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from v2meow.pipelines import V2MeowPipeline
from v2meow.pipelines.debug import build_debug_bundle


@pytest.fixture(scope="session")
def bundle(tmp_path_factory):
    return build_debug_bundle(tmp_path_factory.mktemp("adv-bundle") / "debug")


@pytest.fixture
def no_model(monkeypatch):
    """Fail the test if a model is loaded: the refusal must come before any model work."""

    def load(*args, **kwargs):
        raise AssertionError("the model was loaded before the refusal")

    monkeypatch.setattr(V2MeowPipeline, "from_pretrained", classmethod(load))


@pytest.fixture
def video(make_video):
    """A 1-s 32x32 video at 10 fps."""
    return make_video("in.mp4", duration=1.0, fps=10, size=(32, 32))


@pytest.fixture
def refused(capsys):
    """`refused(main, argv, *outputs)`: exit status 2, one line on stderr, no traceback, no output or temp file left.

    Returns the stderr line. Files in `outputs` that existed before must be unchanged after.
    """

    def check(main, argv: list[str], *outputs: Path) -> str:
        before = {Path(o): Path(o).read_bytes() for o in outputs if Path(o).is_file()}
        folders = {Path(o).parent for o in outputs}
        temps_before = {f for d in folders if d.is_dir() for f in os.listdir(d) if ".tmp" in f}
        code = main([str(a) for a in argv])
        err = capsys.readouterr().err.strip()
        assert code == 2, (argv, code, err)
        assert len(err.splitlines()) == 1 and "Traceback" not in err, err
        for o in map(Path, outputs):
            if o in before:
                assert o.read_bytes() == before[o], f"{o} was changed"
            else:
                assert not o.exists(), f"{o} was left behind"
        temps = {f for d in folders if d.is_dir() for f in os.listdir(d) if ".tmp" in f}
        assert temps <= temps_before, temps - temps_before
        return err

    return check
