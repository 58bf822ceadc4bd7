"""Residual VQ shared by the trainable codecs: construction and side-effect-free lookups.

`quantize`/`dequantize` read the codebooks of a vector-quantize-pytorch `ResidualVQ`
directly, so token encoding never updates EMA statistics, runs k-means initialisation or
drops quantizers, whatever the module's train/eval mode.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from vector_quantize_pytorch import ResidualVQ

from v2meow.errors import ConfigError


def build_rvq(dim: int, config) -> ResidualVQ:
    """A `ResidualVQ` over `dim`-wide vectors from a codec config's quantizer fields."""
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


def quantize(quantizer: ResidualVQ, z: torch.Tensor) -> torch.Tensor:
    """Nearest-code residual quantization, `[B, T, D]` -> `[B, T, K]` long."""
    residual = quantizer.project_in(z)  # [B, T, d]
    indices = []
    for book in quantizer.codebooks:  # [V, d]
        dist = residual.pow(2).sum(-1, keepdim=True) - 2 * residual @ book.T + book.pow(2).sum(-1)  # [B, T, V]
        idx = dist.argmin(dim=-1)  # [B, T]
        residual = residual - book[idx]
        indices.append(idx)
    return torch.stack(indices, dim=-1)  # [B, T, K]


def dequantize(quantizer: ResidualVQ, indices: torch.Tensor) -> torch.Tensor:
    """Sum of the codebook vectors of the given (leading) levels, `[B, T, K']` -> `[B, T, D]`."""
    books = quantizer.codebooks  # [K, V, d]
    q = sum(books[k][indices[..., k]] for k in range(indices.shape[-1]))  # [B, T, d]
    return quantizer.project_out(q)


def set_codebooks(quantizer: ResidualVQ, books: torch.Tensor) -> None:
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
