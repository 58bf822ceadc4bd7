"""A wheel install (not editable) finds the demo bundle and carries no recipe code; a missing bundle is one line
naming --bundle and $V2MEOW_BUNDLE."""

import os
import shutil
import site
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from v2meow.resources import ENV, default_bundle, demo_bundle_candidates, resolve_bundle

ROOT = Path(__file__).parents[2]


def test_source_checkout_finds_checkpoints_demo(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    assert default_bundle() == ROOT / "checkpoints" / "demo" == resolve_bundle(None)


def test_env_and_flag_win(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV, str(ROOT / "checkpoints" / "demo"))
    assert resolve_bundle(None) == ROOT / "checkpoints" / "demo"
    assert resolve_bundle(str(tmp_path)) == tmp_path  # --bundle is checked when it is loaded


def test_no_bundle_anywhere_is_one_line_naming_both_ways(tmp_path, monkeypatch, capsys, make_video):
    from v2meow import resources
    from v2meow.cli.generate import main

    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.setattr(resources, "demo_bundle_candidates", lambda: [tmp_path / "a", tmp_path / "b"])
    assert main(["--video", str(make_video(duration=1.0)), "--out", str(tmp_path / "o.wav")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "pass --bundle DIR or set V2MEOW_BUNDLE=DIR" in err and str(tmp_path / "b") in err


def _assert_no_recipe_code(names: list[str]) -> None:
    """Of the demo, a wheel holds `make demo` (`v2meow/demo/__init__.py`, `__main__.py`) and the bundle, no recipe."""
    modules = [n for n in names if n.endswith(".py")]
    assert modules and all(n.startswith("v2meow/") for n in modules), [
        n for n in modules if not n.startswith("v2meow/")
    ]
    assert sorted(n for n in modules if n.startswith("v2meow/demo/")) == [
        "v2meow/demo/__init__.py",
        "v2meow/demo/__main__.py",
    ]


def test_the_packages_a_wheel_gets_are_v2meow_only():
    """Cheap twin of the wheel test: what `[tool.setuptools.packages.find]` finds holds no recipe code."""
    from setuptools import find_packages

    where = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["where"]
    assert where == ["src"]
    packages = find_packages(where=str(ROOT / "src"))
    assert packages and all(p.split(".")[0] == "v2meow" for p in packages) and "recipes" not in packages
    files = [
        str(p.relative_to(ROOT / "src"))
        for pkg in packages
        for p in (ROOT / "src" / pkg.replace(".", "/")).glob("*.py")
    ]
    _assert_no_recipe_code(files)


@pytest.mark.slow
def test_wheel_installed_in_a_fresh_venv_generates_with_its_packaged_demo_bundle(tmp_path, make_video):
    """Build the wheel from a copy of the sources, install it (no deps, no network) into a new venv that
    borrows this environment's packages, and generate from outside the repository."""
    src = tmp_path / "src_copy"
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "src" / "v2meow", src / "src" / "v2meow", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "checkpoints" / "demo", src / "checkpoints" / "demo")
    shutil.copytree(
        ROOT / "recipes", src / "recipes", ignore=shutil.ignore_patterns("__pycache__")
    )  # beside src/, as in git
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", ENV)}

    def run(cmd, **kw):
        return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, **kw)

    r = run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(src),
        ]
    )
    assert r.returncode == 0, r.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("v2meow-*.whl"))
    _assert_no_recipe_code(zipfile.ZipFile(wheel).namelist())
    venv = tmp_path / "venv"
    assert run([sys.executable, "-m", "venv", "--without-pip", str(venv)]).returncode == 0
    py = venv / "bin" / "python"
    r = run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index", "-q", str(wheel)])
    assert r.returncode == 0, r.stderr[-2000:]
    own_site = run([str(py), "-c", "import site; print(site.getsitepackages()[0])"]).stdout.strip()
    # torch & co. from this environment, after the venv's own site-packages (where the wheel's v2meow is)
    Path(own_site, "borrowed.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    where = run(
        [str(py), "-c", "import v2meow.resources as r; print(r.__file__); print(r.default_bundle())"], cwd=tmp_path
    )
    module, bundle = where.stdout.split()
    assert module.startswith(str(venv)) and bundle == str(Path(own_site) / "v2meow" / "_demo_bundle"), where.stderr
    assert (Path(bundle) / "stage1" / "model.safetensors").read_bytes() == (
        ROOT / "checkpoints/demo/stage1/model.safetensors"
    ).read_bytes()
    video = make_video(duration=1.0, fps=10, size=(32, 32))
    r = run(
        [str(venv / "bin" / "v2meow-generate"), "--video", str(video), "--out", str(tmp_path / "o.wav"), "--quiet"],
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / "o.wav").stat().st_size > 16000  # 1 s of 16-kHz audio
    assert demo_bundle_candidates()[0] == ROOT / "checkpoints" / "demo"
