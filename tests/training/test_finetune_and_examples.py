"""Fine-tuning the released demo components, and every example command in a config header, run as written."""

import json
import re
import shlex
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).parents[1]))
from cachegen import make_cache

ROOT = Path(__file__).parents[2]
DEMO = ROOT / "checkpoints" / "demo"
# The demo bundle's data contract (checkpoints/demo/*/config.json): motion 16-d at 10 Hz, mel k-means 256 at
# 25 Hz, the mel128 codec 8 x 1024 at 50 Hz with N_c = 3, hashed-text style 64-d.
DEMO_CONTRACT = dict(
    feature_rate=10.0,
    feature_dim=16,
    semantic_rate=25.0,
    semantic_vocab=256,
    codec_rate=50.0,
    num_codebooks=8,
    codebook_size=1024,
    num_coarse=3,
    style_dim=64,
)
TINY = [
    "--set",
    "data.batch_size=2",
    "--set",
    "data.num_workers=0",
    "--set",
    "trainer.accelerator=cpu",
    "--set",
    "trainer.devices=1",
    "--set",
    "trainer.enable_progress_bar=false",
    "--set",
    "trainer.enable_model_summary=false",
    "--set",
    "trainer.log_every_n_steps=1",
    "--set",
    "checkpoint.every_n_train_steps=1",
]
TINY_CODEC = [
    "--set",
    "data.crop_seconds=0.4",
    "--set",
    "data.samples_per_epoch=4",
    "--set",
    "model.discriminator={filters: 4, max_filters: 8, n_ffts: [256, 128]}",
]
EXAMPLE = re.compile(r"^#\s+(v2meow-\S+ .*?)\s*(?:#.*)?$")


def header_examples(config: Path) -> list[str]:
    """The `#   v2meow-... ` command lines of a config's leading comment block."""
    lines = []
    for line in config.read_text().splitlines():
        if not line.startswith("#"):
            break
        m = EXAMPLE.match(line)
        if m:
            lines.append(m.group(1))
    return lines


CONFIGS = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "configs").rglob("*.yaml") if header_examples(p))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A folder laid out like the repository: configs/, checkpoints/demo, data/cache (demo-shaped), data/music."""
    root = tmp_path_factory.mktemp("repo")
    (root / "configs").symlink_to(ROOT / "configs")
    (root / "checkpoints").mkdir()
    (root / "checkpoints" / "demo").symlink_to(DEMO)
    cache = make_cache(
        root / "data" / "cache",
        durations=(4.0, 3.0, 4.5, 2.5, 3.0),
        beats=True,
        splits=["train", "train", "train", "train", "valid"],
        rhythm="2d",
        contract=DEMO_CONTRACT,
    )
    (root / "runs" / "demo").mkdir(parents=True)
    (root / "runs" / "demo" / "cache").symlink_to(cache)  # configs/demo/*.yaml read runs/demo/cache
    music = root / "data" / "music"
    music.mkdir()
    t = np.arange(round(1.2 * 16000)) / 16000
    for i, f in enumerate((220, 330)):
        sf.write(music / f"tone{i}.wav", (0.3 * np.sin(2 * np.pi * f * t)).astype(np.float32), 16000)
    return root


def _run(command: str, extra: list[str]) -> int:
    from v2meow.cli import bundle, export, train

    prog, *args = shlex.split(command)
    mains = {
        "v2meow-train": (train.main, True),
        "v2meow-export": (export.main, False),
        "v2meow-bundle": (bundle.main, False),
    }
    assert prog in mains, f"no test runner for {prog} (add it here)"
    main, takes_extra = mains[prog]
    return main(args + (extra if takes_extra else []))


def test_every_config_with_examples_is_covered():
    assert {
        "configs/codec.yaml",
        "configs/stage1.yaml",
        "configs/finetune/stage1.yaml",
        "configs/finetune/stage3.yaml",
    } <= set(CONFIGS)


@pytest.mark.slow
@pytest.mark.parametrize("config", CONFIGS)
def test_config_header_examples_run(config, workdir, monkeypatch):
    """Each example runs as written from a repository-like folder, shrunk only in steps, batch and (full-size configs) preset."""
    monkeypatch.chdir(workdir)
    path = ROOT / config
    full_size = "dim" not in (__import__("yaml").safe_load(path.read_text())["model"].get("fields") or {})
    is_codec = "codec" in path.name
    for i, command in enumerate(header_examples(path)):
        extra = TINY + ["--max-steps", str(i + 1)] + (["--set", "model.preset=debug"] if full_size else [])
        extra += TINY_CODEC if is_codec else ["--set", "model.warmup_steps=1"]
        assert _run(command, extra) == 0, command
        if command.startswith("v2meow-train"):
            args = shlex.split(command)
            out = (
                Path(args[args.index("--out") + 1])
                if "--out" in args
                else Path(__import__("yaml").safe_load(path.read_text())["out"])
            )
            stage = args[1]
            assert (out / stage / "model.safetensors").is_file(), command
            assert torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == i + 1


@pytest.mark.slow
def test_finetuned_demo_stage1_replaces_the_demos_in_a_bundle_that_generates(
    workdir, tmp_path, monkeypatch, make_video
):
    from v2meow.cli.bundle import main as bundle_main
    from v2meow.cli.train import main as train_main
    from v2meow.pipelines import V2MeowPipeline
    from v2meow.stages.ar_semantic import Stage1

    monkeypatch.chdir(workdir)
    out = tmp_path / "ft"
    cmd = [
        "stage1",
        "--config",
        "configs/finetune/stage1.yaml",
        "--init-from",
        "checkpoints/demo/stage1",
        "--data",
        "data/cache",
        "--out",
        str(out),
        "--max-steps",
        "3",
        *TINY,
    ]
    assert train_main(cmd) == 0
    tuned, demo = Stage1.from_pretrained(out / "stage1"), Stage1.from_pretrained(DEMO / "stage1")
    diffs = [(a - b).abs().max().item() for a, b in zip(tuned.state_dict().values(), demo.state_dict().values())]
    assert 0 < max(diffs) < 0.05  # started from the released weights, and trained
    assert (out / "loss.png").is_file()

    bundle = tmp_path / "bundle"
    args = (
        ["create", "--stage1", str(out / "stage1")]
        + [a for n in ("stage2", "stage3", "codec", "semantic", "style") for a in (f"--{n}", str(DEMO / n))]
        + ["--out", str(bundle)]
    )
    assert bundle_main(args) == 0
    pipe = V2MeowPipeline.from_pretrained(bundle)
    assert all(torch.equal(a, b) for a, b in zip(pipe.stage1.state_dict().values(), tuned.state_dict().values()))
    video = make_video(duration=1.5, fps=10, size=(32, 32))
    result = pipe(video, text="fast electronic sci-fi", seed=0)
    assert result.audio.shape[-1] == round(1.5 * result.sample_rate) and torch.isfinite(result.audio).all()
    assert json.loads((bundle / "pipeline.json").read_text())["components"]["stage1"] == "stage1"
