"""Stage 3: coarse acoustic tokens -> fine acoustic tokens (decoder-only, 3-s windows).

    ids      [c_0 .. c_{Lc-1}, SEP, f_0 .. f_{Lf-2}]     # [B, Lc + Lf]
    targets  loss only on the fine targets f_0 .. f_{Lf-1}

with `c` the coarse codes `[B, N_c, T]` and `f` the fine codes `[B, N_f, T]`, each flattened
time-major with per-codebook offsets (coarse ids first, then fine ids, then SEP). The coarse
codes are the stage's declared input stream (`coarse`, a decoder prefix): stage 3 has no
condition to guide.
"""

from __future__ import annotations

import dataclasses

import torch

from v2meow.errors import ConfigError
from v2meow.stages import layout
from v2meow.stages.aligned import AlignedInputs
from v2meow.stages.base import Stage
from v2meow.stages.conditions import Condition, Stream, as_conditions
from v2meow.stages.config import StageConfig
from v2meow.stages.lm import LMOutput, TokenLM
from v2meow.stages.roles import ROLE
from v2meow.stages.sampling import PAPER_TEMPERATURES, DecodeOptions, SamplingConfig


@dataclasses.dataclass
class Stage3Config(StageConfig):
    model_type = ROLE["fine"].builtin_type

    codebook_size: int = 1024
    num_coarse: int = 4
    num_fine: int = 4
    codec_rate: float = 75.0
    window_seconds: float = 3.0
    aligned_coarse: bool = (
        False  # SoundStorm-style: each input also gets the embeddings of the coarse codes of its frame
    )

    def streams(self) -> list[Stream]:
        """The coarse codes `[B, N_c, T]`, read as the decoder's prefix."""
        return [Stream("coarse", "codes", self.codebook_size, self.codec_rate, guidable=False, route="prefix")]


class Stage3(Stage):
    role = "fine"
    config_class = Stage3Config

    def __init__(self, config: Stage3Config):
        super().__init__(config)
        c = config
        self.fine_offset = c.num_coarse * c.codebook_size
        self.sep = (c.num_coarse + c.num_fine) * c.codebook_size
        self.decoder = TokenLM(self.sep + 1, c.dim, c.depth, c.heads, c.ffn, cross=False, dropout=c.dropout)
        self.aligned = None
        if c.aligned_coarse:
            streams = [
                Stream(f"coarse{k}", "tokens", c.codebook_size, c.codec_rate, guidable=False)
                for k in range(c.num_coarse)
            ]
            self.aligned = AlignedInputs(streams, c.dim)

    def _aligned(self, coarse: torch.Tensor, pos: torch.Tensor) -> torch.Tensor | None:
        """The coarse codes of the frame at each decoder input's time (ticks `pos`) -> `[B, T, D]`, or None."""
        if self.aligned is None:
            return None
        codes = {f"coarse{k}": Condition(coarse[:, k]) for k in range(coarse.shape[1])}
        return self.aligned(codes, pos / self.config.ticks_per_second)

    def _check(self, coarse: torch.Tensor) -> None:
        if coarse.shape[1] != self.config.num_coarse:
            raise ConfigError(f"stage 3 expects {self.config.num_coarse} coarse codebooks, got {coarse.shape[1]}")

    def code_layout(self, coarse: torch.Tensor, mask: torch.Tensor | None = None) -> layout.CodeLayout:
        """`[coarse ids ; SEP ; fine codes]`: the coarse codes `[B, N_c, T]` (frame mask `[B, T]`) as the prefix."""
        c = self.config
        b, k, t = coarse.shape
        ids = torch.cat(
            [layout.flatten_codes(coarse, c.codebook_size), coarse.new_full((b, 1), self.sep)], 1
        )  # [B, Lc + 1]
        pos = self.ticks(layout.flat_times(t, k, c.codec_rate, coarse.device))
        pos = torch.cat([pos, pos.new_zeros(1)]).expand(b, -1)  # [B, Lc + 1]
        prefix_mask = None
        if mask is not None:
            prefix_mask = torch.cat([layout.expand_frame_mask(mask, k), mask.new_ones(b, 1)], 1)
        return layout.CodeLayout(
            ids, pos, prefix_mask, c.codebook_size, self.fine_offset, c.codec_rate, c.ticks_per_second
        )

    def forward(
        self,
        coarse: torch.Tensor,  # [B, N_c, T]
        fine: torch.Tensor,  # [B, N_f, T]
        mask: torch.Tensor | None = None,  # [B, T] bool (frames)
    ) -> LMOutput:
        self._check(coarse)
        seq = self.code_layout(coarse, mask).training_inputs(fine, mask)
        logits = self.decoder(
            seq.ids, seq.pos, key_mask=seq.key_mask, aligned=self._aligned(coarse, seq.pos)
        )  # [B, N, V]
        return LMOutput(logits=seq.target_logits(logits), targets=seq.targets, mask=seq.target_mask)

    @torch.inference_mode()
    def generate(
        self,
        *,
        conditions: dict[str, Condition | torch.Tensor],  # {"coarse": [B, N_c, T]}
        length: int,  # frames: T
        prompt: torch.Tensor | None = None,  # [B, N_f, P] fine frames that start the window
        sampling: SamplingConfig | None = None,
        options: DecodeOptions | None = None,
        fixed: torch.Tensor
        | None = None,  # read left to right: only the prompt is kept (fill_windows restores the rest)
    ) -> torch.Tensor:
        """Sample the fine codes of one window -> `[B, N_f, length]` (prompt included). Stage 3 has no
        condition, so it takes no guidance."""
        sampling = sampling or SamplingConfig(temperature=PAPER_TEMPERATURES[2])
        if sampling.active_guidance:
            raise ConfigError("stage 3 has no condition to guide (guidance must be 1 or unset)")
        conditions = as_conditions(conditions)
        if set(conditions) != {"coarse"}:
            raise ConfigError(f"stage 3 reads the coarse codes alone, got {', '.join(conditions) or 'nothing'}")
        coarse = conditions["coarse"].value
        self._check(coarse)
        if coarse.shape[2] != length:
            raise ConfigError(f"stage 3: {length} frames asked for, the coarse codes have {coarse.shape[2]}")
        b, kf = coarse.shape[0], self.config.num_fine
        prompt = coarse.new_zeros(b, kf, 0) if prompt is None else prompt
        if prompt.shape[2] >= length:
            return prompt[:, :, :length]
        return self.decoder.continue_codes(
            self.code_layout(coarse),
            prompt,
            length,
            sampling=sampling,
            options=options,
            aligned_fn=None if self.aligned is None else lambda pos: self._aligned(coarse, pos),
        )  # [B, N_f, length]
