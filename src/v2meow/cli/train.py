"""`v2meow-train STAGE --config configs/STAGE.yaml`: train one model from a YAML run config.

Each stage is one entry of `STAGES`: the function that runs it (imported lazily, so
`--help` stays fast) and the config key that `--data` sets. Adding a stage is adding an
entry; the common options below work for all of them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from dataclasses import dataclass

from v2meow.cli.common import parse, run
from v2meow.stages.roles import ROLE_SPECS


@dataclass(frozen=True)
class Stage:
    help: str
    entry: str  # "module:function", called as function(*args, config_dict, ckpt_path=...) -> exported component dir
    data_key: str  # dotted config key that --data sets
    default_config: str
    args: tuple[str, ...] = ()


STAGES: dict[str, Stage] = {
    "codec": Stage(
        help="train an acoustic codec (SoundStream or the iSTFT codec) on a folder of audio",
        entry="v2meow.training.codec:train_from_config",
        data_key="data.audio_dir",
        default_config="configs/codec.yaml",
    ),
    **{
        r.key: Stage(
            help=f"train {r.label} ({r.writes}) on a prepared cache",
            entry="v2meow.training.stage_train:train_stage",
            data_key="data.cache",
            default_config=f"configs/{r.key}.yaml",
            args=(r.key,),
        )
        for r in ROLE_SPECS
    },
}

EPILOG = """\
Outputs under --out: config.yaml (the config used), checkpoints/ (Lightning .ckpt for
resuming; last.ckpt is the final state), logs/ (CSV metrics), tb/ (TensorBoard:
tensorboard --logdir OUT/tb), loss.png (train/val curves, redrawn on every checkpoint and
at the end) and the trained component directory, e.g. codec/. --ckpt-path last resumes
from checkpoints/last.ckpt and continues its global step (it starts from scratch when
there is none yet). Data-dependent model fields come from the cache manifest.
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="v2meow-train", description="Train a v2meow model from a YAML run config.")
    sub = p.add_subparsers(dest="stage", required=True, metavar="STAGE")
    for name, stage in STAGES.items():
        s = sub.add_parser(
            name,
            help=stage.help,
            description=stage.help,
            epilog=EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        s.add_argument(
            "--config", default=stage.default_config, help=f"YAML run config (default: {stage.default_config})"
        )
        s.add_argument("--data", help=f"training data (sets {stage.data_key})")
        s.add_argument("--out", help="run directory (sets out)")
        s.add_argument("--max-steps", type=int, help="sets trainer.max_steps")
        s.add_argument("--ckpt-path", help="resume: 'last' or a .ckpt path")
        s.add_argument("--init-from", help="fine-tune from a component directory or .ckpt (sets model.init_from)")
        s.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override any config value, e.g. trainer.precision=bf16-mixed (YAML value; repeatable)",
        )
    return parse(p, argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run("v2meow-train", lambda: _main(args), args=args)


def build_config(args: argparse.Namespace) -> dict:
    """The run config after applying the command-line overrides."""
    import yaml

    from v2meow.errors import ConfigError
    from v2meow.safety import schema
    from v2meow.training.runner import load_run_config, set_value

    stage = STAGES[args.stage]
    cfg = load_run_config(args.config)
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects KEY=VALUE, got '{item}'")
        try:
            set_value(cfg, key.strip(), schema.load_yaml(value, f"--set {key}"))
        except yaml.YAMLError:
            raise ConfigError(f"--set {key}: value '{value}' is not valid YAML") from None
    for key, value in (
        (stage.data_key, args.data),
        ("out", args.out),
        ("trainer.max_steps", args.max_steps),
        ("model.init_from", args.init_from),
    ):
        if value is not None:
            set_value(cfg, key, value)
    if args.max_steps is not None and args.max_steps < 1:
        raise ConfigError(f"--max-steps must be >= 1, got {args.max_steps}")
    # The config as it will run, through the same checks as the file: before any run folder is made.
    schema.check_tree(cfg, f"{args.config} with --set" if args.set else str(args.config))
    return cfg


def _main(args: argparse.Namespace) -> int:
    from v2meow.training.plots import watch_lines

    cfg = build_config(args)
    module_name, _, func = STAGES[args.stage].entry.partition(":")
    train = getattr(importlib.import_module(module_name), func)
    out = cfg.get("out") or f"runs/{args.stage}"
    exported = train(
        *STAGES[args.stage].args, cfg, ckpt_path=args.ckpt_path
    )  # prints where to watch once training starts
    from pathlib import Path

    from v2meow.training.plots import PLOT_NAME

    watch = watch_lines(out) if (Path(out) / PLOT_NAME).is_file() else "no loss curves were logged (no loss.png)"
    print(f"v2meow-train {args.stage}: exported {exported}; {watch}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
