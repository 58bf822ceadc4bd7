"""`v2meow-bundle create|inspect`: assemble the demo's components into a bundle, check, describe, refuse mismatches."""

import json
from pathlib import Path

import pytest

from v2meow.cli.bundle import main
from v2meow.pipelines.assemble import SUMS_FILE, verify_sums
from v2meow.pipelines.bundle import read_bundle
from v2meow.pipelines.debug import build_debug_bundle

DEMO = Path(__file__).parents[2] / "checkpoints" / "demo"
PARTS = ("stage1", "stage2", "stage3", "codec", "semantic", "style")


def _create_args(out, **replace):
    args = ["create"]
    for name in PARTS:
        args += [f"--{name}", str(replace.get(name, DEMO / name))]
    return args + ["--out", str(out)]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    out = tmp_path_factory.mktemp("b") / "bundle"
    gen = read_bundle(DEMO)["generation"]  # the demo's own sampling settings, passed as a user would
    temperatures = ",".join(f"{s.temperature:g}" for s in gen.sampling.values())
    contexts = ",".join(f"{c:g}" for c in gen.context_seconds.values())
    guidance = [f"--guidance={role}.{name}={v:g}" for role, s in gen.sampling.items() for name, v in s.guidance.items()]
    assert guidance  # bundle v3 guides stage 1 by default
    assert main(_create_args(out) + ["--temperatures", temperatures, "--context-seconds", contexts, *guidance]) == 0
    return out


def test_create_from_the_demo_components_rebuilds_the_demo_pipeline(made):
    ours, demo = (json.loads((d / "pipeline.json").read_text()) for d in (made, DEMO))
    assert ours["components"] == demo["components"] and ours["features"] == demo["features"]
    # the demo's windows give it the same context defaults; its temperatures are passed
    assert read_bundle(made)["generation"] == read_bundle(DEMO)["generation"]
    for name in PARTS:
        assert (made / name / "model.safetensors").read_bytes() == (DEMO / name / "model.safetensors").read_bytes()
    sums = verify_sums(made)
    assert sums["ok"] and sums["files"] == 13 and not sums["unlisted"]


def test_inspect_json_reports_sizes_parameters_rates_and_verdict(made, capsys):
    from v2meow.stages.ar_semantic import Stage1

    assert main(["inspect", str(made), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    s1 = info["components"]["stage1"]
    assert s1["parameters"] == sum(p.numel() for p in Stage1.from_pretrained(DEMO / "stage1").state_dict().values())
    assert s1["bytes"] == sum(p.stat().st_size for p in (made / "stage1").iterdir())
    assert (s1["semantic_vocab"], s1["semantic_rate"], s1["feature_dim"]) == (256, 25.0, 16)
    codec = info["components"]["codec"]
    assert (codec["sample_rate"], codec["frame_rate"], codec["num_codebooks"], codec["num_coarse"]) == (
        16000,
        50.0,
        8,
        3,
    )  # the mel128 codec of bundle v3: 8 levels, 3 coarse
    assert info["features"]["dim"] == 16 and [s["temperature"] for s in info["generation"]["sampling"].values()] == [
        1.0,
        0.25,
        1.0,
    ]
    assert info["compatible"] is True and info["sha256"]["ok"] is True


def test_inspect_text_of_the_shipped_demo_bundle(capsys):
    assert main(["inspect", str(DEMO)]) == 0
    text = capsys.readouterr().out
    assert "compatible: yes" in text and "stage3" in text and "no SHA256SUMS" in text


def test_inspect_finds_a_changed_file(made, tmp_path, capsys):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(made, copy)
    cfg = copy / "style" / "config.json"
    cfg.write_text(cfg.read_text().replace('"seed": 0', '"seed": 1'))
    assert main(["inspect", str(copy)]) == 1
    assert "MISMATCH: changed ['style/config.json']" in capsys.readouterr().out


def test_options_reach_pipeline_json(tmp_path):
    out = tmp_path / "b"
    args = _create_args(out) + ["--temperatures", "0.9,0.8,0.3", "--context-seconds", "2,1,0.5", "--feature-rate", "10"]
    assert main(args) == 0
    gen = json.loads((out / "pipeline.json").read_text())["generation"]
    assert [s["temperature"] for s in gen["sampling"].values()] == [0.9, 0.8, 0.3]
    assert gen["context_seconds"] == {"semantic": 2.0, "coarse": 1.0, "fine": 0.5}


def test_components_that_disagree_are_named_and_no_bundle_appears(tmp_path, capsys):
    debug = build_debug_bundle(tmp_path / "debug")
    out = tmp_path / "bad"
    assert main(_create_args(out, stage3=debug / "stage3")) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "but stage3.codebook_size=" in err and "stage3.num_coarse=" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["debug"]  # no half-made bundle, no temp folder


@pytest.mark.parametrize(
    "case", ["missing_dir", "not_a_component", "existing_out", "guidance_no_role", "guidance_not_a_number", "bad_role"]
)
def test_bad_input_is_one_line_and_exit_2(case, made, tmp_path, capsys):
    out = tmp_path / "b"
    if case.startswith("guidance") or case == "bad_role":
        item = {
            "guidance_no_role": "rhythm=3",
            "guidance_not_a_number": "semantic.rhythm=x",
            "bad_role": "tempo.rhythm=3",
        }
        args = _create_args(out) + ["--guidance", item[case]]
    elif case == "missing_dir":
        args = _create_args(out, stage1=tmp_path / "nope")
    elif case == "not_a_component":
        (tmp_path / "empty").mkdir()
        args = _create_args(out, codec=tmp_path / "empty")
    else:
        args, out = _create_args(made), made
    before = sorted(p.name for p in out.parent.iterdir())
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("v2meow-bundle: error: ")
    assert sorted(p.name for p in out.parent.iterdir()) == before
    if case == "existing_out":
        assert verify_sums(made)["ok"] and (made / SUMS_FILE).is_file()
