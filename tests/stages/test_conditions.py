"""Named condition streams: a new input is one config entry; old weight files migrate."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from stagegen import FDIM, VOCAB, stage1
from v2meow.errors import ConfigError
from v2meow.stages.ar_semantic import Stage1
from v2meow.stages.conditions import Condition
from v2meow.stages.sampling import SamplingConfig
from v2meow.training.stages import StageModule


def test_a_new_condition_stream_is_one_config_entry_and_trains():
    model = stage1(extra_streams=[{"name": "rhythm", "kind": "features", "size": 1, "rate": 10.0, "dropout": 0.2}])
    batch = {
        "semantic": torch.randint(0, VOCAB, (2, 20)),
        "conditions": {"visual": torch.randn(2, 10, FDIM), "rhythm": torch.rand(2, 20, 1)},
    }
    module = StageModule(model.train())
    opt = module.configure_optimizers()["optimizer"]
    module.training_step(batch, 0).backward()
    assert model.encoder.inputs["rhythm"][1].weight.grad.abs().sum() > 0  # the new stream reaches the loss
    opt.step()
    model.eval()
    shifted = {**batch["conditions"], "rhythm": batch["conditions"]["rhythm"].roll(5, 1)}
    assert not torch.allclose(model.encode(batch["conditions"]).states, model.encode(shifted).states)
    out = model.generate(
        conditions=batch["conditions"], length=8, sampling=SamplingConfig(guidance={"rhythm": 3.0, "all": 2.0})
    )
    assert out.shape == (2, 8) and out.max() < VOCAB


def test_unknown_streams_and_guidance_keys_are_named():
    model = stage1().eval()
    visual = torch.randn(1, 10, FDIM)
    with pytest.raises(ValueError, match="tempo"):
        model.encode({"visual": visual, "tempo": torch.randn(1, 3)})
    with pytest.raises(ConfigError, match="no condition 'rhythm'"):
        model.generate(conditions={"visual": visual}, length=4, sampling=SamplingConfig(guidance={"rhythm": 2.0}))
    for bad in (
        {"name": "all", "kind": "features", "size": 1, "rate": 1.0},
        {"name": "x", "kind": "pixels", "size": 1},
        {"name": "x", "kind": "features", "size": 1},
        {"name": "visual", "kind": "vector", "size": 3},
    ):
        with pytest.raises(ConfigError):
            stage1(extra_streams=[bad])


def test_weights_written_before_the_feed_forward_rename_still_load(tmp_path):
    """format_version 1 files named the feed-forward layers ffn.net.0 / ffn.net.3: they load, renamed."""
    model = stage1().eval()
    model.save_pretrained(tmp_path / "new")
    state = load_file(str(tmp_path / "new" / "model.safetensors"))
    assert any(".ffn.fc1." in k for k in state)
    old = {k.replace(".ffn.fc1.", ".ffn.net.0.").replace(".ffn.fc2.", ".ffn.net.3."): v for k, v in state.items()}
    (tmp_path / "old").mkdir()
    save_file(
        old, str(tmp_path / "old" / "model.safetensors"), metadata={"model_type": "v2meow-stage1"}
    )  # no version: 1
    config = json.loads((tmp_path / "new" / "config.json").read_text())
    (tmp_path / "old" / "config.json").write_text(json.dumps({**config, "format_version": 1}))
    back = Stage1.from_pretrained(tmp_path / "old").eval()
    conditions = {"visual": torch.randn(1, 10, FDIM)}
    torch.testing.assert_close(back.encode(conditions).states, model.encode(conditions).states, rtol=0, atol=0)
    assert back.config.format_version == 2


def test_a_forced_drop_makes_the_stream_irrelevant_for_that_row():
    model = stage1(
        extra_streams=[{"name": "rhythm", "kind": "features", "size": 1, "rate": 10.0, "route": "aligned"}]
    ).eval()
    semantic = torch.randint(0, VOCAB, (2, 20))
    a = {"visual": torch.randn(2, 10, FDIM), "rhythm": torch.rand(2, 20, 1)}
    b = {**a, "visual": torch.randn(2, 10, FDIM)}  # other video, same music
    drop = torch.tensor([True, False])
    la = model(semantic, {**a, "visual": Condition(a["visual"], drop=drop)}).logits
    lb = model(semantic, {**b, "visual": Condition(b["visual"], drop=drop)}).logits
    torch.testing.assert_close(la[0], lb[0])  # row 0: its video is dropped, the rhythm alone conditions it
    assert not torch.allclose(la[1], lb[1])


def test_stage1_without_its_picture_is_one_clear_error():
    stage = stage1().eval()
    with pytest.raises(ConfigError, match="visual condition"):
        stage.generate(conditions={"style": torch.randn(1, 6)}, length=5)
