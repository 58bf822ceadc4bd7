"""A parallel (MaskGIT / SoundStorm) acoustic stage: stage 2 (semantic -> coarse) or stage 3 (coarse -> fine).

One bidirectional transformer over a window's codec frames. Each frame's input is the sum of

    its K levels' embeddings (one table per level, with a [MASK] id each)
  + its condition at the frame's time: role `coarse`, the semantic token covering it (a null
    vector when dropped, for guidance); role `fine`, the embeddings of its coarse codes,

at rotary positions in ticks like every stage; one head per level gives logits for every frame.

Training (SoundStorm): per example a level q is drawn uniformly; a cos(u * pi / 2) fraction
(u ~ U(0, 1)) of its frames is masked, every finer level is masked, coarser levels are given;
half the examples keep a random prefix of up to half the window given at every level (the
prompt a later window starts with); the loss is on level q's masked frames. Padding frames
are never attended to nor counted.

Generation fills the levels in order. Level k takes `decode_iterations[k]` passes (default 16
for the first coarse level, 1 for every other level) over a window it fills whole, and in
proportion to the frames after the prompt in a window that continues one (ceil(n * new / window)),
so that long pieces, cut into overlapping windows, cost what their new frames cost in a fresh
window (issue 37); an edit (kept frames, `fixed`) keeps every pass: at step i of n every masked frame is sampled at the
temperature annealed linearly towards 0 (t * (1 - (i + 1) / n): a single pass is greedy),
scored by the log-probability of its token plus Gumbel noise scaled by that temperature, and
all but the floor(T * cos(pi / 2 * (i + 1) / n)) least confident are kept. A prompt (the
previous window's overlap) is given at every level and never changes, so windows join
seamlessly. Every pass has the same shapes (CUDA-graph friendly); guidance runs the dropped
condition as extra rows of the same batch.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from v2meow.errors import ConfigError
from v2meow.stages.aligned import AlignedInputs, frames_at
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
from v2meow.stages.layout import frame_times
from v2meow.stages.lm import LMOutput
from v2meow.stages.sampling import DecodeOptions, SamplingConfig, check_logits, guide, sample
from v2meow.stages.transformer import TransformerStack

#: P(a training example keeps a prompt), and its longest length (fraction of the valid frames).
PROMPT_PROBABILITY, PROMPT_FRACTION = 0.5, 0.5


@dataclasses.dataclass
class MaskGITConfig(StageConfig):
    """A parallel acoustic stage; `role` "coarse" (stage 2) or "fine" (stage 3)."""

    model_type = "v2meow-maskgit"

    role: str = "coarse"
    semantic_vocab: int = 1024  # coarse: the semantic tokens
    semantic_rate: float = 25.0
    codebook_size: int = 1024
    num_coarse: int = 4
    num_fine: int = 0  # fine: the levels it writes
    codec_rate: float = 75.0
    cond_dropout: float = 0.1  # coarse: P(drop the semantic tokens) per training example, for guidance
    decode_iterations: list[int] | None = (
        None  # passes per level (past the list: 1); None: 16 for coarse level 0, else 1
    )
    # training: the share of examples whose level is hidden whole after any prompt, instead of a
    # cosine-drawn share of it; 1.0 trains exactly for one greedy pass per level (decode_iterations [1])
    full_mask: float = 0.0
    # coarse: more time-aligned conditions (Stream fields each, route "aligned"), summed in at each
    # frame's time beside the semantic token, e.g. the rhythm channel:
    # {name: rhythm, kind: features, size: 1, rate: 25.0, dropout: 0.3, route: aligned}
    extra_streams: list[dict] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.role not in ("coarse", "fine"):
            raise ConfigError(f"{self.model_type}: role must be 'coarse' or 'fine', got '{self.role}'")
        if self.num_coarse < 1 or (self.role == "fine" and self.num_fine < 1):
            raise ConfigError(
                f"{self.model_type}: a {self.role} stage needs num_coarse >= 1"
                + (" and num_fine >= 1" if self.role == "fine" else "")
            )
        if not 0.0 <= self.full_mask <= 1.0:
            raise ConfigError(f"{self.model_type}: full_mask must be in [0, 1], got {self.full_mask}")
        if not 0.0 <= self.cond_dropout < 1.0:
            raise ConfigError(f"{self.model_type}: cond_dropout must be in [0, 1), got {self.cond_dropout}")
        if self.extra_streams and self.role != "coarse":
            raise ConfigError(
                f"{self.model_type}: extra_streams are for a coarse stage (a fine stage reads its coarse codes)"
            )
        for st in self.streams()[1:]:
            if st.route != "aligned" or st.kind not in ("features", "tokens"):
                raise ConfigError(
                    f"{self.model_type}: extra stream {st.name} must be time-aligned features or tokens (route: aligned)"
                )
        if not all(
            isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= 1024 for n in self.decode_iterations or ()
        ):
            raise ConfigError(
                f"{self.model_type}: decode_iterations must be whole numbers in [1, 1024], got {self.decode_iterations}"
            )

    @property
    def levels(self) -> int:
        """Codebooks this stage writes."""
        return self.num_coarse if self.role == "coarse" else self.num_fine

    def iterations(self, level: int) -> int:
        """Decoding passes of `level` (1 past the end of `decode_iterations`; by default SoundStorm's: 16 for the
        first coarse level, one greedy pass for every other level)."""
        if self.decode_iterations is None:
            return 16 if self.role == "coarse" and level == 0 else 1
        return self.decode_iterations[level] if level < len(self.decode_iterations) else 1

    def streams(self) -> list[Stream]:
        """coarse: the semantic tokens, summed in at each frame's time (droppable: guidance), then any
        `extra_streams`; fine: the coarse codes."""
        if self.role == "coarse":
            semantic = Stream(
                "semantic", "tokens", self.semantic_vocab, self.semantic_rate, self.cond_dropout, route="aligned"
            )
            return check_unique([semantic, *(Stream.from_dict(d) for d in self.extra_streams)])
        return [Stream("coarse", "codes", self.codebook_size, self.codec_rate, guidable=False, route="prefix")]


class MaskGITStage(Stage):
    """The parallel stage of `MaskGITConfig.role` (one class, either role; see the module docstring)."""

    role = "coarse"  # this instance's: `config.role`
    roles: ClassVar[tuple[str, ...]] = ("coarse", "fine")  # the roles a config can pick (stages/registry.py)
    config_class = MaskGITConfig

    def __init__(self, config: MaskGITConfig):
        super().__init__(config)
        c = config
        self.role = c.role
        self.levels, self.vocab = c.levels, c.codebook_size
        self.mask_id = c.codebook_size  # each level's table holds codebook_size codes + [MASK]
        self.embed = nn.Embedding(self.levels * (c.codebook_size + 1), c.dim)
        if c.role == "coarse":
            self.cond_embed = nn.Embedding(c.semantic_vocab, c.dim)
        else:
            self.cond_embed = nn.Embedding(c.num_coarse * c.codebook_size, c.dim)
        self.null_embed = nn.Parameter(torch.zeros(c.dim))  # a dropped condition
        extra = self.config.streams()[1:] if c.role == "coarse" else []
        self.extra = AlignedInputs(extra, c.dim) if extra else None  # e.g. the rhythm channel
        self.stack = TransformerStack(c.dim, c.depth, c.heads, c.ffn, causal=False, cross=False, dropout=c.dropout)
        self.head = nn.Linear(c.dim, self.levels * c.codebook_size, bias=False)  # level k: rows k*V .. (k+1)*V-1

    # ---- inputs ------------------------------------------------------------------------

    def _positions(self, frames: int, device) -> torch.Tensor:
        """Ticks of codec frames 0..frames-1 -> `[1, T]`."""
        return self.ticks(frame_times(frames, self.config.codec_rate, device))[None]

    def condition(self, value: torch.Tensor, frames: int, drop: torch.Tensor | None = None) -> torch.Tensor:
        """The condition of each frame -> `[B, T, D]`: the semantic token `[B, S]` covering it (coarse),
        or its coarse codes `[B, N_c, T]` summed (fine); rows with `drop` `[B]` get the null vector."""
        c = self.config
        if c.role == "coarse":
            idx = frames_at(frame_times(frames, c.codec_rate, value.device), c.semantic_rate, value.shape[1])  # [T]
            h = self.cond_embed(value[:, idx])  # [B, T, D]
        else:
            shift = torch.arange(c.num_coarse, device=value.device)[None, :, None] * c.codebook_size  # [1, N_c, 1]
            h = self.cond_embed(value[:, :, :frames] + shift).sum(1)  # [B, T, D]
        if drop is not None:
            h = torch.where(drop[:, None, None], self.null_embed.to(h.dtype), h)
        return h

    def logits(
        self,
        codes: torch.Tensor,
        cond: torch.Tensor,
        pos: torch.Tensor,
        key_mask: torch.Tensor | None = None,
        levels: torch.Tensor | int = 0,
    ) -> torch.Tensor:
        """Logits of one level for every frame -> `[B, T, V]`.

        codes `[B, K, T]` (`mask_id` where masked), cond `[B, T, D]`, pos `[1, T]` ticks, key_mask
        `[B, T]` (True = real frame), levels: the level whose head to use (an int, or `[B]` per row).
        """
        k = torch.arange(self.levels, device=codes.device)[None, :, None] * (self.vocab + 1)  # [1, K, 1]
        x = self.embed(codes + k).sum(1) + cond.to(self.embed.weight.dtype)  # [B, T, D]
        h = self.stack(x, pos.expand(x.shape[0], -1), key_mask=key_mask)  # [B, T, D]
        weight = self.head.weight.view(self.levels, self.vocab, -1)  # [K, V, D]
        if isinstance(levels, int):
            return F.linear(h, weight[levels])  # [B, T, V]
        return torch.bmm(h, weight[levels].transpose(1, 2))  # [B, T, V]

    # ---- training ----------------------------------------------------------------------

    def forward(
        self,
        semantic: torch.Tensor | None = None,  # coarse: [B, S]
        coarse: torch.Tensor | None = None,  # [B, N_c, T]: coarse's targets, fine's condition
        semantic_mask: torch.Tensor | None = None,  # coarse: [B, S] bool (padding follows coarse_mask)
        coarse_mask: torch.Tensor | None = None,  # coarse: [B, T] bool, True = real frame
        fine: torch.Tensor | None = None,  # fine: [B, N_f, T] targets
        mask: torch.Tensor | None = None,  # fine: [B, T] bool, True = real frame
        conditions: dict[str, Condition | torch.Tensor] | None = None,  # none: the tokens above are the inputs
    ) -> LMOutput:
        """One SoundStorm step: logits of each example's level q at every frame; targets its codes; mask
        its masked real frames (the loss counts those alone)."""
        c = self.config
        conditions = as_conditions(conditions)
        self._check_extra(conditions)
        if c.role == "coarse":
            if semantic is None or coarse is None:
                raise ConfigError(f"{c.model_type} (coarse) trains on semantic and coarse")
            codes, frame_mask = coarse, coarse_mask
            drop = torch.rand(codes.shape[0], device=codes.device) < c.cond_dropout if self.training else None  # [B]
            cond = self.condition(semantic, codes.shape[2], drop)  # [B, T, D]
            if self.extra is not None:
                if self.training:
                    drops = training_drops(self.streams[1:], conditions, codes.shape[0], codes.device)
                    conditions = with_drops(conditions, drops)
                cond = cond + self._extra(conditions, codes.shape[2])
        else:
            if coarse is None or fine is None:
                raise ConfigError(f"{c.model_type} (fine) trains on coarse and fine")
            self._check_coarse(coarse)
            codes, frame_mask = fine, mask
            cond = self.condition(coarse, codes.shape[2])  # [B, T, D]
        b, k, t = codes.shape
        if k != self.levels:
            raise ConfigError(f"{c.model_type} ({c.role}) expects {self.levels} codebooks, got {k}")
        inputs, level, targets, loss_mask = self.training_masks(codes, frame_mask)
        logits = self.logits(inputs, cond, self._positions(t, codes.device), frame_mask, level)  # [B, T, V]
        return LMOutput(logits=logits, targets=targets, mask=loss_mask)

    def _check_extra(self, conditions: dict[str, Condition]) -> None:
        """The conditions besides the token input: exactly the declared extra streams (none missing, none unknown)."""
        want = {s.name for s in self.streams[1:]}
        if set(conditions) != want:
            have = ", ".join(conditions) or "none"
            raise ConfigError(
                f"{self.config.model_type} ({self.role}) reads {', '.join(sorted(want)) or 'no conditions'} "
                f"besides its token input, got {have}"
            )

    def _extra(self, conditions: dict[str, Condition], frames: int) -> torch.Tensor:
        """The extra streams summed at each codec frame's time -> `[B, T, D]`."""
        times = frame_times(frames, self.config.codec_rate, self.null_embed.device)[None]  # [1, T] s
        return self.extra(conditions, times)

    def training_masks(self, codes: torch.Tensor, frame_mask: torch.Tensor | None = None):
        """SoundStorm's masking of codes `[B, K, T]` (frame mask `[B, T]`) -> inputs `[B, K, T]` (`mask_id`
        where hidden), level q `[B]`, targets `[B, T]` (level q's codes), loss mask `[B, T]` (level q's
        masked real frames)."""
        b, k, t = codes.shape
        dev = codes.device
        real = torch.ones(b, t, dtype=torch.bool, device=dev) if frame_mask is None else frame_mask.bool()  # [B, T]
        valid = real.sum(1)  # [B]
        level = torch.randint(0, k, (b,), device=dev)  # [B]
        keep_prompt = torch.rand(b, device=dev) < PROMPT_PROBABILITY
        prompt = (torch.rand(b, device=dev) * (valid * PROMPT_FRACTION + 1).floor()).long() * keep_prompt  # [B] frames
        frame = torch.arange(t, device=dev)[None]  # [1, T]
        open_ = real & (frame >= prompt[:, None])  # [B, T] frames that can be masked
        ratio = torch.cos(torch.rand(b, device=dev) * math.pi / 2)  # [B]
        if self.config.full_mask > 0:  # drawn only when set: runs without it keep their random stream
            ratio = torch.where(torch.rand(b, device=dev) < self.config.full_mask, torch.ones_like(ratio), ratio)
        count = (ratio * open_.sum(1)).ceil().long().clamp_min(1)  # [B]
        score = torch.rand(b, t, device=dev).masked_fill(~open_, 2.0)  # closed frames sort last
        rank = score.argsort(1).argsort(1)  # [B, T]
        hidden = (rank < count[:, None]) & open_  # [B, T] level q's masked frames
        q = torch.arange(k, device=dev)[None, :, None]  # [1, K, 1]
        hide = (q > level[:, None, None]) & (frame[:, None] >= prompt[:, None, None])  # finer levels after the prompt
        hide = hide | ((q == level[:, None, None]) & hidden[:, None])  # [B, K, T]
        inputs = codes.masked_fill(hide, self.mask_id)
        targets = codes.gather(1, level[:, None, None].expand(-1, 1, t))[:, 0]  # [B, T]
        return inputs, level, targets, hidden

    # ---- generation --------------------------------------------------------------------

    def _check_coarse(self, coarse: torch.Tensor) -> None:
        if coarse.dim() != 3 or coarse.shape[1] != self.config.num_coarse:
            raise ConfigError(
                f"{self.config.model_type} expects coarse codes [B, {self.config.num_coarse}, T], got {list(coarse.shape)}"
            )

    @torch.inference_mode()
    def generate(
        self,
        *,
        conditions: dict[str, Condition | torch.Tensor],  # coarse: {"semantic": [B, S]}; fine: {"coarse": [B, N_c, T]}
        length: int,  # frames
        prompt: torch.Tensor | None = None,  # [B, K, P] frames that start the window (kept as they are)
        sampling: SamplingConfig | None = None,
        options: DecodeOptions | None = None,
        fixed: torch.Tensor | None = None,  # [B, K, length] codes to keep anywhere after the prompt, -1: free
    ) -> torch.Tensor:
        """Fill one window level by level -> `[B, K, length]` codes (prompt included). There is no KV cache:
        `options.use_cache` and `options.cuda_graph` do not apply (every pass has the same shapes).
        `fixed` keeps codes on both sides of a free span (infilling: `pipelines/edit.py`); they are
        read like the prompt, never changed."""
        c = self.config
        sampling, options = sampling or SamplingConfig(), options or DecodeOptions()
        conditions = as_conditions(conditions)
        name = self.streams[0].name
        if name not in conditions:
            raise ConfigError(f"{c.model_type} ({c.role}) reads '{name}', got {', '.join(conditions) or 'nothing'}")
        extra = {k: v for k, v in conditions.items() if k != name}
        self._check_extra(extra)
        value, dropped = conditions[name].value, conditions[name].drop  # [B, S] or [B, N_c, T]; [B] or None
        b, dev = value.shape[0], value.device
        if c.role == "fine":
            self._check_coarse(value)
            if value.shape[2] != length:
                raise ConfigError(f"{c.model_type}: {length} frames asked for, the coarse codes have {value.shape[2]}")
        prompt = value.new_zeros(b, self.levels, 0) if prompt is None else prompt
        if prompt.shape[:2] != (b, self.levels):
            raise ConfigError(f"{c.model_type}: the prompt must be [{b}, {self.levels}, P], got {list(prompt.shape)}")
        p = prompt.shape[2]
        if p >= length:
            return prompt[:, :, :length]
        if sampling.active_guidance and not self.guidable:
            raise ConfigError(f"{c.model_type} ({c.role}) has no condition to guide (guidance must be 1 or unset)")
        passes = [{}] + [
            guidance_drop(self.streams, key, b, dev, f"{c.model_type} ({c.role})")
            for key, _ in sampling.active_guidance
        ]  # the conditional rows, then each guided pass's drops (stream name -> [B])
        scales = [s for _, s in sampling.active_guidance]
        rows = []
        for drops in passes:
            own = drops.get(name)
            h = self.condition(value, length, own if dropped is None else (dropped if own is None else own | dropped))
            if self.extra is not None:
                h = h + self._extra(with_drops(extra, drops), length)
            rows.append(h)
        cond = torch.cat(rows)  # [G * B, T, D]
        codes = torch.cat([prompt, prompt.new_full((b, self.levels, length - p), self.mask_id)], 2)  # [B, K, T]
        if fixed is not None:
            if fixed.shape != codes.shape:
                raise ConfigError(f"{c.model_type}: fixed must be {list(codes.shape)}, got {list(fixed.shape)}")
            codes[:, :, p:] = torch.where(fixed[:, :, p:] >= 0, fixed[:, :, p:], codes[:, :, p:])
        pos = self._positions(length, dev)  # [1, T]
        for level in range(self.levels):
            known = None if fixed is None else fixed[:, level, p:] >= 0  # [B, T - P]
            self._fill_level(codes, level, p, cond, pos, scales, sampling, options, known)
            if options.progress is not None:
                options.progress.update(length - p)
        return codes

    def _fill_level(
        self,
        codes: torch.Tensor,
        level: int,
        p: int,
        cond: torch.Tensor,
        pos: torch.Tensor,
        scales: list[float],
        sampling: SamplingConfig,
        options: DecodeOptions,
        known: torch.Tensor | None = None,
    ) -> None:
        """Unmask level `level` of `codes` `[B, K, T]` after the prompt's `p` frames, in place; `known`
        `[B, T - P]` marks frames already given (fixed), the same count in every row."""
        b, _, t = codes.shape
        groups = 1 + len(scales)
        n = self.config.iterations(level)
        if known is None:  # a window continuing a prompt: passes in proportion to the frames to fill
            n = math.ceil(n * (t - p) / t)
            known = torch.zeros(b, t - p, dtype=torch.bool, device=codes.device)  # [B, T - P] filled frames
        span, given = t - p, int(known[0].sum())
        todo = span - given  # frames this level fills
        if todo <= 0:
            return
        for i in range(n):
            logits = self.logits(codes.repeat(groups, 1, 1), cond, pos, levels=level)[
                :, p:
            ].float()  # [G * B, T - P, V]
            if scales:
                logits = guide(logits[:b], [(logits[(g + 1) * b : (g + 2) * b], s) for g, s in enumerate(scales)])
            check_logits(logits)
            temperature = sampling.temperature * (1.0 - (i + 1) / n)  # annealed: the last pass is greedy
            step = dataclasses.replace(sampling, temperature=temperature, guidance={})
            drawn = sample(logits.flatten(0, 1), step, options.generator).view(b, span)  # [B, T - P]
            confidence = logits.log_softmax(-1).gather(-1, drawn[..., None])[..., 0]  # [B, T - P]
            if temperature > 0:
                u = torch.rand(b, span, generator=options.generator, device=codes.device).clamp(1e-20, 1 - 1e-7)
                confidence = confidence - temperature * (-u.log()).log()  # + temperature x Gumbel noise
            confidence = confidence.masked_fill(known, float("inf"))
            still_masked = math.floor(todo * math.cos(math.pi / 2 * (i + 1) / n))  # MaskGIT's cosine schedule
            keep = (
                given + todo - max(0, min(still_masked, todo - i - 1))
            )  # >= one more frame a pass; all after the last
            order = confidence.argsort(dim=1, descending=True, stable=True)[:, :keep]  # [B, keep] the most confident
            newly = torch.zeros_like(known).scatter(1, order, True) & ~known
            level_codes = codes[:, level, p:]  # [B, T - P] (a view: written in place)
            level_codes.copy_(torch.where(newly, drawn, level_codes))
            known |= newly
