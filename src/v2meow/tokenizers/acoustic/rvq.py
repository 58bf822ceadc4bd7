"""Residual VQ shared by the trainable codecs: construction and side-effect-free lookups.

`quantize`/`dequantize` read the codebooks of a vector-quantize-pytorch `ResidualVQ`
directly, so token encoding never updates EMA statistics, runs k-means initialisation or
drops quantizers, whatever the module's train/eval mode.

A codec loaded to encode and decode (`load_codec`, the pipeline) holds a `ResidualLookup`
instead: the same codebooks under the same state-dict keys, without vector-quantize-pytorch.
Measured reason for this hand-written holder: importing vector-quantize-pytorch pulls in einx
and torch._dynamo, 1.5-2.1 s of a generation's start-up on this 2-core machine
(`python -X importtime`), for a module whose inference is one argmin and one gather per level.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from v2meow.errors import ConfigError

if TYPE_CHECKING:
    from vector_quantize_pytorch import ResidualVQ


class _Codebook(nn.Module):
    """The buffers of one vector-quantize-pytorch EMA `Codebook` (one head), zero until loaded."""

    def __init__(self, size: int, dim: int):
        super().__init__()
        self.register_buffer("initted", torch.tensor(False))
        self.register_buffer("cluster_size", torch.zeros(1, size))
        self.register_buffer("embed_avg", torch.zeros(1, size, dim))
        self.register_buffer("embed", torch.zeros(1, size, dim))


class _Layer(nn.Module):
    def __init__(self, size: int, dim: int):
        super().__init__()
        self._codebook = _Codebook(size, dim)


class ResidualLookup(nn.Module):
    """Inference-only residual VQ: `ResidualVQ`'s state-dict layout (`project_in`/`project_out`,
    `layers.N._codebook.{initted,cluster_size,embed_avg,embed}`) and `codebooks`, for `quantize`,
    `dequantize` and `set_codebooks`; calling it (a training forward) is a `ConfigError`."""

    def __init__(self, dim: int, config):
        super().__init__()
        d = config.codebook_dim or dim
        self.project_in = nn.Linear(dim, d) if d != dim else nn.Identity()
        self.project_out = nn.Linear(d, dim) if d != dim else nn.Identity()
        self.layers = nn.ModuleList(_Layer(config.codebook_size, d) for _ in range(config.num_quantizers))

    @property
    def codebooks(self) -> torch.Tensor:
        return torch.stack([layer._codebook.embed[0] for layer in self.layers])  # [K, V, d]

    def forward(self, *args, **kwargs):
        raise ConfigError(
            "this codec was loaded to encode and decode; load it with load_codec(..., trainable=True) to train it"
        )


def build_rvq(dim: int, config, trainable: bool = True) -> ResidualVQ | ResidualLookup:
    """A `ResidualVQ` over `dim`-wide vectors from a codec config's quantizer fields, or with
    `trainable=False` a `ResidualLookup` with the same state-dict keys."""
    if not trainable:
        return ResidualLookup(dim, config)
    from vector_quantize_pytorch import ResidualVQ

    c = config
    return ResidualVQ(
        dim=dim,
        num_quantizers=c.num_quantizers,
        codebook_size=c.codebook_size,
        codebook_dim=c.codebook_dim,
        decay=c.ema_decay,
        kmeans_init=c.kmeans_init,
        kmeans_iters=c.kmeans_iters,
        threshold_ema_dead_code=c.threshold_ema_dead_code,
        commitment_weight=c.commitment_weight,
        quantize_dropout=c.quantizer_dropout,
        rotation_trick=c.rotation_trick,
    )


def quantize(quantizer: ResidualVQ | ResidualLookup, z: torch.Tensor) -> torch.Tensor:
    """Nearest-code residual quantization, `[B, T, D]` -> `[B, T, K]` long."""
    residual = quantizer.project_in(z)  # [B, T, d]
    indices = []
    for book in quantizer.codebooks:  # [V, d]
        dist = residual.pow(2).sum(-1, keepdim=True) - 2 * residual @ book.T + book.pow(2).sum(-1)  # [B, T, V]
        idx = dist.argmin(dim=-1)  # [B, T]
        residual = residual - book[idx]
        indices.append(idx)
    return torch.stack(indices, dim=-1)  # [B, T, K]


def dequantize(quantizer: ResidualVQ | ResidualLookup, indices: torch.Tensor) -> torch.Tensor:
    """Sum of the codebook vectors of the given (leading) levels, `[B, T, K']` -> `[B, T, D]`."""
    books = quantizer.codebooks  # [K, V, d]
    q = sum(books[k][indices[..., k]] for k in range(indices.shape[-1]))  # [B, T, d]
    return quantizer.project_out(q)


def set_codebooks(quantizer: ResidualVQ | ResidualLookup, books: torch.Tensor) -> None:
    """Replace every level's codebook with `books` `[K, V, d]` (fitted elsewhere, e.g. residual
    k-means); the EMA statistics restart from them and k-means init is marked done."""
    if books.shape != quantizer.codebooks.shape:
        raise ConfigError(
            f"codebooks of shape {tuple(books.shape)} do not fit a quantizer of {tuple(quantizer.codebooks.shape)}"
        )
    with torch.no_grad():
        for layer, book in zip(quantizer.layers, books):  # book [V, d]
            cb = layer._codebook
            cb.embed.copy_(book[None])
            cb.cluster_size.fill_(1.0)
            cb.embed_avg.copy_(book[None])
            cb.initted.fill_(True)


@dataclass
class SoundStreamOutput:
    """What a trainable codec's training forward pass returns."""

    audio: torch.Tensor  # [B, C, N] reconstruction, same length as the input
    codes: torch.Tensor  # [B, K, T] long; -1 where quantizer dropout skipped a level
    commit_loss: torch.Tensor  # [] sum over levels of the commitment losses
    latent: torch.Tensor  # [B, D, T] encoder output before quantization


class RVQCodecFields:
    """What the trainable codecs (`encoder` -> `quantizer` (a `ResidualVQ`) -> `decoder`) share:
    the `AcousticCodec` contract read from their config fields (`sample_rate`, `channels`,
    `hop_length`, `num_quantizers`, `codebook_size`, `num_coarse`) and the training forward.
    Mixed in before `AcousticCodec`."""

    config: object

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def channels(self) -> int:
        return self.config.channels

    @property
    def hop_length(self) -> int:
        return self.config.hop_length

    @property
    def num_codebooks(self) -> int:
        return self.config.num_quantizers

    @property
    def codebook_size(self) -> int:
        return self.config.codebook_size

    @property
    def num_coarse(self) -> int:
        return self.config.num_coarse

    def forward(self, wav: torch.Tensor, freeze_codebooks: bool = False) -> SoundStreamOutput:
        """Reconstruct `[B, C, N]` audio through the quantizer (EMA updates, unless
        `freeze_codebooks`, and quantizer dropout apply in training mode). The output is
        trimmed to N samples."""
        if wav.dim() != 3 or wav.shape[1] != self.channels:
            raise ConfigError(f"expected audio [B, {self.channels}, N], got shape {tuple(wav.shape)}")
        n = wav.shape[-1]
        x = F.pad(wav, (0, self.num_frames(n) * self.hop_length - n))  # [B, C, T * hop]
        z = self.encoder(x)  # [B, D, T]
        q, indices, losses = self.quantizer(
            z.transpose(1, 2), freeze_codebook=freeze_codebooks
        )  # [B, T, D], [B, T, K], [K]
        audio = self.decoder(q.transpose(1, 2))[..., :n]  # [B, C, N]
        return SoundStreamOutput(audio=audio, codes=indices.transpose(1, 2), commit_loss=losses.sum(), latent=z)
