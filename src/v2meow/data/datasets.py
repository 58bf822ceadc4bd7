"""Stage datasets over the prepared cache: random crops aligned across rates.

Each example is a dict whose keys are the keyword arguments of the stage model's
`forward` (plus `weights` for the loss), so training calls `model(**inputs)`; `collate`
batches them (a condition's value, mask and drop flag each get a batch dimension):

    semantic (stage 1): semantic [T_s], semantic_mask [T_s],
            conditions {visual: Condition([T_v, D], mask [T_v]), style: Condition([D_s]), <extra streams>}
            (+ conditions.long_term [T_l, D] with long_term_steps; + weights [T_s] with beat_weights)
    coarse (stage 2): semantic [T_s], semantic_mask [T_s], coarse [N_c, T_a], coarse_mask [T_a]
            (+ conditions {visual} for the encdec variant)
            (+ weights [T_a * N_c] with beat_weights: one per flattened coarse target)
    fine (stage 3): coarse [N_c, T_a], fine [N_f, T_a], mask [T_a]

Condition streams are read from the cache item's tensor of the same name (`Stream.name`):
time streams are cropped at their rate with a mask, vectors are passed whole. A features
stream is `[T, size]` (a cached `[T]` is read as `[T, 1]`); when the manifest records the
stream's rate (`rhythm_rate` for `v2meow-prepare --rhythm`), the stream must declare it.

Every stream is cropped to the same time span (`crop_seconds`, 10 s for stages 1-2 and
3 s for stage 3), starting on a time grid where all the rates have whole frames. Clips
shorter than a crop are zero-padded and masked.
"""

from __future__ import annotations

import math
import os

import torch
from torch.utils.data import Dataset, default_collate

from v2meow.data.beatweights import weights_at_rate
from v2meow.data.cache import CacheReader
from v2meow.errors import ConfigError
from v2meow.stages.conditions import Condition, Stream
from v2meow.stages.layout import common_grid
from v2meow.stages.longshort import even_sample
from v2meow.stages.roles import role_of


def default_streams(manifest: dict) -> list[Stream]:
    """Stage 1's condition streams for a cache: its visual features and, when it has them, its style vectors."""
    out = [
        Stream("visual", "features", int(manifest.get("feature_dim") or 1), float(manifest.get("feature_rate") or 1.0))
    ]
    if manifest.get("style_dim"):
        out.append(Stream("style", "vector", int(manifest["style_dim"])))
    return out


class StageDataset(Dataset):
    """Random aligned crops of cached items for one stage.

    Args:
        cache: a cache directory or an open `CacheReader`.
        stage: the role it trains ("semantic", "coarse", "fine"; `stages.roles`) or its component
            name (`stages.roles.KEYS`).
        crop_seconds: window length.
        num_coarse: N_c, the codebooks stage 2 predicts and stage 3 reads.
        num_fine: N_f for stage 3 (default: the rest of the cached codebooks).
        streams: the model's condition streams (`config.streams()`); stage 1 reads at least
            `visual`, stage 2's encdec variant `visual` too. None: stage 1's default streams
            for this cache (`visual`, and `style` when it has one); none for stages 2 and 3. Items without video are skipped
            when a stream needs the visual features.
        split: only items of this split (None: all).
        random_crop: False crops from the start (validation, determinism). A random crop is
            drawn from the crop seed of an `(index, crop_seed)` key (`data.sampling`: what
            training uses, so a resumed run repeats its crops), else from torch's global RNG.
        beat_weights: give the loss the cache's VMAs beat weights (`v2meow-prepare
            --beat-weights`), mapped to the stage's targets by time (stages 1 and 2).
        visual_optional: keep items without video too (audio-only music): their `visual`
            condition is zeros, marked dropped (`drop["visual"]`, the null embedding), so the
            other streams (a rhythm channel computed from the music) still teach stage 1.
            Every example then carries `drop` `{"visual": bool}`.
        long_term_steps: > 0 adds the `long_term` condition, that many frames sampled evenly from
            the item's whole feature sequence (VidMuse long-term stream; stage 1).
        disagree: stage 1, the probability that a time-stretched copy (`"<clip>@x<r>"`, `v2meow-prepare
            --stretch`) is read with its clip's own picture and rhythm channel (the same crop times) but
            keeps its own music and caption: the caption's tempo word then disagrees with the picture,
            so only the words tell the music's tempo (issue 35: text that steers). Drawn per example
            from its crop seed; 0 (the default) reads every item as it is.
    """

    def __init__(
        self,
        cache: str | os.PathLike | CacheReader,
        stage: str,
        crop_seconds: float,
        num_coarse: int = 0,
        num_fine: int | None = None,
        streams: list[Stream] | None = None,
        split: str | None = "train",
        random_crop: bool = True,
        beat_weights: bool = False,
        long_term_steps: int = 0,
        visual_optional: bool = False,
        disagree: float = 0.0,
    ):
        self.reader = cache if isinstance(cache, CacheReader) else CacheReader(cache, split=split)
        role = role_of(stage)  # ConfigError for an unknown name
        self.role, self.crop = role.name, crop_seconds
        stage = role.label
        m = self.reader.manifest
        self.feature_rate = float(m.get("feature_rate") or 0)
        self.semantic_rate = float(m["semantic_rate"])
        self.codec_rate = float(m["codec_rate"])
        self.num_coarse, self.num_fine = num_coarse, num_fine
        if streams is None:
            streams = default_streams(m) if self.role == "semantic" else []
        self.streams = [
            st for st in streams if st.name != "semantic" and st.route != "prefix"
        ]  # a stage's own input is not a condition
        self.use_visual = any(st.name == "visual" for st in self.streams)
        if self.role == "semantic" and not self.use_visual:
            raise ConfigError("stage 1 needs the visual stream")
        self.random_crop = random_crop
        if self.role in ("coarse", "fine") and num_coarse <= 0:
            raise ConfigError(f"{stage} needs num_coarse > 0")
        self.beat_weights, self.long_term_steps = beat_weights, long_term_steps
        if beat_weights and self.role == "fine":
            raise ConfigError("beat weights apply to stages 1 and 2 only")
        if beat_weights and not m.get("beat_weights"):
            raise ConfigError(
                f"{self.reader.root}: cache has no beat weights (prepare it with v2meow-prepare --beat-weights)"
            )
        if long_term_steps and self.role != "semantic":
            raise ConfigError("the long-term stream is a stage 1 input")
        self.visual_optional = visual_optional and self.use_visual
        if visual_optional and long_term_steps:
            raise ConfigError("visual_optional and the long-term stream do not mix (audio-only items have no video)")
        if self.use_visual and not self.visual_optional:
            self.reader.records = [r for r in self.reader.records if r.has_video]
            if not self.feature_rate:
                raise ConfigError(f"{self.reader.root}: cache has no visual features, which {stage} needs")
        if not self.reader.records:
            raise ConfigError(f"{self.reader.root}: no usable items for {stage} (split={split})")
        for st in self.streams:  # a stream the cache records a rate for (e.g. `rhythm_rate`) must be read at it
            cached = m.get(f"{st.name}_rate")
            if st.name != "visual" and st.kind != "vector" and cached and abs(float(cached) - st.rate) > 1e-6:
                raise ConfigError(
                    f"condition stream {st.name} has rate {st.rate:g} but {self.reader.root} stores it at "
                    f"{float(cached):g} Hz; set the stream's rate to {float(cached):g}"
                )
        rates = [self.semantic_rate, self.codec_rate] + [self._rate(st) for st in self.streams if st.kind != "vector"]
        self.grid = common_grid(rates)
        if not 0.0 <= disagree <= 1.0 or (disagree and self.role != "semantic"):
            raise ConfigError(f"disagree is a probability for stage 1's training items, got {disagree} for {stage}")
        self.disagree = disagree
        index = {r.key: i for i, r in enumerate(self.reader.records)}
        self.base = {  # a stretched copy "<clip>@x<r>" -> its clip, when both are here
            i: index[r.key.rsplit("@x", 1)[0]]
            for i, r in enumerate(self.reader.records)
            if "@x" in r.key and r.key.rsplit("@x", 1)[0] in index
        }

    def _rate(self, stream: Stream) -> float:
        """The cached rate of a time stream: the manifest's feature rate for `visual`, else the stream's own."""
        return self.feature_rate if stream.name == "visual" else stream.rate

    def __len__(self) -> int:
        return len(self.reader)

    def _start(self, duration: float, crop_seed: int | None = None) -> float:
        slots = max(0, math.floor((duration - self.crop) / self.grid + 1e-6))
        if not self.random_crop or slots == 0:
            return 0.0
        g = None if crop_seed is None else torch.Generator().manual_seed(crop_seed)
        return int(torch.randint(0, slots + 1, (1,), generator=g)) * self.grid

    @staticmethod
    def _draw(crop_seed: int | None) -> float:
        """A uniform draw of its own for the item (from its crop seed, else torch's global RNG)."""
        g = None if crop_seed is None else torch.Generator().manual_seed(crop_seed ^ 0x5EED)
        return float(torch.rand((), generator=g))

    def _crop(self, x: torch.Tensor, rate: float, start: float, dim: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Crop `x` along `dim` to the window and pad to its full length -> (x, mask [n])."""
        n = round(self.crop * rate)
        s = round(start * rate)
        part = x.narrow(dim, min(s, x.shape[dim]), max(0, min(n, x.shape[dim] - s)))
        mask = torch.zeros(n, dtype=torch.bool)
        mask[: part.shape[dim]] = True
        pad = [0, 0] * (x.dim() - 1 - dim) + [0, n - part.shape[dim]]
        return torch.nn.functional.pad(part, pad), mask

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        """Item `key`, or `(index, crop_seed)` (`data.sampling.ResumableSampler`): the crop drawn from that seed."""
        i, crop_seed = key if isinstance(key, tuple) else (key, None)
        record = self.reader.records[i]
        item = self.reader.load(i)
        start = self._start(record.duration, crop_seed)
        out: dict[str, torch.Tensor] = {}
        if self.role in ("semantic", "coarse"):
            out["semantic"], out["semantic_mask"] = self._crop(item["semantic"].long(), self.semantic_rate, start)
            if self.beat_weights:
                if "beats" not in item:
                    raise ConfigError(f"{self.reader.root}: item {record.key} has no beat weights")
                out["weights"], _ = self._crop(item["beats"].float(), self.semantic_rate, start)  # [T_s]
        if self.streams:
            out["conditions"] = self._conditions(record, item, start)
            if i in self.base and self._draw(crop_seed) < self.disagree:  # the words, not the picture, say the tempo
                base = self.base[i]
                own_style = out["conditions"].get("style")
                out["conditions"] = self._conditions(self.reader.records[base], self.reader.load(base), start)
                if own_style is not None:
                    out["conditions"]["style"] = own_style
        if self.role in ("coarse", "fine"):
            codes, mask = self._crop(item["codes"].long(), self.codec_rate, start, dim=1)  # [K, T_a]
            if codes.shape[0] < self.num_coarse + (self.num_fine or 0):
                raise ConfigError(
                    f"cache has {codes.shape[0]} codebooks, stage needs {self.num_coarse + (self.num_fine or 0)}"
                )
            coarse = codes[: self.num_coarse]
            if self.role == "coarse":
                out["coarse"], out["coarse_mask"] = coarse, mask
                if "weights" in out:  # semantic-rate weights -> one per flattened coarse target (time-major)
                    frames = weights_at_rate(
                        out["weights"], self.semantic_rate, self.codec_rate, mask.shape[0]
                    )  # [T_a]
                    out["weights"] = frames.repeat_interleave(self.num_coarse)  # [T_a * N_c]
            else:
                fine_end = None if self.num_fine is None else self.num_coarse + self.num_fine
                out["coarse"], out["fine"], out["mask"] = coarse, codes[self.num_coarse : fine_end], mask
        return out

    def _conditions(self, record, item: dict[str, torch.Tensor], start: float) -> dict[str, Condition]:
        """The declared condition streams of one item, cropped to the window (value, mask, drop flag)."""
        conditions = {}
        for st in self.streams:
            if st.name == "visual" and self.visual_optional:
                has = "visual" in item
                x = item["visual"].float() if has else torch.zeros(0, int(self.reader.manifest.get("feature_dim") or 1))
                x, mask = self._crop(x, self._rate(st), start)
                mask |= not has  # a dropped stream is all null embeddings: every position stays attendable
                conditions["visual"] = Condition(x, mask, drop=torch.tensor(not has))
                continue
            if st.name not in item:
                if st.kind == "vector" and st.name == "style":  # a cache without style: the model drops it
                    continue
                raise ConfigError(
                    f"{self.reader.root}: item {record.key} has no '{st.name}' stream (re-run v2meow-prepare with it)"
                )
            x = item[st.name]
            if st.kind == "vector":
                conditions[st.name] = Condition(x.float())
            elif st.kind == "tokens":
                conditions[st.name] = Condition(*self._crop(x.long(), self._rate(st), start))
            else:  # features [T, size]; a 1-d [T] tensor is one feature per frame
                x = x.float()[:, None] if x.dim() == 1 else x.float()
                conditions[st.name] = Condition(*self._crop(x, self._rate(st), start))  # [T_w, size], mask [T_w]
        if self.long_term_steps:
            conditions["long_term"] = Condition(even_sample(item["visual"].float(), self.long_term_steps))  # [T_l, D]
        return conditions


def collate(examples: list[dict]) -> dict:
    """A batch of examples: tensors stacked (torch's `default_collate`), each `Condition` field by field."""
    out = {k: default_collate([e[k] for e in examples]) for k in examples[0] if k != "conditions"}
    if "conditions" in examples[0]:
        out["conditions"] = {
            name: _stack([e["conditions"][name] for e in examples]) for name in examples[0]["conditions"]
        }
    return out


def _stack(conditions: list[Condition]) -> Condition:
    """Conditions of single examples -> one with a batch dimension (value [B, ...], mask [B, T], drop [B])."""

    def batch(field: str) -> torch.Tensor | None:
        return None if getattr(conditions[0], field) is None else torch.stack([getattr(c, field) for c in conditions])

    return Condition(batch("value"), batch("mask"), conditions[0].rate, batch("drop"))
