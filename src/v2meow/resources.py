"""Where v2meow finds its default bundle, for every kind of install.

Order: `--bundle DIR` (the CLIs), then `$V2MEOW_BUNDLE`, then the demo bundle:
`checkpoints/demo` of a source checkout (an editable install or `PYTHONPATH=src`), else the copy
a wheel carries as package data in `v2meow/_demo_bundle` (`setup.py` copies `checkpoints/demo`
there at build time, so the repository keeps one copy of the weights).
"""

from __future__ import annotations

import os
from pathlib import Path

from v2meow.errors import MissingWeightsError

ENV = "V2MEOW_BUNDLE"
PACKAGED = "_demo_bundle"  # package-data folder inside v2meow/ in a built wheel
PIPELINE_FILE = "pipeline.json"


def demo_bundle_candidates() -> list[Path]:
    """The source checkout's `checkpoints/demo`, then the wheel's packaged copy."""
    package = Path(__file__).resolve().parent  # .../v2meow
    return [package.parents[1] / "checkpoints" / "demo", package / PACKAGED]


def _is_bundle(path: Path) -> bool:
    return (path / PIPELINE_FILE).is_file()


def default_bundle() -> Path:
    """`$V2MEOW_BUNDLE`, else the first demo bundle found (else the source checkout's path, for messages)."""
    env = os.environ.get(ENV)
    if env:
        return Path(env)
    candidates = demo_bundle_candidates()
    return next((c for c in candidates if _is_bundle(c)), candidates[0])


def resolve_bundle(given: str | os.PathLike | None) -> Path:
    """The bundle to load: `given` (from --bundle) if set, else `default_bundle()`; when there is none,
    one `MissingWeightsError` naming both ways to give one."""
    if given:
        return Path(given)
    env = os.environ.get(ENV)
    if env:
        if not _is_bundle(Path(env)):
            raise MissingWeightsError(
                f"${ENV}={env} is not a v2meow bundle (no {PIPELINE_FILE}); point it at a bundle or pass --bundle DIR"
            )
        return Path(env)
    bundle = default_bundle()
    if not _is_bundle(bundle):
        where = " or ".join(str(c) for c in demo_bundle_candidates())
        raise MissingWeightsError(
            f"no bundle: pass --bundle DIR or set {ENV}=DIR (no demo bundle at {where}; make demo-bundle builds it)"
        )
    return bundle
