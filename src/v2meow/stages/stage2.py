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
from v2meow.stages.conditions import Stream, guidance_drop, training_drops
from v2meow.stages.config import StageComponent, StageConfig
from v2meow.stages.contrastive import video_music_loss
from v2meow.stages.lm import ConditionEncoder, LMOutput, Memory, TokenLM
from v2meow.stages.sampling import DecodeOptions, SamplingConfig


@dataclasses.dataclass
class Stage2Config(StageConfig):
    model_type = "v2meow-stage2"

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
    aligned_semantic: bool = False  # SoundStorm-style: each input also gets the embedding of the semantic token at its time

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
        """The encoder's streams (encdec): the semantic tokens (never dropped) and the visual condition."""
        if self.variant != "encdec":
            return []
        return [Stream("semantic", "tokens", self.semantic_vocab, self.semantic_rate, guidable=False),
                Stream("visual", "features", self.feature_dim, self.feature_rate, self.cond_dropout)]  # fmt: skip


class Stage2(StageComponent):
    config_class = Stage2Config

    def __init__(self, config: Stage2Config):
        super().__init__(config)
        c = config
        self.coarse_vocab = c.num_coarse * c.codebook_size
        self.streams = c.streams()
        if c.variant == "decoder":
            self.coarse_offset = c.semantic_vocab  # ids: [semantic | coarse | SEP]
            self.sep = c.semantic_vocab + self.coarse_vocab
            self.encoder = None
            self.decoder = TokenLM(self.sep + 1, c.dim, c.depth, c.heads, c.ffn, cross=False, dropout=c.dropout)
        else:
            self.coarse_offset = 0  # ids: [coarse | BOS]
            self.sep = self.coarse_vocab
            self.encoder = ConditionEncoder(self.streams, c.dim, c.encoder_depth, c.heads, c.ffn, c.dropout, c.ticks_per_second)
            self.decoder = TokenLM(self.sep + 1, c.dim, c.depth, c.heads, c.ffn, cross=True, dropout=c.dropout)
        self.aligned = None
        if c.aligned_semantic:
            self.aligned = AlignedInputs([Stream("semantic", "tokens", c.semantic_vocab, c.semantic_rate, guidable=False)], c.dim)

    def _aligned(self, semantic: torch.Tensor, pos: torch.Tensor) -> torch.Tensor | None:
        """The semantic token at the time of each decoder input (ticks `pos` `[1 or B, T]`) -> `[B, T, D]`, or None."""
        if self.aligned is None:
            return None
        return self.aligned({"semantic": semantic}, pos / self.config.ticks_per_second)

    @property
    def uses_visual(self) -> bool:
        return self.config.variant == "encdec"

    def encode(
        self,
        semantic: torch.Tensor,  # [B, S]
        conditions: dict[str, torch.Tensor] | None,
        semantic_mask: torch.Tensor | None = None,  # [B, S] bool
        masks: dict[str, torch.Tensor] | None = None,
        rates: dict[str, float] | None = None,
        drop: dict[str, torch.Tensor] | None = None,
    ) -> Memory:
        """The encoder over the semantic tokens and the conditions (encdec)."""
        if not conditions or "visual" not in conditions:
            raise ConfigError("stage 2 variant 'encdec' needs the visual condition")
        masks = dict(masks or {})
        if semantic_mask is not None:
            masks["semantic"] = semantic_mask
        return self.encoder({"semantic": semantic, **conditions}, masks, rates, drop)

    def _prefix(self, semantic: torch.Tensor, semantic_mask: torch.Tensor | None):
        """Decoder-side prefix before the coarse tokens: ids, positions, key mask."""
        c = self.config
        b, s = semantic.shape
        if c.variant == "decoder":
            ids = torch.cat([semantic, semantic.new_full((b, 1), self.sep)], 1)  # [B, S + 1]
            pos = torch.cat([layout.frame_times(s, c.semantic_rate, semantic.device), semantic.new_zeros(1, dtype=torch.float32)])
            mask = None
            if semantic_mask is not None:
                mask = torch.cat([semantic_mask, semantic_mask.new_ones(b, 1)], 1)
            return ids, self.ticks(pos).expand(b, s + 1), mask
        ids = semantic.new_full((b, 1), self.sep)  # BOS
        return ids, semantic.new_zeros(b, 1, dtype=torch.float32), None

    def _check_conditions(self, conditions: dict[str, torch.Tensor] | None) -> None:
        if conditions and self.encoder is None:
            raise ConfigError(f"stage 2 variant 'decoder' takes no conditions (got {', '.join(conditions)})")

    def forward(
        self,
        semantic: torch.Tensor,  # [B, S]
        coarse: torch.Tensor,  # [B, N_c, T]
        semantic_mask: torch.Tensor | None = None,  # [B, S] bool
        coarse_mask: torch.Tensor | None = None,  # [B, T] bool
        conditions: dict[str, torch.Tensor] | None = None,  # encdec: {"visual": [B, T_v, D]}
        masks: dict[str, torch.Tensor] | None = None,  # encdec: {"visual": [B, T_v] bool}
        rates: dict[str, float] | None = None,
    ) -> LMOutput:
        c = self.config
        b, k, t = coarse.shape
        if k != c.num_coarse:
            raise ConfigError(f"stage 2 expects {c.num_coarse} coarse codebooks, got {k}")
        self._check_conditions(conditions)
        memory = None
        drop = {}
        if self.encoder is not None:
            drop = training_drops(self.streams, conditions or {}, b, coarse.device) if self.training else {}
            memory = self.encode(semantic, conditions, semantic_mask, masks, rates, drop)
        prefix, prefix_pos, prefix_mask = self._prefix(semantic, semantic_mask)
        flat = layout.flatten_codes(coarse, c.codebook_size, self.coarse_offset)  # [B, L]
        flat_pos = self.ticks(layout.flat_times(t, k, c.codec_rate, coarse.device)).expand(b, -1)  # [B, L]
        ids = torch.cat([prefix, flat[:, :-1]], 1)  # [B, P + L - 1]
        pos = torch.cat([prefix_pos[:, :-1], flat_pos], 1)  # last prefix id sits at the first target's time
        flat_mask = layout.expand_frame_mask(coarse_mask, k) if coarse_mask is not None else None
        key_mask = None
        if prefix_mask is not None or flat_mask is not None:
            pm = prefix_mask if prefix_mask is not None else prefix.new_ones(prefix.shape, dtype=torch.bool)
            fm = flat_mask if flat_mask is not None else flat.new_ones(flat.shape, dtype=torch.bool)
            key_mask = torch.cat([pm, fm[:, :-1]], 1)
        aligned = self._aligned(semantic, pos)  # [B, P + L - 1, D] or None
        logits = self.decoder(ids, pos, memory=memory, key_mask=key_mask, aligned=aligned)[:, prefix.shape[1] - 1 :]  # [B, L, V]
        mask = flat_mask if flat_mask is not None else torch.ones_like(flat, dtype=torch.bool)
        aux = None
        if c.contrastive_weight > 0:  # video side: the encoder over the visual stream alone (no music in it)
            visual_mask = (masks or {}).get("visual")
            video = self.encoder({"visual": conditions["visual"]}, masks, rates).states  # [B, T_v, D]
            drop_v = drop.get("visual")
            aux = video_music_loss(
                video, visual_mask, logits[..., : self.coarse_vocab],
                self.decoder.embed.weight[: self.coarse_vocab], mask, c.contrastive_temperature,
                rows=None if drop_v is None else ~drop_v,
            )  # fmt: skip
        return LMOutput(logits=logits, targets=flat, mask=mask, aux_loss=aux)

    @torch.inference_mode()
    def generate(
        self,
        semantic: torch.Tensor,  # [B, S]
        num_frames: int,
        *,
        conditions: dict[str, torch.Tensor] | None = None,  # encdec: {"visual": [B, T_v, D]}
        rates: dict[str, float] | None = None,
        sampling: SamplingConfig | None = None,
        prompt: torch.Tensor | None = None,  # [B, N_c, P] coarse frames that start the window
        options: DecodeOptions | None = None,
    ) -> torch.Tensor:
        """Sample coarse codes for one window -> `[B, N_c, num_frames]` (prompt included)."""
        sampling = sampling or SamplingConfig()
        c = self.config
        b, k, dev = semantic.shape[0], c.num_coarse, semantic.device
        self._check_conditions(conditions)
        prompt = semantic.new_zeros(b, k, 0) if prompt is None else prompt
        p = prompt.shape[2]
        if p >= num_frames:
            return prompt[:, :, :num_frames]
        memory, guided = None, []
        if self.encoder is not None:
            memory = self.encode(semantic, conditions, rates=rates)
            guided = [(self.encode(semantic, conditions, rates=rates, drop=guidance_drop(self.streams, key, b, dev, "stage 2")), scale)
                      for key, scale in sampling.active_guidance]  # fmt: skip
        elif sampling.active_guidance:
            guidance_drop(self.streams, sampling.active_guidance[0][0], b, dev, "stage 2 (decoder variant)")  # raises
        prefix, prefix_pos, _ = self._prefix(semantic, None)
        return self.decoder.continue_codes(
            prefix, prefix_pos, prompt, num_frames, c.codebook_size, self.coarse_offset,
            c.ticks_per_second / c.codec_rate, sampling=sampling, memory=memory, guided=guided, options=options,
            aligned_fn=None if self.aligned is None else lambda pos: self._aligned(semantic, pos).repeat(1 + len(guided), 1, 1),
        )  # [B, N_c, num_frames]
