"""Stage 3: coarse acoustic tokens -> fine acoustic tokens (decoder-only, 3-s windows).

    ids      [c_0 .. c_{Lc-1}, SEP, f_0 .. f_{Lf-2}]     # [B, Lc + Lf]
    targets  loss only on the fine targets f_0 .. f_{Lf-1}

with `c` the coarse codes `[B, N_c, T]` and `f` the fine codes `[B, N_f, T]`, each flattened
time-major with per-codebook offsets (coarse ids first, then fine ids, then SEP).
"""

from __future__ import annotations

import dataclasses

import torch

from v2meow.errors import ConfigError
from v2meow.stages import layout
from v2meow.stages.aligned import AlignedInputs
from v2meow.stages.conditions import Stream
from v2meow.stages.config import StageComponent, StageConfig
from v2meow.stages.lm import LMOutput, TokenLM
from v2meow.stages.sampling import PAPER_TEMPERATURES, DecodeOptions, SamplingConfig


@dataclasses.dataclass
class Stage3Config(StageConfig):
    model_type = "v2meow-stage3"

    codebook_size: int = 1024
    num_coarse: int = 4
    num_fine: int = 4
    codec_rate: float = 75.0
    window_seconds: float = 3.0
    aligned_coarse: bool = False  # SoundStorm-style: each input also gets the embeddings of the coarse codes of its frame


class Stage3(StageComponent):
    config_class = Stage3Config

    def __init__(self, config: Stage3Config):
        super().__init__(config)
        c = config
        self.fine_offset = c.num_coarse * c.codebook_size
        self.sep = (c.num_coarse + c.num_fine) * c.codebook_size
        self.decoder = TokenLM(self.sep + 1, c.dim, c.depth, c.heads, c.ffn, cross=False, dropout=c.dropout)
        self.aligned = None
        if c.aligned_coarse:
            streams = [Stream(f"coarse{k}", "tokens", c.codebook_size, c.codec_rate, guidable=False) for k in range(c.num_coarse)]
            self.aligned = AlignedInputs(streams, c.dim)

    def _aligned(self, coarse: torch.Tensor, pos: torch.Tensor) -> torch.Tensor | None:
        """The coarse codes of the frame at each decoder input's time (ticks `pos`) -> `[B, T, D]`, or None."""
        if self.aligned is None:
            return None
        codes = {f"coarse{k}": coarse[:, k] for k in range(coarse.shape[1])}
        return self.aligned(codes, pos / self.config.ticks_per_second)

    def _check(self, coarse: torch.Tensor) -> None:
        if coarse.shape[1] != self.config.num_coarse:
            raise ConfigError(f"stage 3 expects {self.config.num_coarse} coarse codebooks, got {coarse.shape[1]}")

    def _prefix(self, coarse: torch.Tensor):
        """Coarse ids + SEP with their positions: `[B, Lc + 1]` each."""
        c = self.config
        b, k, t = coarse.shape
        ids = torch.cat([layout.flatten_codes(coarse, c.codebook_size), coarse.new_full((b, 1), self.sep)], 1)
        pos = self.ticks(layout.flat_times(t, k, c.codec_rate, coarse.device))
        pos = torch.cat([pos, pos.new_zeros(1)]).expand(b, -1)
        return ids, pos

    def forward(
        self,
        coarse: torch.Tensor,  # [B, N_c, T]
        fine: torch.Tensor,  # [B, N_f, T]
        mask: torch.Tensor | None = None,  # [B, T] bool (frames)
    ) -> LMOutput:
        c = self.config
        self._check(coarse)
        b, kf, t = fine.shape
        prefix, prefix_pos = self._prefix(coarse)
        flat = layout.flatten_codes(fine, c.codebook_size, self.fine_offset)  # [B, Lf]
        flat_pos = self.ticks(layout.flat_times(t, kf, c.codec_rate, fine.device)).expand(b, -1)
        ids = torch.cat([prefix, flat[:, :-1]], 1)
        pos = torch.cat([prefix_pos[:, :-1], flat_pos], 1)
        key_mask = flat_mask = None
        if mask is not None:
            coarse_mask = layout.expand_frame_mask(mask, c.num_coarse)
            flat_mask = layout.expand_frame_mask(mask, kf)
            key_mask = torch.cat([coarse_mask, mask.new_ones(b, 1), flat_mask[:, :-1]], 1)
        logits = self.decoder(ids, pos, key_mask=key_mask, aligned=self._aligned(coarse, pos))[:, prefix.shape[1] - 1 :]  # [B, Lf, V]
        target_mask = flat_mask if flat_mask is not None else torch.ones_like(flat, dtype=torch.bool)
        return LMOutput(logits=logits, targets=flat, mask=target_mask)

    @torch.inference_mode()
    def generate(
        self,
        coarse: torch.Tensor,  # [B, N_c, T]
        *,
        sampling: SamplingConfig | None = None,
        prompt: torch.Tensor | None = None,  # [B, N_f, P] fine frames that start the window
        options: DecodeOptions | None = None,
    ) -> torch.Tensor:
        """Sample the fine codes of one window -> `[B, N_f, T]` (prompt included). Stage 3 has no
        condition, so it takes no guidance."""
        sampling = sampling or SamplingConfig(temperature=PAPER_TEMPERATURES[2])
        if sampling.active_guidance:
            raise ConfigError("stage 3 has no condition to guide (guidance must be 1 or unset)")
        c = self.config
        self._check(coarse)
        b, _, t = coarse.shape
        kf = c.num_fine
        prompt = coarse.new_zeros(b, kf, 0) if prompt is None else prompt
        p = prompt.shape[2]
        if p >= t:
            return prompt[:, :, :t]
        prefix, prefix_pos = self._prefix(coarse)
        return self.decoder.continue_codes(
            prefix, prefix_pos, prompt, t, c.codebook_size, self.fine_offset, c.ticks_per_second / c.codec_rate,
            sampling=sampling, options=options, aligned_fn=None if self.aligned is None else lambda pos: self._aligned(coarse, pos),
        )  # [B, N_f, T]
