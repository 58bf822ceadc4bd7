"""The stage interface: what the pipeline, bundle assembly, training and export know of a stage.

A stage kind is a `Stage` subclass with a `role` (which step of the pipeline it fills), its
config class (whose `streams()` declares every input, its own token input included), and one
`generate` signature that every stage shares:

    tokens = stage.generate(conditions={"visual": Condition(v, rate=10.0), ...}, length=n,
                            prompt=prompt, sampling=SamplingConfig(...), options=DecodeOptions(...))

Stages are found by `model_type` in `stages/registry.py`.
"""

from __future__ import annotations

import abc
from typing import ClassVar

import torch

from v2meow.stages.conditions import Condition, Stream
from v2meow.stages.config import StageComponent, StageConfig
from v2meow.stages.roles import ROLES  # noqa: F401  (the pipeline's steps, in order; re-exported)
from v2meow.stages.sampling import DecodeOptions, SamplingConfig


class Stage(StageComponent, abc.ABC):
    """One stage of the pipeline.

    `role`: "semantic" (writes semantic tokens `[B, T_s]`), "coarse" (coarse codes
    `[B, N_c, T_a]`) or "fine" (fine codes `[B, N_f, T_a]`). `streams`: the config's declared
    inputs; the ones with `guidable` set are what classifier-free guidance can drop.
    """

    role: ClassVar[str] = ""
    config_class: ClassVar[type[StageConfig]] = StageConfig

    def __init__(self, config: StageConfig):
        super().__init__(config)
        self.streams: list[Stream] = config.streams()

    @property
    def guidable(self) -> list[str]:
        """Names of the conditions guidance can drop (none for a stage without conditions)."""
        return [s.name for s in self.streams if s.guidable]

    @abc.abstractmethod
    def generate(
        self,
        *,
        conditions: dict[str, Condition | torch.Tensor],  # name -> value (the stage's own input included)
        length: int,  # tokens (semantic) or frames (coarse, fine) of the window, prompt included
        prompt: torch.Tensor | None = None,  # what the window starts with: [B, P] tokens or [B, K, P] codes
        sampling: SamplingConfig | None = None,
        options: DecodeOptions | None = None,
        fixed: torch.Tensor | None = None,  # [B, length] / [B, K, length]: frames to keep anywhere, -1: free
    ) -> torch.Tensor:
        """Sample one window -> `[B, length]` tokens or `[B, K, length]` codes (prompt included).
        `fixed` (an edit, `pipelines/windows.fill_windows`): a stage that fills in any order (MaskGIT)
        keeps those frames and infills between them; one that reads left to right keeps its prompt only."""
