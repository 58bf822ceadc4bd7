"""Stage 2: semantic tokens -> coarse acoustic tokens.

Two variants (`Stage2Config.variant`):

* `decoder` (V2Meow's (a), AudioLM's coarse stage): decoder-only over
  `[semantic ; SEP ; coarse]`; needs no video, so it can be pre-trained on music alone.

      ids      [s_0 .. s_{S-1}, SEP, c_0 .. c_{L-2}]    # [B, S + L], L = T * N_c
      targets  loss only on the L coarse targets c_0 .. c_{L-1}

* `encdec` (V2Meow's (b)): the encoder reads the semantic tokens and the `visual`
  condition (each at its time); the decoder predicts `[c_0 .. c_{L-1}]` after a BOS.

Coarse codes `[B, N_c, T]` are flattened time-major with per-codebook offsets (`layout`).
Semantic tokens sit at their own times; coarse positions at the time of their target frame.

`contrastive_weight > 0` (encdec only) adds VMAs' video-music contrastive loss to
`LMOutput.aux_loss`, as in stage 1; its video side is the encoder run over the visual
stream alone, since the full memory also holds the music's semantic tokens (docs/options.md).
"""

from __future__ import annotations

import dataclasses

import torch

from v2meow.errors import ConfigError
from v2meow.stages import layout
from v2meow.stages.aligned import AlignedInputs
from v2meow.stages.base import Stage
from v2meow.stages.conditions import Condition, Stream, as_conditions, guidance_drop, training_drops, with_drops
from v2meow.stages.config import StageConfig
from v2meow.stages.contrastive import video_music_loss
from v2meow.stages.lm import ConditionEncoder, LMOutput, Memory, TokenLM
from v2meow.stages.roles import ROLE
from v2meow.stages.sampling import DecodeOptions, SamplingConfig


@dataclasses.dataclass
class Stage2Config(StageConfig):
    model_type = ROLE["coarse"].builtin_type

    variant: str = "decoder"  # "decoder" (a) or "encdec" (b)
    semantic_vocab: int = 1024
    semantic_rate: float = 25.0
    codebook_size: int = 1024
    num_coarse: int = 4
    codec_rate: float = 75.0
    feature_dim: int = 0  # encdec only: visual feature size
    feature_rate: float = 1.0
    cond_dropout: float = 0.1  # encdec only: P(drop the visual features), for CFG
    contrastive_weight: float = 0.0  # encdec only: VMAs video-music contrastive loss weight (0 = off)
    contrastive_temperature: float = 1.0
    aligned_semantic: bool = (
        False  # SoundStorm-style: each input also gets the embedding of the semantic token at its time
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.variant not in ("decoder", "encdec"):
            raise ConfigError(f"stage 2 variant must be 'decoder' or 'encdec', got '{self.variant}'")
        if self.variant == "encdec" and self.feature_dim <= 0:
            raise ConfigError("stage 2 variant 'encdec' needs feature_dim > 0")
        if self.contrastive_weight < 0 or self.contrastive_temperature <= 0:
            raise ConfigError("stage 2: contrastive_weight must be >= 0 and contrastive_temperature > 0")
        if self.contrastive_weight > 0 and self.variant != "encdec":
            raise ConfigError("stage 2: contrastive_weight needs the visual variant (variant: encdec)")

    def streams(self) -> list[Stream]:
        """The semantic tokens (never dropped: a decoder prefix, or read by the encoder of `encdec` with
        the visual condition)."""
        if self.variant != "encdec":
            return [
                Stream("semantic", "tokens", self.semantic_vocab, self.semantic_rate, guidable=False, route="prefix")
            ]
        return [
            Stream("semantic", "tokens", self.semantic_vocab, self.semantic_rate, guidable=False),
            Stream("visual", "features", self.feature_dim, self.feature_rate, self.cond_dropout),
        ]


class Stage2(Stage):
    role = "coarse"
    config_class = Stage2Config

    def __init__(self, config: Stage2Config):
        super().__init__(config)
        c = config
        self.coarse_vocab = c.num_coarse * c.codebook_size
        if c.variant == "decoder":
            self.coarse_offset = c.semantic_vocab  # ids: [semantic | coarse | SEP]
            self.sep = c.semantic_vocab + self.coarse_vocab
            self.encoder = None
            self.decoder = TokenLM(self.sep + 1, c.dim, c.depth, c.heads, c.ffn, cross=False, dropout=c.dropout)
        else:
            self.coarse_offset = 0  # ids: [coarse | BOS]
            self.sep = self.coarse_vocab
            self.encoder = ConditionEncoder(
                self.streams, c.dim, c.encoder_depth, c.heads, c.ffn, c.dropout, c.ticks_per_second
            )
            self.decoder = TokenLM(self.sep + 1, c.dim, c.depth, c.heads, c.ffn, cross=True, dropout=c.dropout)
        self.aligned = None
        if c.aligned_semantic:
            self.aligned = AlignedInputs(
                [Stream("semantic", "tokens", c.semantic_vocab, c.semantic_rate, guidable=False)], c.dim
            )

    def _aligned(self, semantic: torch.Tensor, pos: torch.Tensor) -> torch.Tensor | None:
        """The semantic token at the time of each decoder input (ticks `pos` `[1 or B, T]`) -> `[B, T, D]`, or None."""
        if self.aligned is None:
            return None
        return self.aligned({"semantic": Condition(semantic)}, pos / self.config.ticks_per_second)

    @property
    def uses_visual(self) -> bool:
        return self.config.variant == "encdec"

    def encode(self, semantic: Condition, conditions: dict[str, Condition]) -> Memory:
        """The encoder over the semantic tokens `[B, S]` and the conditions (encdec)."""
        if "visual" not in conditions:
            raise ConfigError("stage 2 variant 'encdec' needs the visual condition")
        return self.encoder({"semantic": semantic, **conditions})

    def code_layout(self, semantic: torch.Tensor, semantic_mask: torch.Tensor | None = None) -> layout.CodeLayout:
        """Decoder-side prefix before the coarse codes (`[semantic ; SEP]`, or a BOS for encdec) and their layout."""
        c = self.config
        b, s = semantic.shape
        if c.variant == "decoder":
            ids = torch.cat([semantic, semantic.new_full((b, 1), self.sep)], 1)  # [B, S + 1]
            pos = torch.cat(
                [layout.frame_times(s, c.semantic_rate, semantic.device), semantic.new_zeros(1, dtype=torch.float32)]
            )
            mask = None
            if semantic_mask is not None:
                mask = torch.cat([semantic_mask, semantic_mask.new_ones(b, 1)], 1)
            prefix = (ids, self.ticks(pos).expand(b, s + 1), mask)
        else:
            prefix = (semantic.new_full((b, 1), self.sep), semantic.new_zeros(b, 1, dtype=torch.float32), None)  # BOS
        return layout.CodeLayout(*prefix, c.codebook_size, self.coarse_offset, c.codec_rate, c.ticks_per_second)

    def _conditions(self, conditions: dict[str, Condition | torch.Tensor] | None) -> dict[str, Condition]:
        conditions = as_conditions(conditions)
        if conditions and self.encoder is None:
            raise ConfigError(f"stage 2 variant 'decoder' takes no conditions (got {', '.join(conditions)})")
        return conditions

    def forward(
        self,
        semantic: torch.Tensor,  # [B, S]
        coarse: torch.Tensor,  # [B, N_c, T]
        semantic_mask: torch.Tensor | None = None,  # [B, S] bool
        coarse_mask: torch.Tensor | None = None,  # [B, T] bool
        conditions: dict[str, Condition | torch.Tensor]
        | None = None,  # encdec: {"visual": [B, T_v, D] (mask [B, T_v])}
    ) -> LMOutput:
        c = self.config
        b, k, t = coarse.shape
        if k != c.num_coarse:
            raise ConfigError(f"stage 2 expects {c.num_coarse} coarse codebooks, got {k}")
        conditions = self._conditions(conditions)
        memory = None
        if self.encoder is not None:
            if self.training:
                conditions = with_drops(conditions, training_drops(self.streams, conditions, b, coarse.device))
            memory = self.encode(Condition(semantic, semantic_mask), conditions)
        seq = self.code_layout(semantic, semantic_mask).training_inputs(coarse, coarse_mask)
        aligned = self._aligned(semantic, seq.pos)  # [B, P + L - 1, D] or None
        logits = seq.target_logits(
            self.decoder(seq.ids, seq.pos, memory=memory, key_mask=seq.key_mask, aligned=aligned)
        )  # [B, L, V]
        aux = None
        if c.contrastive_weight > 0:  # video side: the encoder over the visual stream alone (no music in it)
            visual = conditions["visual"]
            video = self.encoder({"visual": Condition(visual.value, visual.mask, visual.rate)}).states  # [B, T_v, D]
            aux = video_music_loss(
                video,
                visual.mask,
                logits[..., : self.coarse_vocab],
                self.decoder.embed.weight[: self.coarse_vocab],
                seq.target_mask,
                c.contrastive_temperature,
                rows=None if visual.drop is None else ~visual.drop,
            )
        return LMOutput(logits=logits, targets=seq.targets, mask=seq.target_mask, aux_loss=aux)

    @torch.inference_mode()
    def generate(
        self,
        *,
        conditions: dict[str, Condition | torch.Tensor],  # {"semantic": [B, S]} (encdec: + "visual": [B, T_v, D])
        length: int,  # frames
        prompt: torch.Tensor | None = None,  # [B, N_c, P] coarse frames that start the window
        sampling: SamplingConfig | None = None,
        options: DecodeOptions | None = None,
        fixed: torch.Tensor
        | None = None,  # read left to right: only the prompt is kept (fill_windows restores the rest)
    ) -> torch.Tensor:
        """Sample coarse codes for one window -> `[B, N_c, length]` (prompt included)."""
        sampling = sampling or SamplingConfig()
        c = self.config
        conditions = as_conditions(conditions)
        if "semantic" not in conditions:
            raise ConfigError("stage 2 needs the semantic tokens (conditions['semantic'])")
        semantic_in = conditions.pop("semantic")
        semantic = semantic_in.value  # [B, S]
        b, k, dev = semantic.shape[0], c.num_coarse, semantic.device
        conditions = self._conditions(conditions)
        prompt = semantic.new_zeros(b, k, 0) if prompt is None else prompt
        if prompt.shape[2] >= length:
            return prompt[:, :, :length]
        memory, guided = None, []
        if self.encoder is not None:
            memory = self.encode(semantic_in, conditions)
            guided = [
                (
                    self.encode(
                        semantic_in, with_drops(conditions, guidance_drop(self.streams, key, b, dev, "stage 2"))
                    ),
                    scale,
                )
                for key, scale in sampling.active_guidance
            ]
        elif sampling.active_guidance:
            guidance_drop(self.streams, sampling.active_guidance[0][0], b, dev, "stage 2 (decoder variant)")  # raises
        return self.decoder.continue_codes(
            self.code_layout(semantic),
            prompt,
            length,
            sampling=sampling,
            memory=memory,
            guided=guided,
            options=options,
            aligned_fn=None
            if self.aligned is None
            else lambda pos: self._aligned(semantic, pos).repeat(1 + len(guided), 1, 1),
        )  # [B, N_c, length]
