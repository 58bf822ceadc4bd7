"""Build hook, with all metadata in pyproject.toml: a built wheel carries the demo bundle.

`build_py` copies the repository's `checkpoints/demo` into the built package as
`v2meow/_demo_bundle`, so a non-editable install (`pip install .`, or a wheel) has a default
bundle (`v2meow.resources.default_bundle`) while git keeps a single copy of the weights.
Editable installs skip the copy: they read `checkpoints/demo` in place.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

DEMO = Path(__file__).resolve().parent / "checkpoints" / "demo"


class BuildPyWithDemoBundle(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False) or not (DEMO / "pipeline.json").is_file():
            return
        target = Path(self.build_lib) / "v2meow" / "_demo_bundle"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(DEMO, target)


setup(cmdclass={"build_py": BuildPyWithDemoBundle})
