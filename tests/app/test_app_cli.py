"""`v2meow-app` start-up checks that need neither Gradio nor a browser."""

from __future__ import annotations

from v2meow.cli.app import find_examples, main


def test_missing_env_bundle_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("V2MEOW_BUNDLE", str(tmp_path / "demo"))
    assert main(["--port", "7999"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert f"$V2MEOW_BUNDLE={tmp_path / 'demo'} is not a v2meow bundle" in err and "--bundle DIR" in err


def test_given_bundle_missing_is_exit_2(tmp_path, capsys):
    assert main(["--bundle", str(tmp_path / "nope")]) == 2
    assert "bundle directory not found" in capsys.readouterr().err


def test_bad_port_is_exit_2(capsys):
    assert main(["--port", "70000"]) == 2
    assert "--port" in capsys.readouterr().err


def test_examples_listing(tmp_path):
    assert find_examples(tmp_path / "missing") == []
    for name in ("b.mp4", "a.MOV", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.mp4").mkdir()
    assert [p.name for p in find_examples(tmp_path)] == ["a.MOV", "b.mp4"]
