"""Pretrained EnCodec (Défossez et al. 2022) through transformers' `EncodecModel`.

The 24 kHz model codes 75 frames per second with 1024-entry codebooks; the bandwidth
picks how many of its 32 residual levels are used:

    bandwidth (kbps)  1.5  3  6  12  24
    codebooks (K)       2  4  8  16  32

    codec = EncodecCodec.from_hf("facebook/encodec_24khz", bandwidth=6.0)  # local files only
    codec.save_pretrained("checkpoints/encodec")   # a self-contained component directory

Weights are never downloaded here: `from_hf` reads a local directory or the Hugging Face
cache and raises `MissingWeightsError` saying what to fetch when they are absent.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import torch

from v2meow.components import ComponentConfig
from v2meow.errors import ConfigError, MissingWeightsError
from v2meow.tokenizers.acoustic.base import AcousticCodec

DEFAULT_REPO = "facebook/encodec_24khz"


@dataclass
class EncodecCodecConfig(ComponentConfig):
    """An EnCodec codec: the transformers architecture plus the token contract (bandwidth, N_c)."""

    model_type = "encodec"
    format_version = 1

    bandwidth: float = 6.0  # kbps; must be one of the architecture's target_bandwidths
    num_coarse: int | None = None  # N_c; None: ceil(K / 3) (4 of 12, 3 of 8, 2 of 4)
    source: str = DEFAULT_REPO  # where the weights came from (provenance only)
    encodec: dict[str, Any] = field(default_factory=dict)  # transformers EncodecConfig.to_dict(); {}: 24 kHz model


def codebooks_for_bandwidth(bandwidth: float, frame_rate: float, codebook_size: int) -> int:
    """Residual levels EnCodec uses at `bandwidth` kbps (each level costs log2(V) bits per frame)."""
    return max(1, math.floor(bandwidth * 1000 / (math.log2(codebook_size) * frame_rate)))


class EncodecCodec(AcousticCodec):
    """`AcousticCodec` over a transformers `EncodecModel` (mono 24 kHz, unchunked models)."""

    config_class = EncodecCodecConfig
    config: EncodecCodecConfig

    def __init__(self, config: EncodecCodecConfig, model: torch.nn.Module | None = None):
        """Build with random weights from `config`, or wrap an already built `EncodecModel`."""
        from transformers import EncodecConfig, EncodecModel

        super().__init__(config)
        if model is None:
            try:
                hf_config = EncodecConfig.from_dict(dict(config.encodec))
            except (TypeError, ValueError) as e:
                raise ConfigError(f"encodec: invalid transformers EncodecConfig ({e})") from None
            model = EncodecModel(hf_config)
        self.model = model
        hf = model.config
        if hf.chunk_length_s is not None or hf.normalize:
            raise ConfigError(
                "encodec: chunked or normalised EnCodec models (e.g. the 48 kHz one) are not supported; use the 24 kHz model"
            )
        if float(config.bandwidth) not in [float(b) for b in hf.target_bandwidths]:
            raise ConfigError(f"encodec: bandwidth {config.bandwidth} is not one of {list(hf.target_bandwidths)}")
        self._num_codebooks = codebooks_for_bandwidth(config.bandwidth, hf.frame_rate, hf.codebook_size)
        coarse = config.num_coarse if config.num_coarse is not None else math.ceil(self._num_codebooks / 3)
        if not 1 <= coarse <= self._num_codebooks:
            raise ConfigError(f"encodec: num_coarse must be in [1, {self._num_codebooks}], got {coarse}")
        self._num_coarse = coarse

    @classmethod
    def from_hf(
        cls,
        name_or_path: str | os.PathLike = DEFAULT_REPO,
        bandwidth: float = 6.0,
        num_coarse: int | None = None,
        cache_dir: str | os.PathLike | None = None,
    ) -> EncodecCodec:
        """Load pretrained EnCodec from a local directory or the Hugging Face cache (never the network).

        Raises:
            MissingWeightsError: the weights are not on this machine; the message names what to get.
        """
        from transformers import EncodecModel

        try:
            model = EncodecModel.from_pretrained(str(name_or_path), local_files_only=True, cache_dir=cache_dir)
        except (OSError, ValueError) as e:
            raise MissingWeightsError(
                f"EnCodec weights not found at '{name_or_path}' ({str(e).splitlines()[0][:120]}); "
                f"download the Hugging Face repo {DEFAULT_REPO} on a machine with network (`hf download {DEFAULT_REPO}`) "
                "and copy it into the HF cache ($HF_HOME/hub, default ~/.cache/huggingface/hub) or into a directory whose path you pass"
            ) from None
        config = EncodecCodecConfig(
            bandwidth=float(bandwidth),
            num_coarse=num_coarse,
            source=str(name_or_path),
            encodec=_plain(model.config.to_dict()),
        )
        return cls(config, model=model.eval())

    # --- AcousticCodec contract -----------------------------------------------------------
    @property
    def sample_rate(self) -> int:
        return int(self.model.config.sampling_rate)

    @property
    def channels(self) -> int:
        return int(self.model.config.audio_channels)

    @property
    def hop_length(self) -> int:
        return int(self.model.config.hop_length)

    @property
    def num_codebooks(self) -> int:
        return self._num_codebooks

    @property
    def codebook_size(self) -> int:
        return int(self.model.config.codebook_size)

    @property
    def num_coarse(self) -> int:
        return self._num_coarse

    def _encode(self, wav: torch.Tensor) -> torch.Tensor:
        out = self.model.encode(wav, bandwidth=float(self.config.bandwidth), return_dict=True)
        return out.audio_codes[0]  # [1 chunk, B, K, T] -> [B, K, T]

    def _decode(self, codes: torch.Tensor) -> torch.Tensor:
        out = self.model.decode(codes[None], [None], return_dict=True)  # one chunk, no scale
        return out.audio_values  # [B, C, T * hop]


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    """A transformers config dict minus bookkeeping keys that do not describe the architecture."""
    drop = {"transformers_version", "architectures", "_name_or_path", "torch_dtype", "dtype"}
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items() if k not in drop}
