"""FSDP runs export to a component: the full state dict gathered on rank 0, or a sharded checkpoint consolidated.

Lightning's FSDPStrategy needs CUDA, so on CPU two gloo processes wrap a tiny StageModule in torch's FSDP
and save it exactly as that strategy does (`fsdp_worker.py`); v2meow-export must rebuild the model from both.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from v2meow.cli.export import main as export_main
from v2meow.stages.ar_fine import Stage3

WORKER = Path(__file__).with_name("fsdp_worker.py")


@pytest.fixture(scope="module")
def fsdp_checkpoints(tmp_path_factory):
    out = tmp_path_factory.mktemp("fsdp")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(rank), "2", str(out)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in range(2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name", ["full.ckpt", "sharded.ckpt"])
def test_two_process_fsdp_checkpoint_exports_the_whole_model(fsdp_checkpoints, name, tmp_path):
    ckpt = fsdp_checkpoints / name
    if name == "sharded.ckpt":  # one shard file per rank: really split
        assert sorted(p.name for p in ckpt.glob("*.distcp")) == ["__0_0.distcp", "__1_0.distcp"]
    if name == "sharded.ckpt":  # its index is a pickle: refused without --trust-pickle, in one line
        assert export_main([str(ckpt), str(tmp_path / "component")]) == 2 and not (tmp_path / "component").exists()
    assert export_main([str(ckpt), str(tmp_path / "component"), "--trust-pickle"]) == 0
    ref = Stage3.from_pretrained(fsdp_checkpoints / "reference").state_dict()
    got = Stage3.from_pretrained(tmp_path / "component").state_dict()
    assert got.keys() == ref.keys() and all(torch.equal(got[k], ref[k]) for k in ref)


def test_a_directory_that_is_not_a_sharded_checkpoint_is_one_line(tmp_path, capsys):
    (tmp_path / "dir.ckpt").mkdir()
    assert export_main([str(tmp_path / "dir.ckpt"), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "not a sharded checkpoint (no .metadata)" in err and not (tmp_path / "out").exists()


def test_fsdp_wrapper_segments_are_dropped_from_parameter_names():
    from v2meow.training.export import component_state

    ckpt = {
        "v2meow": {"component_prefix": "model."},
        "state_dict": {
            "_fsdp_wrapped_module.model.decoder.embed.weight": torch.zeros(1),
            "model._fsdp_wrapped_module.head.bias": torch.ones(1),
            "ema.module.head.bias": torch.ones(1),
        },
    }
    assert sorted(component_state(ckpt)) == ["decoder.embed.weight", "head.bias"]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="Lightning's FSDP strategy needs CUDA")
def test_lightning_fsdp_run_exports_a_component(tmp_path):
    """`trainer.strategy: fsdp` through v2meow-train on every visible GPU: last.ckpt holds the gathered state, the export matches it."""
    sys.path.insert(0, str(Path(__file__).parents[1]))
    from cachegen import make_cache
    from v2meow.cli.train import main as train_main
    from v2meow.training.export import component_state, read_checkpoint

    cache = make_cache(tmp_path / "cache", durations=(3.0, 2.5, 3.0, 2.0), contract={"num_coarse": 2})
    out = tmp_path / "run"
    args = [
        "stage3",
        "--config",
        str(Path(__file__).parents[2] / "configs" / "stage3.yaml"),
        "--data",
        str(cache),
        "--out",
        str(out),
        "--max-steps",
        "3",
        "--set",
        "model.preset=debug",
        "--set",
        "model.fields.window_seconds=1.0",
        "--set",
        "data.batch_size=2",
        "--set",
        "data.num_workers=0",
        "--set",
        "data.val_split=null",
        "--set",
        "trainer.accelerator=cuda",
        "--set",
        f"trainer.devices={torch.cuda.device_count()}",
        "--set",
        "trainer.strategy=fsdp",
        "--set",
        "trainer.enable_progress_bar=false",
    ]
    assert train_main(args) == 0
    ckpt = read_checkpoint(out / "checkpoints" / "last.ckpt")
    assert ckpt["global_step"] == 3
    state = component_state(ckpt)
    got = Stage3.from_pretrained(out / "stage3").state_dict()
    assert got.keys() == state.keys() and all(torch.equal(got[k], state[k].cpu()) for k in state)
