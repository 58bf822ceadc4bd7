"""Stage 1: visual features (+ optional style embedding) -> semantic tokens.

Encoder-decoder. The encoder reads the projected visual features of a window (each at its
time, so any feature rate works) plus the style embedding as one extra position; the
decoder predicts the window's semantic tokens autoregressively:

    decoder input   [BOS, s_0, ..., s_{T-2}]     # [B, T]
    targets         [s_0, s_1, ..., s_{T-1}]     # [B, T]

Input position i sits at the time of its target, i / semantic_rate.

Options from the related systems (all off by default; docs/options.md):

* `long_term` (VidMuse): a long-short-term front-end (`LongShortFusion`) lets each window
  cross-attend to `long_term_steps` frames sampled evenly from the whole video, passed as
  `long_features`.
* `contrastive_weight` (VMAs): `forward` also returns the video-music InfoNCE loss in
  `LMOutput.aux_loss`; the training module adds `contrastive_weight` times it.
"""

from __future__ import annotations

import dataclasses

import torch

from v2meow.components import Component
from v2meow.errors import ConfigError
from v2meow.stages.config import StageConfig
from v2meow.stages.contrastive import video_music_loss
from v2meow.stages.lm import ConditionEncoder, LMOutput, Memory, Stream, TokenLM
from v2meow.stages.longshort import LongShortFusion, even_sample
from v2meow.stages.sampling import SamplingConfig


@dataclasses.dataclass
class Stage1Config(StageConfig):
    model_type = "v2meow-stage1"

    feature_dim: int = 768
    feature_rate: float = 1.0  # rate of the training features (others work: positions are times)
    style_dim: int = 0  # 0 = no style input
    semantic_vocab: int = 1024
    semantic_rate: float = 25.0
    cond_dropout: float = 0.1  # P(drop the visual features) per example, for CFG
    style_dropout: float = 0.1  # P(drop the style embedding) per example
    contrastive_weight: float = 0.0  # VMAs beta (paper: 0.25); 0 = off
    contrastive_temperature: float = 1.0  # cosine similarity / temperature (1.0 = the paper's plain cosine)
    long_term: bool = False  # VidMuse long-short-term front-end
    long_term_steps: int = 32  # long-term frames sampled evenly from the whole video

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.contrastive_weight < 0 or self.contrastive_temperature <= 0:
            raise ConfigError("stage 1: contrastive_weight must be >= 0 and contrastive_temperature > 0")
        if self.long_term and self.long_term_steps < 1:
            raise ConfigError("stage 1: long_term_steps must be at least 1")


class Stage1(Component):
    """Visual -> semantic encoder-decoder."""

    config_class = Stage1Config

    def __init__(self, config: Stage1Config):
        super().__init__(config)
        c = config
        self.long_short = None
        if c.long_term:
            self.long_short = LongShortFusion(c.feature_dim, c.dim, c.heads, c.ffn, c.dropout, c.ticks_per_second)
            streams = [Stream("visual", "embedded", c.dim)]
        else:
            streams = [Stream("visual", "features", c.feature_dim)]
        if c.style_dim:
            streams.append(Stream("style", "vector", c.style_dim))
        self.encoder = ConditionEncoder(streams, c.dim, c.encoder_depth, c.heads, c.ffn, c.dropout)
        self.decoder = TokenLM(c.semantic_vocab + 1, c.dim, c.depth, c.heads, c.ffn, cross=True, dropout=c.dropout)
        self.bos = c.semantic_vocab

    def _ticks(self, seconds: torch.Tensor) -> torch.Tensor:
        return seconds * self.config.ticks_per_second

    def encode(
        self,
        features: torch.Tensor,  # [B, T_v, D]
        feature_rate: float | None = None,
        feature_mask: torch.Tensor | None = None,  # [B, T_v] bool
        style: torch.Tensor | None = None,  # [B, D_s]
        drop_visual: torch.Tensor | None = None,  # [B] bool
        drop_style: torch.Tensor | None = None,  # [B] bool
        long_features: torch.Tensor | None = None,  # [B, T_l, D] the whole video (long_term models)
    ) -> Memory:
        """Run the encoder. Without `style` on a style model, the style is dropped (unconditional).

        A `long_term` model samples `long_term_steps` frames evenly from `long_features`
        (any length; without them, from the window itself, as if it were the whole video).
        """
        streams = self._streams(features, feature_rate, feature_mask, style, drop_visual, drop_style, long_features)
        inputs, pos, masks, drop = streams
        return self.encoder(inputs, pos, masks=masks, drop=drop)

    def _streams(self, features, feature_rate, feature_mask, style, drop_visual, drop_style, long_features):
        """The encoder's keyword inputs (streams, positions, masks, drops) for `encode`'s arguments."""
        c = self.config
        if features.shape[-1] != c.feature_dim:
            raise ConfigError(f"stage 1 expects {c.feature_dim}-d features, got {features.shape[-1]}-d")
        b, t_v, _ = features.shape
        rate = feature_rate or c.feature_rate
        times = torch.arange(t_v, device=features.device, dtype=torch.float32) / rate
        inputs = {"visual": self._visual_input(features, long_features)}
        pos = {"visual": self._ticks(times).expand(b, t_v)}
        drop = {}
        if drop_visual is not None:
            drop["visual"] = drop_visual
        if c.style_dim:
            if style is None:
                style = features.new_zeros(b, c.style_dim)
                drop_style = torch.ones(b, dtype=torch.bool, device=features.device)
            inputs["style"] = style
            pos["style"] = features.new_zeros(b, 1)
            if drop_style is not None:
                drop["style"] = drop_style
        masks = None if feature_mask is None else {"visual": feature_mask}
        return inputs, pos, masks, drop

    def _visual_input(self, features: torch.Tensor, long_features: torch.Tensor | None) -> torch.Tensor:
        """What the encoder's visual stream reads: the raw features, or the long-short fusion `[B, T_v, dim]`."""
        c = self.config
        if self.long_short is None:
            if long_features is not None:
                raise ConfigError("this stage 1 has no long-term module (long_term=False): drop long_features")
            return features
        long = features if long_features is None else long_features
        if long.shape[-1] != c.feature_dim or long.shape[0] != features.shape[0]:
            raise ConfigError(f"long_features must be [{features.shape[0]}, T, {c.feature_dim}], got {list(long.shape)}")
        if long.shape[1] != c.long_term_steps:
            long = even_sample(long, c.long_term_steps)  # [B, T_l, D]
        return self.long_short(features, long.to(features.dtype))

    def forward(
        self,
        features: torch.Tensor,  # [B, T_v, D]
        semantic: torch.Tensor,  # [B, T] ids
        semantic_mask: torch.Tensor | None = None,  # [B, T] bool
        feature_mask: torch.Tensor | None = None,  # [B, T_v] bool
        style: torch.Tensor | None = None,  # [B, D_s]
        feature_rate: float | None = None,
        long_features: torch.Tensor | None = None,  # [B, T_l, D] (long_term models)
    ) -> LMOutput:
        """Teacher-forced logits; in training mode, conditions are dropped at random for CFG.

        With `contrastive_weight > 0`, `aux_loss` holds the (unweighted) video-music
        contrastive loss over the rows whose video was not dropped. Its video side is the
        encoder run again with the style dropped: the style embedding is the clip's own
        music at training, and through the encoder's attention it would leak into the
        pooled "video" representation.
        """
        c = self.config
        b, t = semantic.shape
        drop_v = drop_s = None
        if self.training:
            drop_v = torch.rand(b, device=semantic.device) < c.cond_dropout
            drop_s = torch.rand(b, device=semantic.device) < c.style_dropout
        streams = self._streams(features, feature_rate, feature_mask, style, drop_v, drop_s, long_features)
        inputs, enc_pos, masks, drop = streams
        memory = self.encoder(inputs, enc_pos, masks=masks, drop=drop)
        ids = torch.cat([semantic.new_full((b, 1), self.bos), semantic[:, :-1]], dim=1)  # [B, T]
        pos = self._ticks(torch.arange(t, device=semantic.device, dtype=torch.float32) / c.semantic_rate).expand(b, t)
        key_mask = None
        if semantic_mask is not None:
            key_mask = torch.cat([semantic_mask.new_ones(b, 1), semantic_mask[:, :-1]], dim=1)
        logits = self.decoder(ids, pos, memory=memory, key_mask=key_mask)  # [B, T, V]
        mask = semantic_mask if semantic_mask is not None else torch.ones_like(semantic, dtype=torch.bool)
        aux = None
        if c.contrastive_weight > 0:
            t_v = features.shape[1]  # the visual stream comes first in the memory
            video = memory.states[:, :t_v]  # [B, T_v, D]
            if "style" in inputs:  # again with the style dropped (its null embedding, as for CFG)
                no_style = {**drop, "style": torch.ones(b, dtype=torch.bool, device=semantic.device)}
                video = self.encoder(inputs, enc_pos, masks=masks, drop=no_style).states[:, :t_v]
            aux = video_music_loss(
                video, feature_mask, logits[..., : c.semantic_vocab],
                self.decoder.embed.weight[: c.semantic_vocab], mask, c.contrastive_temperature,
                rows=None if drop_v is None else ~drop_v,
            )  # fmt: skip
        return LMOutput(logits=logits, targets=semantic, mask=mask, memory=memory, aux_loss=aux)

    @torch.inference_mode()
    def generate(
        self,
        features: torch.Tensor,  # [B, T_v, D]
        num_tokens: int,
        sampling: SamplingConfig | None = None,
        style: torch.Tensor | None = None,  # [B, D_s]
        feature_rate: float | None = None,
        prompt: torch.Tensor | None = None,  # [B, P] semantic ids that start the window
        generator: torch.Generator | None = None,
        use_cache: bool = True,
        progress=None,
        cuda_graph: bool = False,
        long_features: torch.Tensor | None = None,  # [B, T_l, D] the whole video (long_term models)
    ) -> torch.Tensor:
        """Sample the semantic tokens of one window -> `[B, num_tokens]` (prompt included)."""
        sampling = sampling or SamplingConfig()
        c = self.config
        b, dev = features.shape[0], features.device
        prompt = features.new_zeros(b, 0, dtype=torch.long) if prompt is None else prompt
        p = prompt.shape[1]
        if p >= num_tokens:
            return prompt[:, :num_tokens]
        memory = self.encode(features, feature_rate, style=style, long_features=long_features)
        uncond = None
        if sampling.uses_cfg:
            ones = torch.ones(b, dtype=torch.bool, device=dev)
            uncond = self.encode(features, feature_rate, style=style, drop_visual=ones, drop_style=ones,
                                 long_features=long_features)  # fmt: skip
        times = self._ticks(torch.arange(num_tokens, device=dev, dtype=torch.float32) / c.semantic_rate)  # [N]
        prefix = torch.cat([prompt.new_full((b, 1), self.bos), prompt], dim=1)  # [B, 1 + P]
        prefix_pos = times[: p + 1].expand(b, p + 1)
        step_pos = torch.cat([times[p + 1 :], times[-1:]])  # a new token i is fed at its target's time
        step_range = torch.tensor([[0, c.semantic_vocab]]).expand(num_tokens - p, 2)
        new = self.decoder.generate(
            prefix, prefix_pos, step_pos, step_range, sampling, memory, uncond, generator, use_cache, progress, cuda_graph
        )
        return torch.cat([prompt, new], dim=1)
