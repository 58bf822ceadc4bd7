"""The examples in docs/extending.md run as written: every ```python block, in order, in one
namespace, in a fresh folder (the stage kind they register is removed afterwards)."""

import os
import re
from pathlib import Path

from v2meow.stages import registry

PAGE = Path(__file__).resolve().parents[1] / "docs" / "extending.md"


def test_extending_page_examples_run(tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.S)
    assert len(blocks) >= 2, "docs/extending.md lost its examples"
    before, cwd = set(registry.stage_types()), os.getcwd()
    os.chdir(tmp_path)
    try:
        namespace: dict = {"__name__": "docs_example"}
        for block in blocks:
            exec(compile(block, str(PAGE), "exec"), namespace)
    finally:
        os.chdir(cwd)
        for model_type in set(registry.stage_types()) - before:
            registry._STAGES.pop(model_type)
    assert "example-repeat-fine" not in registry.stage_types()
    assert (tmp_path / "bundle" / "pipeline.json").is_file()
