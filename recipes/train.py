"""`make train-codec|train-stage1|train-stage2|train-stage3`: train on a fresh clone with no arguments.

    python -m recipes.train stage1                       # the demo data, fetched and prepared on first use
    python -m recipes.train stage1 --data DIR --out DIR  # your own cache, as v2meow-train does
    python -m recipes.train stage1 --config configs/stage1.yaml --set model.preset=paper

Every option is passed to `v2meow-train STAGE`. What this adds:

- **A config sized for the machine.** Without `--config`: the demo bundle's CPU-trainable recipe
  (`configs/demo/v3/stage1.yaml`, `stage2_maskgit.yaml`, `stage3_maskgit.yaml`; the codec
  `configs/demo/codec.yaml`) when there is no CUDA device, `configs/STAGE.yaml` when there is
  one. `--config` (or `--set model.preset=paper`) chooses any other.
- **Data when none is given.** Without `--data`, the demo data is fetched and prepared first,
  each step skipping finished work with a one-line note: Debian game music cut into clips and
  visualizer videos (`data/demo`, as `make demo-data`), then, for stages 1-3, a cache made with
  the demo bundle's own semantic tokenizer, codec and style embedder (`data/demo/cache`), so the
  trained stages fit those components (`v2meow-bundle create` swaps them into a bundle). It
  validates on held-out training tracks (`valid` split: every 12th track, its clips, as the demo
  recipe 3 holds out), or on the held-out package (`eval`) in a cache prepared before that split.
- **`runs/STAGE` as the run folder** unless `--out` says otherwise.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from recipes.bundle import FEATURE_RATE, Recipe, _cli, _run

STAGES = ("codec", "stage1", "stage2", "stage3")
PREPARED = ".v2meow-demo-prepared"  # written into the cache once v2meow-prepare finished


def note(text: str) -> None:
    print(f"train: {text}", file=sys.stderr, flush=True)


# Without a GPU: the shipped demo bundle's own recipe (v3: stage 1 from the scaling study, the
# parallel maskgit stages 2 and 3), whose cache the demo bundle's components make.
CPU_CONFIGS = {
    "codec": "demo/codec.yaml",
    "stage1": "demo/v3/stage1.yaml",
    "stage2": "demo/v3/stage2_maskgit.yaml",
    "stage3": "demo/v3/stage3_maskgit.yaml",
}


def default_config(stage: str, has_gpu: bool, configs: Path = Path("configs")) -> Path:
    """`configs/STAGE.yaml` with a GPU, else the CPU-sized config of the demo bundle's recipe (`CPU_CONFIGS`)."""
    return configs / f"{stage}.yaml" if has_gpu else configs / CPU_CONFIGS[stage]


def data_ready(data: Path) -> bool:
    return (data / "videos" / "videos.json").is_file() and (data / "train_audio").is_dir()


def ensure_demo_data(data: Path) -> None:
    """`make demo-data` (fetch, cut, render), unless already done."""
    if data_ready(data):
        note(f"demo data: already in {data} (skipped)")
        return
    note(
        f"demo data: fetching Debian game-music packages and rendering visualizer videos into {data} "
        "(first use only; about 7 min on 2 cores)"
    )
    t0 = time.perf_counter()
    Recipe(data, data, data, Path("configs/demo")).data_step()
    note(f"demo data: done in {time.perf_counter() - t0:.0f} s")


def ensure_demo_cache(data: Path, components: Path) -> Path:
    """`v2meow-prepare` of the demo videos with the demo bundle's components, unless already done."""
    cache = data / "cache"
    if (cache / PREPARED).is_file():
        note(f"demo cache: already prepared in {cache} (skipped)")
        return cache
    note(f"demo cache: preparing {cache} with the components of {components} (first use only; 1.5 to 6 min on 2 cores)")
    t0 = time.perf_counter()
    work = data / "prepare"
    work.mkdir(parents=True, exist_ok=True)
    Recipe(data, work, work, Path("configs/demo"), holdout=True).manifest()  # work/manifest.csv: video, caption, split
    _run(
        _cli(
            "v2meow.cli.prepare",
            "--input",
            str(work / "manifest.csv"),
            "--out",
            str(cache),
            "--features",
            "motion",
            "--feature-rate",
            str(FEATURE_RATE),
            "--semantic",
            str(components / "semantic"),
            "--codec",
            str(components / "codec"),
            "--style",
            str(components / "style"),
            "--beat-weights",
            "--rhythm",
        )
    )
    (cache / PREPARED).write_text("v2meow-prepare finished\n")
    note(f"demo cache: done in {time.perf_counter() - t0:.0f} s")
    return cache


def val_split(cache: Path) -> str:
    """`valid` (held-out training tracks) when the demo cache has it, else `eval` (the held-out package)."""
    from v2meow.data.cache import CacheReader

    return "valid" if any(r.split == "valid" for r in CacheReader(cache).records) else "eval"


def plan(
    stage: str, argv: list[str], has_gpu: bool, data: Path = Path("data/demo"), val: str = "valid"
) -> tuple[list[str], bool]:
    """The `v2meow-train` arguments for `stage` and whether the demo data must be made first (validating on `val`)."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--config")
    p.add_argument("--data")
    p.add_argument("--out")
    p.add_argument("--ckpt-path")
    known, _ = p.parse_known_args(argv)
    args = [stage]
    if known.config is None:
        args += ["--config", str(default_config(stage, has_gpu))]
    if known.ckpt_path is None:  # a campaign: rerunning continues from the run's last.ckpt (fresh when none)
        args += ["--ckpt-path", "last"]
    if known.data is not None:
        return args + ([] if known.out else ["--out", f"runs/{stage}"]) + argv, False
    args += ["--data", str(data / ("train_audio" if stage == "codec" else "cache"))]
    if known.out is None:  # never the demo recipe's runs/demo/STAGE that configs/demo/*.yaml name
        args += ["--out", f"runs/{stage}"]
    if stage != "codec":
        args += ["--set", f"data.val_split={val}"]  # held-out items: val curves in loss.png
    return args + argv, True


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in STAGES or argv[0] in ("-h", "--help"):
        print(
            __doc__.strip() + f"\n\nusage: python -m recipes.train {{{','.join(STAGES)}}} [v2meow-train options]",
            file=sys.stderr,
        )
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    stage, rest = argv[0], argv[1:]
    if "-h" in rest or "--help" in rest:
        from v2meow.cli.train import main as train_main

        return train_main([stage, "--help"])
    import torch

    from v2meow.cli.generate import default_bundle
    from v2meow.errors import V2MeowError

    has_gpu = torch.cuda.is_available()
    args, needs_data = plan(stage, rest, has_gpu)
    if "--config" in args[:3]:
        sized = "a GPU: full-size config" if has_gpu else "no GPU: CPU-sized config"
        note(f"{sized} {args[2]} (pass --config or --set model.preset=paper for another size)")
    if needs_data:
        if shutil.which("apt-get") is None and not data_ready(Path("data/demo")):
            print(
                "train: error: the demo data comes from Debian packages (apt-get download); on this system pass "
                "--data DIR (a v2meow-prepare cache, or a folder of audio for the codec)",
                file=sys.stderr,
            )
            return 2
        try:
            ensure_demo_data(Path("data/demo"))
            if stage != "codec":
                cache = ensure_demo_cache(Path("data/demo"), default_bundle())
                args, _ = plan(stage, rest, has_gpu, val=val_split(cache))
                if "data.val_split=eval" in args:
                    note(
                        f"validating on the held-out package (eval): {cache} has no valid split (delete it to prepare it anew with one)"
                    )
        except V2MeowError as e:
            print(f"train: error: {e}", file=sys.stderr)
            return 2
    from v2meow.cli.train import main as train_main

    note("v2meow-train " + " ".join(args))
    return train_main(args)


if __name__ == "__main__":
    sys.exit(main())
