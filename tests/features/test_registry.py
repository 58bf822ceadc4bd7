import pytest

from v2meow.errors import ConfigError, MissingWeightsError, UnknownComponentError
from v2meow.features import FusedExtractor, MotionExtractor, build_extractor, list_extractors


def test_list_and_build_single():
    assert list_extractors() == ["clip", "i3d", "motion"]
    ext = build_extractor("motion")
    assert isinstance(ext, MotionExtractor) and ext.rate == 10.0
    assert build_extractor(" Motion ", rate=25.0).rate == 25.0


def test_build_fused_in_spec_order():
    ext = build_extractor("clip+i3d", debug=True)
    assert isinstance(ext, FusedExtractor) and ext.dim == 32 + 64 and ext.rate == 1.0
    assert [p.name for p in ext.parts] == ["clip", "i3d"]
    ext = build_extractor("motion,clip", debug=True)
    assert [p.name for p in ext.parts] == ["motion", "clip"] and ext.part_dims == [16, 32]


def test_overrides():
    ext = build_extractor("motion+clip", debug=True, motion={"rate": 5.0}, batch_size=4)
    motion, clip = ext.parts
    assert motion.rate == 5.0 and clip.batch_size == 4 and ext.rate == 5.0
    with pytest.raises(ConfigError, match="accepts"):
        build_extractor("motion", no_such_option=1)
    with pytest.raises(ConfigError):
        build_extractor("motion", clip={"rate": 2.0})
    with pytest.raises(ConfigError):
        build_extractor("motion+motion")


def test_unknown_name_lists_known():
    with pytest.raises(UnknownComponentError) as err:
        build_extractor("clip+vggish")
    assert "vggish" in str(err.value) and "clip, i3d, motion" in str(err.value)
    with pytest.raises(ConfigError):
        build_extractor(" + ")


def test_pretrained_without_weights_is_a_clear_error(no_weight_caches):
    with pytest.raises(MissingWeightsError, match="hf download"):
        build_extractor("clip")
    with pytest.raises(MissingWeightsError, match="I3D_8x8_R50.pyth"):
        build_extractor("motion+i3d")


def test_pretrained_from_local_files(tmp_path):
    import torch
    from safetensors.torch import save_file

    from v2meow.features.clip import DEBUG_CLIP_ARCH
    from v2meow.features.i3d import DEBUG_I3D_ARCH

    clip_src = build_extractor("clip", debug=True)
    i3d_src = build_extractor("i3d", debug=True)
    save_file(clip_src.state_dict(), str(tmp_path / "clip.safetensors"))
    torch.save(i3d_src.state_dict(), tmp_path / "i3d.pt")
    ext = build_extractor(
        "clip+i3d",
        clip={"pretrained": str(tmp_path / "clip.safetensors"), "model_name": "debug", "arch": DEBUG_CLIP_ARCH},
        i3d={"path": tmp_path / "i3d.pt", "arch": DEBUG_I3D_ARCH, "size": (32, 32)},
    )
    clip, i3d = ext.parts
    assert all(torch.equal(a, b) for a, b in zip(clip.state_dict().values(), clip_src.state_dict().values()))
    assert all(torch.equal(a, b) for a, b in zip(i3d.state_dict().values(), i3d_src.state_dict().values()))
    assert ext.part_ids == ["clip-debug-clip.safetensors-r1", "i3d-custom-i3d-r1-8x4Hz"]


def test_random_full_architecture_without_weights(no_weight_caches):
    ext = build_extractor("i3d", load_weights=False)  # no file needed
    assert ext.dim == 2048 and ext.weights is None
