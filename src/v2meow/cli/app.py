"""`v2meow-app`: the web page for video creators (needs the `app` extra: pip install "v2meow[app]")."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from v2meow.cli.common import add_allow_outside, parse, run
from v2meow.cli.generate import VIDEO_SUFFIXES
from v2meow.errors import ConfigError

DESCRIPTION = """\
Serve a local web page where you upload a video (or pick an example), optionally type a
style prompt, and get music for it: the video plays with its new soundtrack, with the
waveform and spectrogram, and downloads as mp4 and wav. Several candidates can be made
side by side. Without --bundle, the demo bundle shipped in the repository is used (or
$V2MEOW_BUNDLE). Uploads and outputs live in a temporary folder removed on exit; while
the app runs, each is deleted --keep-minutes after it was made. Uploads over
--max-upload-mb or videos over --max-seconds are refused with a message in the page.

examples:
  v2meow-app                              # http://127.0.0.1:7860
  v2meow-app --bundle checkpoints/mine --port 8000
  v2meow-app --host 0.0.0.0               # reachable from other machines: only on a trusted network
"""


def default_examples() -> Path:
    """examples/ in the source tree."""
    return Path(__file__).resolve().parents[3] / "examples"


def find_examples(folder: Path) -> list[Path]:
    """Videos directly in `folder`, sorted by name; none if the folder is missing."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="v2meow-app", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--bundle", help="bundle directory (default: the shipped demo bundle)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this computer only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument(
        "--examples", help="folder of example videos (default: examples/ in the repository; none if missing)"
    )
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where to run (default cpu)")
    add_allow_outside(p)
    p.add_argument("--max-upload-mb", type=float, default=500.0, help="largest upload accepted, in MB (default 500)")
    p.add_argument("--max-seconds", type=float, default=600.0, help="longest video accepted, in seconds (default 600)")
    p.add_argument(
        "--keep-minutes",
        type=float,
        default=60.0,
        help="uploads and each job's files are deleted this many minutes after they were made (default 60)",
    )
    return parse(p, argv)


def _bundle(args: argparse.Namespace) -> Path:
    from v2meow.resources import resolve_bundle

    return resolve_bundle(args.bundle)


def _gradio_installed() -> None:
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise ConfigError('the web app needs Gradio: pip install "v2meow[app]"') from None


def _main(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise ConfigError(f"--port must be between 1 and 65535, got {args.port}")
    from v2meow.app.soundtrack import Limits

    limits = Limits(args.max_upload_mb, args.max_seconds, args.keep_minutes)  # checked before anything loads
    bundle = _bundle(args)
    _gradio_installed()
    from v2meow.app.server import launch, wait_for_stop
    from v2meow.app.soundtrack import SoundtrackJob
    from v2meow.app.ui import build_app
    from v2meow.app.workspace import Janitor, workspace
    from v2meow.cli.generate import _load

    pipe = _load(
        argparse.Namespace(
            bundle=str(bundle), device=args.device, quiet=True, allow_outside_bundle=args.allow_outside_bundle
        )
    )
    examples = find_examples(Path(args.examples) if args.examples else default_examples())
    with workspace() as space, Janitor([space.uploads, space.outputs], limits.keep_minutes * 60):
        demo = build_app(SoundtrackJob(pipe, space.outputs, limits), examples, bundle_name=bundle.name)
        url = launch(demo, args.host, args.port, max_upload_mb=limits.max_upload_mb)
        print(
            f"v2meow-app: serving {url} (uploads up to {limits.max_upload_mb:g} MB and {limits.max_seconds:g} s, "
            f"files kept {limits.keep_minutes:g} min; Ctrl+C stops; temporary files in {space.root})",
            flush=True,
        )
        wait_for_stop(demo.close)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run("v2meow-app", lambda: _main(args), args=args)


if __name__ == "__main__":
    sys.exit(main())
