"""Sampling controls: temperature, top-k, top-p, classifier-free guidance, seeded generators."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from v2meow import validation


@dataclass
class SamplingConfig:
    """How one stage samples.

    temperature 0 means greedy (argmax). `cfg_scale` 1 means no guidance:
    logits = uncond + scale * (cond - uncond).
    """

    temperature: float = 1.0
    top_k: int = 0  # 0 = off
    top_p: float = 1.0  # 1 = off
    cfg_scale: float = 1.0

    def __post_init__(self) -> None:  # the checks every entry point shares
        self.temperature = validation.temperature(self.temperature)
        self.top_k = validation.top_k(self.top_k)
        self.top_p = validation.top_p(self.top_p)
        self.cfg_scale = validation.cfg(self.cfg_scale, "cfg_scale")

    @property
    def uses_cfg(self) -> bool:
        return self.cfg_scale != 1.0


def guide(cond: torch.Tensor, uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance on logits (in log-probability space)."""
    cond, uncond = cond.log_softmax(-1), uncond.log_softmax(-1)
    return uncond + scale * (cond - uncond)


def filter_logits(logits: torch.Tensor, top_k: int = 0, top_p: float = 1.0) -> torch.Tensor:
    """Mask logits `[B, V]` outside the top-k and outside the top-p nucleus with -inf."""
    if top_k and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[..., -1:]  # [B, 1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        cum = sorted_logits.softmax(-1).cumsum(-1)
        drop_sorted = cum - sorted_logits.softmax(-1) >= top_p  # keep the token that crosses top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def sample(logits: torch.Tensor, config: SamplingConfig, generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw one token per row of `logits` `[B, V]` -> `[B]` long."""
    if config.temperature == 0:
        return logits.argmax(-1)
    logits = filter_logits(logits.float() / config.temperature, config.top_k, config.top_p)
    cum = logits.softmax(-1).cumsum(-1)  # [B, V]
    u = torch.rand(cum.shape[0], 1, generator=generator, device=cum.device, dtype=cum.dtype) * cum[:, -1:]  # [B, 1]
    # Inverse-CDF draw: the first token whose cumulative probability exceeds u. One uniform per
    # row instead of torch.multinomial's V exponentials: 2.2x faster per draw on CPU (bench/peer.py).
    return torch.searchsorted(cum, u, right=True).squeeze(-1).clamp_max(cum.shape[-1] - 1)


def make_generator(seed: int | None, device: torch.device | str = "cpu") -> torch.Generator | None:
    """A generator seeded with `seed` on `device`, or None (global RNG) when seed is None."""
    if seed is None:
        return None
    g = torch.Generator(device=device)
    g.manual_seed(int(seed))
    return g
