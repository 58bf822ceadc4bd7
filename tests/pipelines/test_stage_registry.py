"""The stage seam: a new stage kind is its class + config + one registry entry, and the pipeline,
bundle assembly and export then use it by `model_type` alone."""

import dataclasses
import json

import pytest
import torch

from v2meow.errors import ConfigError, UnknownComponentError, V2MeowError
from v2meow.pipelines import V2MeowPipeline
from v2meow.pipelines.assemble import create_bundle, load_parts
from v2meow.pipelines.bundle import GenerationConfig, read_bundle
from v2meow.pipelines.debug import build_debug_bundle
from v2meow.stages import registry
from v2meow.stages.ar_fine import Stage3Config
from v2meow.stages.base import ROLES, Stage
from v2meow.stages.conditions import Stream


@dataclasses.dataclass
class RepeatFineConfig(Stage3Config):
    """A fine stage that needs no training: fine codebook q of a frame repeats coarse codebook q mod N_c."""

    model_type = "test-repeat-fine"

    def streams(self) -> list[Stream]:
        return [Stream("coarse", "codes", self.codebook_size, self.codec_rate, guidable=False, route="prefix")]


class RepeatFine(Stage):
    role = "fine"
    config_class = RepeatFineConfig

    def __init__(self, config: RepeatFineConfig):
        super().__init__(config)
        self.scale = torch.nn.Parameter(torch.ones(()))  # something to save and load

    def generate(self, *, conditions, length, prompt=None, sampling=None, options=None, fixed=None):
        coarse = conditions["coarse"].value  # [B, N_c, T]
        index = torch.arange(self.config.num_fine) % coarse.shape[1]
        return coarse[:, index, :length]  # [B, N_f, length]


@pytest.fixture
def repeat_fine():
    registry.register_stage(RepeatFine)
    yield RepeatFine
    registry._STAGES.pop(RepeatFineConfig.model_type)


def test_a_registered_stage_kind_runs_in_a_bundle(repeat_fine, tmp_path, make_video):
    debug = build_debug_bundle(tmp_path / "debug")
    stage3 = json.loads((debug / "stage3" / "config.json").read_text())
    fields = {k: v for k, v in stage3.items() if k not in ("model_type", "format_version", "v2meow_version")}
    RepeatFine(RepeatFineConfig(**fields)).save_pretrained(tmp_path / "fine")
    components = {name: debug / name for name in ("stage1", "stage2", "codec")}
    bundle = create_bundle(tmp_path / "bundle", {**components, "stage3": tmp_path / "fine"})
    assert isinstance(load_parts(bundle)["stages"]["fine"], RepeatFine)
    pipe = V2MeowPipeline.from_pretrained(bundle)
    assert isinstance(pipe.stages["fine"], RepeatFine) and pipe.guided_roles() == ("semantic",)
    out = pipe(make_video(duration=2.0, fps=10, size=(32, 32)), seed=0)
    assert torch.equal(out.fine, out.coarse[:, torch.arange(out.fine.shape[1]) % out.coarse.shape[1]])
    assert torch.isfinite(out.audio).all()


def test_unknown_model_types_and_wrong_roles_are_named(tmp_path):
    with pytest.raises(UnknownComponentError, match="known: v2meow-stage1, v2meow-stage2, v2meow-stage3") as e:
        registry.stage_class("v2meow-stage9")
    assert isinstance(e.value, V2MeowError)
    debug = build_debug_bundle(tmp_path / "debug")
    with pytest.raises(ConfigError, match="a coarse stage, not a fine stage"):
        registry.load_stage(debug / "stage2", role="fine")
    (debug / "stage3" / "config.json").write_text(
        json.dumps({**json.loads((debug / "stage3" / "config.json").read_text()), "model_type": "v2meow-stage9"})
    )
    with pytest.raises(UnknownComponentError, match="v2meow-stage9"):
        V2MeowPipeline.from_pretrained(debug)
    with pytest.raises(ConfigError, match="role"):
        registry.register_stage(type("NoRole", (RepeatFine,), {"role": "finest"}))


def test_every_stage_declares_its_streams_and_shares_generate():
    import inspect

    params = None
    for model_type in registry.stage_types():
        cls = registry.stage_class(model_type)
        assert cls.role in ROLES and cls.config_class().streams()  # stage 3 too: its coarse input
        sig = [(p.name, p.kind) for p in inspect.signature(cls.generate).parameters.values()]
        assert params is None or sig == params
        params = sig


def test_generation_settings_are_keyed_by_role_and_old_files_migrate(tmp_path):
    gen = GenerationConfig().replace(
        temperatures={"coarse": 0.5}, cfg=(3.0, 1.0, 1.0), guidance={"semantic": {"rhythm": 2.0}}
    )
    assert [s.temperature for s in gen.sampling.values()] == [1.0, 0.5, 0.4]
    assert gen.sampling["semantic"].guidance == {"all": 3.0, "rhythm": 2.0}
    debug = build_debug_bundle(tmp_path / "debug")
    spec = json.loads((debug / "pipeline.json").read_text())
    assert spec["format_version"] == 3 and list(spec["generation"]["sampling"]) == list(ROLES)
    old_gen = {k: v for k, v in spec["generation"].items() if k != "sampling"}
    old_gen.update(
        stages=list(spec["generation"]["sampling"].values()),
        context_seconds=list(spec["generation"]["context_seconds"].values()),
    )
    old = {**spec, "format_version": 2, "generation": old_gen}
    (debug / "pipeline.json").write_text(json.dumps(old))
    migrated = read_bundle(debug)["generation"]
    assert migrated.to_dict() == GenerationConfig(**spec["generation"]).to_dict()
    assert list(migrated.context_seconds) == list(ROLES)


def test_a_float16_bundle_is_half_the_stage_bytes_and_generates_as_the_float32_one(tmp_path, make_video):
    from safetensors import safe_open

    debug = build_debug_bundle(tmp_path / "debug")
    components = {name: debug / name for name in ("stage1", "stage2", "stage3", "codec")}
    full = create_bundle(tmp_path / "full", components)
    half = create_bundle(tmp_path / "half", components, weights_dtype="float16")
    for name in ("stage1", "stage2", "stage3"):
        with safe_open(str(half / name / "model.safetensors"), framework="pt") as f:
            dtypes = {f.get_tensor(k).dtype for k in f.keys()}
            assert f.metadata()["model_type"].startswith("v2meow")  # the metadata is kept
        assert torch.float16 in dtypes and torch.float32 not in dtypes
        size = (half / name / "model.safetensors").stat().st_size
        assert size < 0.6 * (full / name / "model.safetensors").stat().st_size
    assert (half / "codec" / "model.safetensors").read_bytes() == (full / "codec" / "model.safetensors").read_bytes()
    video = make_video(duration=2.0, fps=10, size=(32, 32))
    a, b = (V2MeowPipeline.from_pretrained(x)(video, seed=0) for x in (full, half))
    assert a.semantic.shape == b.semantic.shape and torch.isfinite(b.audio).all()
    assert all(p.dtype == torch.float32 for p in V2MeowPipeline.from_pretrained(half).stage1.parameters())
    with pytest.raises(ConfigError, match="weights dtype must be one of"):
        create_bundle(tmp_path / "bad", components, weights_dtype="int8")
    assert not (tmp_path / "bad").exists()
