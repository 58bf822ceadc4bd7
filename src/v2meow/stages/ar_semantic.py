"""Stage 1: visual features (+ optional style embedding) -> semantic tokens.

Encoder-decoder. The encoder reads the projected visual features of a window (each at its
time, so any feature rate works) plus the style embedding as one extra position; the
decoder predicts the window's semantic tokens autoregressively:

    decoder input   [BOS, s_0, ..., s_{T-2}]     # [B, T]
    targets         [s_0, s_1, ..., s_{T-1}]     # [B, T]

Input position i sits at the time of its target, i / semantic_rate.

Conditions are named streams (`v2meow.stages.conditions`), each passed as one `Condition`
(value, mask, rate): `visual` (`[B, T_v, D]` at any rate), `style` (`[B, D_s]`, when
`style_dim > 0`) and any `extra_streams` of the config.

Options from the related systems (all off by default; docs/options.md):

* `long_term` (VidMuse): a long-short-term front-end (`LongShortFusion`) lets each window
  cross-attend to `long_term_steps` frames sampled evenly from the whole video, passed as
  the `long_term` condition (`[B, T_l, D]`, any length).
* `contrastive_weight` (VMAs): `forward` also returns the video-music InfoNCE loss in
  `LMOutput.aux_loss`; the training module adds `contrastive_weight` times it.
"""

from __future__ import annotations

import dataclasses

import torch

from v2meow.errors import ConfigError
from v2meow.stages.aligned import AlignedInputs
from v2meow.stages.base import Stage
from v2meow.stages.conditions import (
    Condition,
    Stream,
    as_conditions,
    check_unique,
    guidance_drop,
    training_drops,
    with_drops,
)
from v2meow.stages.config import StageConfig
from v2meow.stages.contrastive import video_music_loss
from v2meow.stages.lm import ConditionEncoder, LMOutput, Memory, TokenLM
from v2meow.stages.longshort import LongShortFusion, even_sample
from v2meow.stages.roles import ROLE
from v2meow.stages.sampling import DecodeOptions, SamplingConfig


@dataclasses.dataclass
class Stage1Config(StageConfig):
    model_type = ROLE["semantic"].builtin_type

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
    visual_route: str = "encoder"  # "encoder" (V2Meow: cross-attention) or "both" (also time-aligned into the decoder)
    extra_streams: list[dict] = dataclasses.field(default_factory=list)  # more conditions: Stream fields each

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.contrastive_weight < 0 or self.contrastive_temperature <= 0:
            raise ConfigError("stage 1: contrastive_weight must be >= 0 and contrastive_temperature > 0")
        if self.long_term and self.long_term_steps < 1:
            raise ConfigError("stage 1: long_term_steps must be at least 1")
        if self.visual_route not in ("encoder", "both"):
            raise ConfigError(f"stage 1: visual_route must be 'encoder' or 'both', got '{self.visual_route}'")
        if self.long_term and self.visual_route != "encoder":
            raise ConfigError(
                "stage 1: the long_term front-end reads the visual stream in the encoder only (visual_route: encoder)"
            )
        self.streams()  # validates extra_streams

    def streams(self) -> list[Stream]:
        """The encoder's condition streams, in order (their order fixes the weights' layout)."""
        visual_kind = "embedded" if self.long_term else "features"
        visual_size = self.dim if self.long_term else self.feature_dim
        out = [
            Stream("visual", visual_kind, visual_size, self.feature_rate, self.cond_dropout, route=self.visual_route)
        ]
        if self.style_dim:
            out.append(Stream("style", "vector", self.style_dim, dropout=self.style_dropout))
        out += [Stream.from_dict(d) for d in self.extra_streams]
        if any(s.name == "long_term" for s in out):
            raise ConfigError(
                "stage 1: 'long_term' names the whole-video input of the long_term option; pick another name"
            )
        if not any(s.encoded for s in out):
            raise ConfigError("stage 1: at least one condition stream must go to the encoder")
        return check_unique(out)


class Stage1(Stage):
    """Visual (+ style, + extra streams) -> semantic encoder-decoder."""

    role = "semantic"
    config_class = Stage1Config

    def __init__(self, config: Stage1Config):
        super().__init__(config)
        c = config
        self.long_short = None
        if c.long_term:
            self.long_short = LongShortFusion(c.feature_dim, c.dim, c.heads, c.ffn, c.dropout, c.ticks_per_second)
        encoded = [s for s in self.streams if s.encoded]
        self.encoder = ConditionEncoder(encoded, c.dim, c.encoder_depth, c.heads, c.ffn, c.dropout, c.ticks_per_second)
        aligned = [s for s in self.streams if s.aligned]
        self.aligned = AlignedInputs(aligned, c.dim) if aligned else None
        self.decoder = TokenLM(c.semantic_vocab + 1, c.dim, c.depth, c.heads, c.ffn, cross=True, dropout=c.dropout)
        self.bos = c.semantic_vocab

    def encoder_inputs(self, conditions: dict[str, Condition]) -> dict[str, Condition]:
        """What the encoder reads for `conditions` (drop flags kept).

        The visual features go through the long-short front-end on `long_term` models (with
        `conditions["long_term"]`, the whole video, or the window itself without it). A
        style model given no style gets its style dropped (unconditional).
        """
        c = self.config
        conditions = dict(conditions)
        unknown = sorted(set(conditions) - {s.name for s in self.streams} - {"long_term"})
        if unknown:
            raise ConfigError(
                f"stage 1: unknown condition stream(s) {', '.join(unknown)} (declared: {', '.join(s.name for s in self.streams)})"
            )
        if "visual" not in conditions:
            raise ConfigError("stage 1 needs the visual condition")
        visual = conditions["visual"]
        features = visual.value  # [B, T_v, D]
        if features.shape[-1] != c.feature_dim:
            raise ConfigError(f"stage 1 expects {c.feature_dim}-d features, got {features.shape[-1]}-d")
        long_term = conditions.pop("long_term", None)
        conditions["visual"] = dataclasses.replace(
            visual, value=self._visual_input(features, None if long_term is None else long_term.value)
        )
        if c.style_dim and conditions.get("style") is None:
            b = features.shape[0]
            conditions["style"] = Condition(
                features.new_zeros(b, c.style_dim), drop=torch.ones(b, dtype=torch.bool, device=features.device)
            )
        encoded = {s.name for s in self.encoder.streams}
        return {k: v for k, v in conditions.items() if k in encoded}

    def aligned_inputs(self, conditions: dict[str, Condition], times: torch.Tensor) -> torch.Tensor | None:
        """The time-aligned streams summed at the decoder input times `[1, T]` (s) -> `[B, T, D]`, or None."""
        if self.aligned is None:
            return None
        return self.aligned(conditions, times)

    def encode(self, conditions: dict[str, Condition | torch.Tensor]) -> Memory:
        """Run the encoder. Without `style` on a style model, the style is dropped (unconditional)."""
        return self.encoder(self.encoder_inputs(as_conditions(conditions)))

    def _visual_input(self, features: torch.Tensor, long_features: torch.Tensor | None) -> torch.Tensor:
        """What the encoder's visual stream reads: the raw features, or the long-short fusion `[B, T_v, dim]`."""
        c = self.config
        if self.long_short is None:
            if long_features is not None:
                raise ConfigError(
                    "this stage 1 has no long-term module (long_term=False): drop the long_term condition"
                )
            return features
        long = features if long_features is None else long_features
        if long.shape[-1] != c.feature_dim or long.shape[0] != features.shape[0]:
            raise ConfigError(f"long_term must be [{features.shape[0]}, T, {c.feature_dim}], got {list(long.shape)}")
        if long.shape[1] != c.long_term_steps:
            long = even_sample(long, c.long_term_steps)  # [B, T_l, D]
        dtype = self.long_short.out.weight.dtype  # float32 inputs into a model stored in bf16
        return self.long_short(features.to(dtype), long.to(dtype))

    def forward(
        self,
        semantic: torch.Tensor,  # [B, T] ids
        conditions: dict[str, Condition | torch.Tensor],  # name -> value, mask [B, T_c], rate, drop [B] (e.g. no video)
        semantic_mask: torch.Tensor | None = None,  # [B, T] bool
    ) -> LMOutput:
        """Teacher-forced logits; in training mode, conditions are dropped at random for CFG, and
        always where a condition's `drop` says so (an audio-only item's visual stream).

        With `contrastive_weight > 0`, `aux_loss` holds the (unweighted) video-music
        contrastive loss over the rows whose video was not dropped. Its video side is the
        encoder run again with the style dropped: the style embedding is the clip's own
        music at training, and through the encoder's attention it would leak into the
        pooled "video" representation.
        """
        c = self.config
        b, t = semantic.shape
        conditions = as_conditions(conditions)
        if self.training:
            conditions = with_drops(conditions, training_drops(self.streams, conditions, b, semantic.device))
        inputs = self.encoder_inputs(conditions)
        memory = self.encoder(inputs)
        ids = torch.cat([semantic.new_full((b, 1), self.bos), semantic[:, :-1]], dim=1)  # [B, T]
        times = torch.arange(t, device=semantic.device, dtype=torch.float32)[None] / c.semantic_rate  # [1, T] s
        pos = self.ticks(times).expand(b, t)
        key_mask = None
        if semantic_mask is not None:
            key_mask = torch.cat([semantic_mask.new_ones(b, 1), semantic_mask[:, :-1]], dim=1)
        aligned = self.aligned_inputs(conditions, times)  # [B, T, D] or None
        logits = self.decoder(ids, pos, memory=memory, key_mask=key_mask, aligned=aligned)  # [B, T, V]
        mask = semantic_mask if semantic_mask is not None else torch.ones_like(semantic, dtype=torch.bool)
        aux = None
        if c.contrastive_weight > 0:
            t_v = inputs["visual"].value.shape[1]  # the visual stream comes first in the memory
            video = memory.states[:, :t_v]  # [B, T_v, D]
            if "style" in inputs:  # again with the style dropped (its null embedding, as for CFG)
                no_style = {
                    **inputs,
                    "style": inputs["style"].dropped(torch.ones(b, dtype=torch.bool, device=semantic.device)),
                }
                video = self.encoder(no_style).states[:, :t_v]
            drop_v = inputs["visual"].drop
            aux = video_music_loss(
                video,
                inputs["visual"].mask,
                logits[..., : c.semantic_vocab],
                self.decoder.embed.weight[: c.semantic_vocab],
                mask,
                c.contrastive_temperature,
                rows=None if drop_v is None else ~drop_v,
            )
        return LMOutput(logits=logits, targets=semantic, mask=mask, aux_loss=aux)

    @torch.inference_mode()
    def generate(
        self,
        *,
        conditions: dict[str, Condition | torch.Tensor],  # "visual" [B, T_v, D], "style" [B, D_s], extra streams
        length: int,  # semantic tokens of the window
        prompt: torch.Tensor | None = None,  # [B, P] semantic ids that start the window
        sampling: SamplingConfig | None = None,
        options: DecodeOptions | None = None,
        fixed: torch.Tensor
        | None = None,  # read left to right: only the prompt is kept (fill_windows restores the rest)
    ) -> torch.Tensor:
        """Sample the semantic tokens of one window -> `[B, length]` (prompt included).

        `sampling.guidance` maps `"all"` or a condition name to a guidance scale.
        """
        sampling = sampling or SamplingConfig()
        c = self.config
        conditions = as_conditions(conditions)
        if "visual" not in conditions:
            raise ConfigError("stage 1 needs the visual condition (the video's features)")
        visual = conditions["visual"].value
        b, dev = visual.shape[0], visual.device
        prompt = visual.new_zeros(b, 0, dtype=torch.long) if prompt is None else prompt
        p = prompt.shape[1]
        if p >= length:
            return prompt[:, :length]
        passes = [conditions] + [
            with_drops(conditions, guidance_drop(self.streams, key, b, dev, "stage 1"))
            for key, _ in sampling.active_guidance
        ]
        memories = [self.encode(conds) for conds in passes]
        guided = [(m, scale) for m, (_, scale) in zip(memories[1:], sampling.active_guidance)]
        times = self.ticks(torch.arange(length, device=dev, dtype=torch.float32) / c.semantic_rate)  # [N]
        prefix = torch.cat([prompt.new_full((b, 1), self.bos), prompt], dim=1)  # [B, 1 + P]
        prefix_pos = times[: p + 1].expand(b, p + 1)
        step_pos = torch.cat([times[p + 1 :], times[-1:]])  # a new token i is fed at its target's time
        step_range = torch.tensor([[0, c.semantic_vocab]]).expand(length - p, 2)
        aligned = None
        if self.aligned is not None:  # [groups * B, 1 + P + N, D]: the inputs' times, one block per pass
            seconds = torch.cat([prefix_pos[:1], step_pos[None]], 1) / c.ticks_per_second
            aligned = torch.cat([self.aligned_inputs(conds, seconds) for conds in passes])
        new = self.decoder.generate(
            prefix,
            prefix_pos,
            step_pos,
            step_range,
            sampling=sampling,
            memory=memories[0],
            guided=guided,
            aligned=aligned,
            options=options,
        )
        return torch.cat([prompt, new], dim=1)
