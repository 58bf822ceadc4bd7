"""The judges on a stage-2 run's checkpoints: resynthesis from true semantic tokens, beside its lookup.

    python -m recipes.judge_stage2 runs/s2v4/stage2                    # the run's newest checkpoint, once
    python -m recipes.judge_stage2 runs/s2v4/stage2 --watch --every 1000   # each 1000th step as it appears

For a checkpoint of a stage-2 run, the base bundle's chain with that stage 2 and `--semantic`'s
tokenizer resynthesizes the first `--clips` steady held-out excerpts (the ladder's:
`recipes.ladder.held_out_excerpts`, 10 s) from their own semantic tokens, and the pretrained judges
(`make judges`) rate it. The references (the excerpts, pink noise, the codec round trip, stage 3
from true coarse codes, and the semantic sketch: each token's average codec frames, the lookup that
stage 2 must beat) do not change with the checkpoint; they are measured once and kept in
`RUN/judges_reference.json`. Each checkpoint adds a row to `RUN/judges.csv` (step, medians, shares
of the codec round trip's and of the sketch's) and the same scalars to TensorBoard (`RUN/tb/judges`).
With `--watch`, a separate process polls the run every `--poll` seconds, so training never waits for
the judges (about 3 min a checkpoint on one core).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from recipes.ladder import held_out_excerpts, judges_summary, music_links

FIELDS = ("step", "note_salience", "beat_pulse", "notes_vs_codec", "beat_vs_codec", "notes_vs_sketch", "beat_vs_sketch")


def chain(base: str, ckpt: Path, semantic: str):
    """The base bundle's pipeline with the checkpoint's stage 2 and `semantic`'s tokenizer."""
    from v2meow.pipelines import V2MeowPipeline
    from v2meow.pipelines.bundle import read_bundle
    from v2meow.stages.registry import load_stage
    from v2meow.training.export import export_checkpoint

    spec = read_bundle(base)
    comps = spec["components"]
    with tempfile.TemporaryDirectory() as tmp:
        stage2 = load_stage(export_checkpoint(ckpt, Path(tmp) / "stage2"), "coarse")
    base_pipe = V2MeowPipeline.from_pretrained(base)
    return V2MeowPipeline(
        extractor=base_pipe.extractor,
        stages={**base_pipe.stages, "coarse": stage2},
        codec=base_pipe.codec,
        style=base_pipe.style,
        generation=spec["generation"],
        semantic=semantic or comps.get("semantic"),
    )


def judge(
    run: Path, ckpt: Path, base: str, semantic: str, data: Path, clips: int, overrides: dict | None = None
) -> dict:
    """Judge one checkpoint; appends its row to RUN/judges.csv and TensorBoard (not for a sampling
    variant: `overrides`, e.g. temperatures, as for `pipe.resynthesize`); returns the row."""
    step = int(torch.load(ckpt, map_location="cpu", weights_only=True)["global_step"])
    pipe = chain(base, ckpt, semantic)
    excerpts = held_out_excerpts(data, clips, 10.0)
    ref_path = run / "judges_reference.json"
    judged: dict[str, list[dict]] = {}
    if not ref_path.is_file() and overrides:
        raise SystemExit(f"{ref_path}: judge the run once without --temperatures first (the references)")
    if ref_path.is_file():
        reference = json.loads(ref_path.read_text())
        from v2meow.evaluation.judges import judge_or_none

        for _, wav, sr in excerpts:  # as music_links does: seed 0, the bundle's sampling
            out = pipe.resynthesize(wav, sr, seed=0, **(overrides or {}))
            judged.setdefault("stage2", []).append(judge_or_none(out.audio[0].float().mean(0), out.sample_rate))
        scores = judges_summary(judged)["judges"]["stage2"]
    else:
        music_links(pipe, excerpts, judged=judged, table=_table(semantic))
        summary = judges_summary(judged)["judges"]
        reference = {"clips": [e[0] for e in excerpts], "judges": {k: v for k, v in summary.items() if k != "stage2"}}
        ref_path.write_text(json.dumps(reference, indent=1) + "\n")
        scores = summary["stage2"]
    ref = reference["judges"]

    def share(key: str, link: str):
        base_value = ref.get(link, {}).get(key)
        return None if scores.get(key) is None or not base_value else round(scores[key] / base_value, 3)

    row = {
        "step": step,
        "note_salience": scores.get("note_salience"),
        "beat_pulse": scores.get("beat_pulse"),
        "notes_vs_codec": share("note_salience", "codec"),
        "beat_vs_codec": share("beat_pulse", "codec"),
        "notes_vs_sketch": share("note_salience", "sketch"),
        "beat_vs_sketch": share("beat_pulse", "sketch"),
    }
    if overrides:
        return {**row, **overrides}
    _append(run / "judges.csv", row)
    _tensorboard(run, row)
    return row


def _table(semantic: str):
    """The tokenizer's token frame table (the sketch), or None without one."""
    from v2meow.tokenizers.semantic.frames import FRAMES_NAME, load_token_frames

    path = Path(semantic)
    return load_token_frames(path) if (path / FRAMES_NAME).is_file() else None


def _append(path: Path, row: dict) -> None:
    new = not path.is_file()
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        if new:
            writer.writeheader()
        writer.writerow(row)


def _tensorboard(run: Path, row: dict) -> None:
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(run / "tb" / "judges")) as w:
        for key, value in row.items():
            if key != "step" and value is not None:
                w.add_scalar(f"judges/{key}", value, row["step"])


def newest(run: Path) -> Path | None:
    steps = sorted((run / "checkpoints").glob("step*.ckpt"))
    return steps[-1] if steps else None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m recipes.judge_stage2", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("run", help="a v2meow-train stage2 run folder")
    p.add_argument("--base", default="checkpoints/demo", help="the bundle whose other components are used")
    p.add_argument("--semantic", default="checkpoints/semantic_v4", help="the semantic tokenizer the run trained on")
    p.add_argument("--data", default="data/demo")
    p.add_argument("--clips", type=int, default=8)
    p.add_argument("--watch", action="store_true", help="keep judging new checkpoints until the run exports")
    p.add_argument("--every", type=int, default=1000, help="with --watch: judge steps that are multiples of this")
    p.add_argument("--poll", type=float, default=60.0)
    p.add_argument(
        "--temperatures", help="T1,T2,T3: a sampling variant of the newest checkpoint, printed, not recorded"
    )
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    run = Path(args.run)
    if args.temperatures:
        temps = tuple(float(t) for t in args.temperatures.split(","))
        row = judge(run, newest(run), args.base, args.semantic, Path(args.data), args.clips, {"temperatures": temps})
        print(json.dumps(row))
        return 0
    done: set[int] = set()
    if (run / "judges.csv").is_file():
        done = {int(r["step"]) for r in csv.DictReader((run / "judges.csv").open())}
    while True:
        ckpt = newest(run)
        if ckpt is not None:
            step = int(ckpt.stem.removeprefix("step"))
            if step not in done and (not args.watch or step % args.every == 0):
                print(json.dumps(judge(run, ckpt, args.base, args.semantic, Path(args.data), args.clips)), flush=True)
                done.add(step)
        if not args.watch or (run / "stage2" / "config.json").is_file():
            return 0
        time.sleep(args.poll)


if __name__ == "__main__":
    sys.exit(main())
