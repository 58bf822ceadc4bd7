"""recipes.curves: validation loss against tokens seen, read from a run's CSV logs."""

import pytest

from recipes.curves import main, val_curve


def _run(tmp_path, rows):
    log = tmp_path / "run" / "logs" / "version_0"
    log.mkdir(parents=True)
    lines = ["epoch,step,train/loss,train/tokens_seen,val/loss"] + [",".join(map(str, r)) for r in rows]
    (log / "metrics.csv").write_text("\n".join(lines) + "\n")
    return tmp_path / "run"


def test_tokens_seen_at_a_validation_step_is_interpolated_between_logged_steps(tmp_path):
    run = _run(
        tmp_path,
        [
            (0, 9, 5.0, 1000, ""),
            (0, 19, 4.0, 2000, ""),
            (0, 14, "", "", 3.5),
            (0, 29, 3.0, 3000, ""),
            (0, 29, "", "", 3.2),
        ],
    )
    assert val_curve(run) == [(14, pytest.approx(1500.0), 3.5), (29, 3000.0, 3.2)]


def test_a_run_without_validation_is_one_line_and_exit_1(tmp_path, capsys):
    run = _run(tmp_path, [(0, 9, 5.0, 1000, "")])
    assert main([str(run), "--out", str(tmp_path / "c.png")]) == 1
    assert "no val/loss" in capsys.readouterr().err and not (tmp_path / "c.png").exists()
