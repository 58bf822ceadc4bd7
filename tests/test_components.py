import dataclasses
import json

import pytest
import torch
from torch import nn

from v2meow.components import Component, ComponentConfig
from v2meow.errors import ConfigError, MissingWeightsError


@dataclasses.dataclass
class TinyConfig(ComponentConfig):
    model_type = "tiny-test"
    width: int = 4
    depth: int = 2


class Tiny(Component):
    config_class = TinyConfig

    def __init__(self, config: TinyConfig):
        super().__init__(config)
        self.layers = nn.Sequential(*[nn.Linear(config.width, config.width) for _ in range(config.depth)])
        self.tied = self.layers[0].weight  # shared storage must survive save/load

    def forward(self, x):
        return self.layers(x)


def test_round_trip(tmp_path):
    torch.manual_seed(0)
    m = Tiny(TinyConfig(width=5))
    m.save_pretrained(tmp_path / "c")
    cfg = json.loads((tmp_path / "c" / "config.json").read_text())
    assert (
        cfg["model_type"] == "tiny-test" and cfg["width"] == 5 and "format_version" in cfg and "v2meow_version" in cfg
    )
    back = Tiny.from_pretrained(tmp_path / "c")
    x = torch.randn(3, 5)
    torch.testing.assert_close(back(x), m(x), rtol=0, atol=0)


def test_mismatched_weights_name_the_field(tmp_path):
    Tiny(TinyConfig(width=5)).save_pretrained(tmp_path / "c")
    cfg = json.loads((tmp_path / "c" / "config.json").read_text())
    cfg["width"] = 6
    (tmp_path / "c" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ConfigError, match=r"shape mismatch .*layers\.0\.weight \(5, 5\) vs \(6, 6\)"):
        Tiny.from_pretrained(tmp_path / "c")


def test_corrupted_weights_and_bad_config(tmp_path):
    Tiny(TinyConfig()).save_pretrained(tmp_path / "c")
    w = tmp_path / "c" / "model.safetensors"
    w.write_bytes(w.read_bytes()[:40])
    with pytest.raises(ConfigError, match="corrupted"):
        Tiny.from_pretrained(tmp_path / "c")
    (tmp_path / "c" / "config.json").write_text('{"model_type": "tiny-test", "colour": 1}')
    with pytest.raises(ConfigError, match="unknown config field"):
        Tiny.from_pretrained(tmp_path / "c")
    (tmp_path / "c" / "config.json").write_text('{"model_type": "other"}')
    with pytest.raises(ConfigError, match="model_type 'other'"):
        Tiny.from_pretrained(tmp_path / "c")
    with pytest.raises(MissingWeightsError):
        Tiny.from_pretrained(tmp_path / "nowhere")


def test_newer_format_version_is_refused(tmp_path):
    d = TinyConfig().to_dict()
    d["format_version"] = 99
    with pytest.raises(ConfigError, match="format_version 99"):
        TinyConfig.from_dict(d)
