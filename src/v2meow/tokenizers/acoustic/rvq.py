"""Residual VQ shared by the trainable codecs: construction and side-effect-free lookups.

`quantize`/`dequantize` read the codebooks of a vector-quantize-pytorch `ResidualVQ`
directly, so token encoding never updates EMA statistics, runs k-means initialisation or
drops quantizers, whatever the module's train/eval mode.
"""

from __future__ import annotations

import torch
from vector_quantize_pytorch import ResidualVQ


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


class RVQCodecFields:
    """The `AcousticCodec` contract read from a trainable codec's config fields (`sample_rate`,
    `channels`, `hop_length`, `num_quantizers`, `codebook_size`, `num_coarse`); mixed in before
    `AcousticCodec`."""

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

