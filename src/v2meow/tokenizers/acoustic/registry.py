"""Load any acoustic codec from a directory: `load_codec(path)` dispatches on `config.json`."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from v2meow.components import CONFIG_NAME, read_json_config
from v2meow.errors import ConfigError, MissingWeightsError, UnknownComponentError
from v2meow.tokenizers.acoustic.base import AcousticCodec
from v2meow.tokenizers.acoustic.encodec import DEFAULT_REPO, EncodecCodec
from v2meow.tokenizers.acoustic.melae import MelAECodec
from v2meow.tokenizers.acoustic.rvq import RVQCodecFields
from v2meow.tokenizers.acoustic.soundstream import SoundStream
from v2meow.tokenizers.acoustic.vocos import VocosCodec

CODECS: dict[str, type[AcousticCodec]] = {
    "soundstream": SoundStream,
    "vocos": VocosCodec,
    "encodec": EncodecCodec,
    "melae": MelAECodec,
}
#: The codecs v2meow trains (`v2meow-train codec`) and exports from a training checkpoint.
TRAINABLE: tuple[str, ...] = ("soundstream", "vocos")


def codec_class(model_type: str, trainable: bool = False) -> type[AcousticCodec]:
    """The codec class of `model_type` (with `trainable`, one v2meow trains); `UnknownComponentError` otherwise."""
    known = TRAINABLE if trainable else tuple(CODECS)
    if model_type not in known:
        what = "trainable codec" if trainable else "codec"
        raise UnknownComponentError(f"model_type '{model_type}' is not a {what} (known: {', '.join(known)})")
    return CODECS[model_type]


def load_codec(
    path: str | os.PathLike, bandwidth: float | None = None, map_location: str = "cpu", trainable: bool = False
) -> AcousticCodec:
    """Load a codec, in eval mode, from any of:

    - a v2meow component directory (`config.json` with `model_type` soundstream, vocos, melae or encodec,
      plus `model.safetensors`), as written by `save_pretrained` or `v2meow-export`;
    - a transformers EnCodec directory (`config.json` with `model_type: encodec` and no
      v2meow fields), or the repo id `facebook/encodec_24khz` found in the HF cache.

    Args:
        bandwidth: EnCodec only: kbps (1.5, 3, 6, 12, 24) -> 2, 4, 8, 16, 32 codebooks.
            Default: the component's own, or 6.0 for a transformers directory.
        trainable: build the residual VQ of a trainable codec as vector-quantize-pytorch's `ResidualVQ`, to train
            it further; by default it is a `rvq.ResidualLookup` (same codes, no training machinery to import).
    """
    p = Path(path).expanduser()
    if not p.is_dir():
        if str(path) == DEFAULT_REPO:
            return EncodecCodec.from_hf(DEFAULT_REPO, bandwidth=6.0 if bandwidth is None else bandwidth).eval()
        raise MissingWeightsError(f"{path}: no such codec directory")
    if not (p / CONFIG_NAME).is_file():
        raise MissingWeightsError(f"{p}: not a codec directory (no {CONFIG_NAME})")
    raw = read_json_config(p / CONFIG_NAME)
    model_type = raw.get("model_type")
    if model_type == "encodec" and "v2meow_version" not in raw:  # a transformers checkpoint directory
        return EncodecCodec.from_hf(p, bandwidth=6.0 if bandwidth is None else bandwidth).eval()
    try:
        cls = codec_class(model_type)
    except UnknownComponentError as e:
        raise UnknownComponentError(f"{p}: {e}") from None
    build = {"trainable": trainable} if issubclass(cls, RVQCodecFields) else {}
    codec = cls.from_pretrained(p, map_location=map_location, **build)
    if bandwidth is not None:
        if not isinstance(codec, EncodecCodec):
            raise ConfigError(f"{p}: bandwidth applies to EnCodec only, this is {model_type}")
        if float(bandwidth) != float(codec.config.bandwidth):
            codec = EncodecCodec(dataclasses.replace(codec.config, bandwidth=float(bandwidth)), model=codec.model)
    return codec.eval()
