import json
import shutil

import pytest

from v2meow.cli.eval import main


def _run(argv, capsys):
    try:
        rc = main(argv)
    except SystemExit as e:  # argparse errors exit from parse_args
        rc = e.code
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_end_to_end(eval_dirs, tmp_path, capsys):
    gen = shutil.copytree(eval_dirs["gen"], tmp_path / "gen")
    (gen / "extra.wav").write_bytes(b"junk")  # no reference: reported
    out = tmp_path / "report"
    argv = [
        "--generated",
        str(gen),
        "--reference",
        str(eval_dirs["ref"]),
        "--videos",
        str(eval_dirs["vid"]),
        "--out",
        str(out),
        "--seed",
        "3",
        "--bootstrap",
        "50",
        "--shuffles",
        "3",
        "--quiet",
    ]
    rc, stdout, err = _run(argv, capsys)
    assert rc == 0, err
    assert "extra: generated file" in err and err.count("\n") == 2  # the problem line and the summary line
    data = json.loads((out / "metrics.json").read_text())
    assert data["counts"]["evaluated"] == 6 and data["config"]["seed"] == 3
    assert data["backbone"]["weight_free"] is True
    assert data["problems"][0]["kind"] == "missing_reference"
    assert {"fad", "mcc_audio", "beat_alignment", "tempo_agreement"} <= set(data["metrics"])
    beat = data["metrics"]["beat_alignment"]
    assert beat["value"] > beat["baselines"]["shuffle"]["value"]
    assert len(data["per_clip"]) == 6 and "beat_alignment_shuffle" in data["per_clip"][0]
    md = (out / "report.md").read_text()
    assert "weight-free" in md and "random shuffle" in md and "extra" in md
    assert (out / "per_clip.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "per_clip.csv").read_text().startswith("stem,")
    assert "beat_alignment:" in stdout
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--backbone", "trill"], "invalid choice"),
        (["--shuffles", "0"], "must be positive"),
        (["--bootstrap", "-1"], "--bootstrap"),
        (["--backbone", "vggish"], "torchvggish"),
        (["--backbone", "vggish", "--weights", "/nonexistent.pth"], "vggish-10086976.pth"),
        (["--classifier", "/nonexistent"], "audio-classification"),
        (["--prompts", "/nonexistent.json"], "cannot read prompts"),
    ],
)
def test_cli_bad_arguments_exit_2_with_one_line(eval_dirs, tmp_path, capsys, extra, message):
    argv = [
        "--generated",
        str(eval_dirs["gen"]),
        "--reference",
        str(eval_dirs["ref"]),
        "--out",
        str(tmp_path / "r"),
        "--quiet",
    ]
    rc, _, err = _run(argv + extra, capsys)
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("v2meow-eval: error:") and message in err
    assert not (tmp_path / "r" / "metrics.json").exists()


def test_cli_missing_folder_and_missing_required(tmp_path, capsys):
    rc, _, err = _run(
        ["--generated", str(tmp_path / "none"), "--reference", str(tmp_path), "--out", str(tmp_path / "r")], capsys
    )
    assert rc == 2 and err.count("\n") == 1 and "not a directory" in err
    rc, _, err = _run(["--generated", str(tmp_path)], capsys)
    assert rc == 2 and err.count("\n") == 1 and "required" in err


def test_cli_out_is_a_file(eval_dirs, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    argv = [
        "--generated",
        str(eval_dirs["gen"]),
        "--reference",
        str(eval_dirs["ref"]),
        "--out",
        str(tmp_path / "file"),
        "--quiet",
        "--bootstrap",
        "0",
    ]
    rc, _, err = _run(argv, capsys)
    assert rc == 2 and err.count("\n") == 1 and "report folder" in err
