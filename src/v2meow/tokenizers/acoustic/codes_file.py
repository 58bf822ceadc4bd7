"""A versioned file of acoustic codes: safetensors with one int tensor and string metadata.

    tensor `codes`: [K, T] int32
    metadata: format=v2meow-codes, format_version, codec_id, model_type, sample_rate,
              frame_rate, hop_length, codebook_size, num_codebooks, num_coarse, channels,
              num_samples (the encoded audio's length at sample_rate), source

`num_samples` lets a decoder trim its output to the original length. No pickle.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from v2meow.errors import ConfigError, MissingWeightsError
from v2meow.safety.outputs import atomic_output
from v2meow.tokenizers.acoustic.base import AcousticCodec

FORMAT = "v2meow-codes"
FORMAT_VERSION = 1
_INT_FIELDS = ("sample_rate", "hop_length", "codebook_size", "num_coarse", "channels", "num_samples")


@dataclass
class EncodedAudio:
    """Codes of one clip and the contract of the codec that made them."""

    codes: torch.Tensor  # [K, T] long
    sample_rate: int
    frame_rate: float
    hop_length: int
    codebook_size: int
    num_coarse: int
    channels: int
    num_samples: int  # audio length at sample_rate before padding to whole frames
    codec_id: str
    model_type: str
    source: str = ""

    @classmethod
    def from_codec(cls, codec: AcousticCodec, codes: torch.Tensor, num_samples: int, source: str = "") -> EncodedAudio:
        """Wrap `[K, T]` codes made by `codec` from `num_samples` samples."""
        return cls(
            codes=codes.detach().cpu().long(),
            sample_rate=codec.sample_rate,
            frame_rate=codec.frame_rate,
            hop_length=codec.hop_length,
            codebook_size=codec.codebook_size,
            num_coarse=codec.num_coarse,
            channels=codec.channels,
            num_samples=int(num_samples),
            codec_id=codec.codec_id,
            model_type=codec.config.model_type,
            source=source,
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Write atomically to `path` (.safetensors)."""
        meta = {
            "format": FORMAT,
            "format_version": str(FORMAT_VERSION),
            "codec_id": self.codec_id,
            "model_type": self.model_type,
            "frame_rate": repr(float(self.frame_rate)),
            "source": self.source,
            "num_codebooks": str(self.codes.shape[0]),
            **{name: str(int(getattr(self, name))) for name in _INT_FIELDS},
        }
        with atomic_output(path) as tmp:
            save_file({"codes": self.codes.to(torch.int32).contiguous()}, str(tmp), metadata=meta)
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> EncodedAudio:
        """Read a codes file; a missing, foreign or malformed file is a typed error naming it."""
        path = Path(path)
        if not path.is_file():
            raise MissingWeightsError(f"{path}: codes file not found")
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
                if meta.get("format") != FORMAT or "codes" not in f.keys():
                    raise ConfigError(f"{path}: not a v2meow codes file (no '{FORMAT}' metadata / codes tensor)")
                codes = f.get_tensor("codes")
        except (SafetensorError, OSError) as e:
            raise ConfigError(f"{path}: unreadable codes file ({e})") from None
        if codes.is_floating_point() or codes.is_complex() or codes.dtype == torch.bool:
            raise ConfigError(f"{path}: codes must be integers, got dtype {codes.dtype}")
        if int(meta.get("format_version", -1)) != FORMAT_VERSION:
            raise ConfigError(
                f"{path}: codes format_version {meta.get('format_version')} (this version reads {FORMAT_VERSION})"
            )
        try:
            ints = {name: int(meta[name]) for name in _INT_FIELDS}
            out = cls(
                codes=codes.long(),
                frame_rate=float(meta["frame_rate"]),
                codec_id=meta["codec_id"],
                model_type=meta["model_type"],
                source=meta.get("source", ""),
                **ints,
            )
        except (KeyError, ValueError) as e:
            raise ConfigError(f"{path}: malformed codes metadata ({e})") from None
        if out.codes.dim() != 2:
            raise ConfigError(f"{path}: codes must be [K, T], got shape {tuple(out.codes.shape)}")
        k, t = out.codes.shape
        if "num_codebooks" in meta and meta["num_codebooks"] != str(k):
            raise ConfigError(f"{path}: metadata says {meta['num_codebooks']} codebooks, the codes have {k}")
        if out.hop_length < 1 or not (t - 1) * out.hop_length < out.num_samples <= t * out.hop_length:
            raise ConfigError(
                f"{path}: num_samples {out.num_samples} does not fit {t} frames of {out.hop_length} samples "
                f"(expected {(t - 1) * out.hop_length + 1} to {t * out.hop_length})"
            )
        return out

    def check_compatible(self, codec: AcousticCodec) -> None:
        """Raise `ConfigError` naming every field where these codes and `codec` disagree."""
        ours = {
            "model_type": self.model_type,
            "sample_rate": self.sample_rate,
            "hop_length": self.hop_length,
            "codebook_size": self.codebook_size,
            "channels": self.channels,
        }
        theirs = {
            "model_type": codec.config.model_type,
            "sample_rate": codec.sample_rate,
            "hop_length": codec.hop_length,
            "codebook_size": codec.codebook_size,
            "channels": codec.channels,
        }
        problems = [f"{k} {ours[k]} vs {theirs[k]}" for k in ours if ours[k] != theirs[k]]
        if self.codes.shape[0] > codec.num_codebooks:
            problems.append(f"codebooks {self.codes.shape[0]} vs {codec.num_codebooks}")
        if problems:
            raise ConfigError(
                f"codes made by {self.codec_id} do not fit codec {codec.codec_id}: "
                + ", ".join(problems)
                + " (file vs codec)"
            )
