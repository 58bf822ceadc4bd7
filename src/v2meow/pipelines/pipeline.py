"""V2MeowPipeline: video (+ text) in, music out, by chaining the three stages and the codec.

    pipe = V2MeowPipeline.from_pretrained("checkpoints/demo")
    out = pipe("clip.mp4", text="drum and bass", seed=0)
    out.audio  # [S, C, N] at out.sample_rate, exactly as long as the video

Each step is a public method (`extract_features`, `embed_text`, `semantic_tokens`,
`coarse_tokens`, `fine_tokens`, `decode`), so any of them can be run or replaced alone.
Videos longer than a stage's window are generated window by window; each window is primed
with the tail of the previous one, and the visual features move with it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from v2meow.components import CONFIG_NAME
from v2meow.errors import ConfigError
from v2meow.features.base import FeatureExtractor, Features
from v2meow.media import fit_length
from v2meow.pipelines.bundle import GenerationConfig, read_bundle
from v2meow.pipelines.checks import check_components
from v2meow.pipelines.windows import plan_windows
from v2meow.stages.sampling import SamplingConfig, make_generator
from v2meow.stages.stage1 import Stage1
from v2meow.stages.stage2 import Stage2
from v2meow.stages.stage3 import Stage3


@dataclass
class PipelineOutput:
    """Candidates for one video, best first when reranked."""

    audio: torch.Tensor  # [S, C, N] float
    sample_rate: int
    semantic: torch.Tensor  # [S, T_s]
    coarse: torch.Tensor  # [S, N_c, T_a]
    fine: torch.Tensor  # [S, N_f, T_a]
    features: Features
    duration: float
    scores: list[float] | None = None  # text-audio similarity per candidate, when reranked
    timings: dict[str, float] = field(default_factory=dict)


class V2MeowPipeline:
    """Features -> stage 1 -> stage 2 -> stage 3 -> codec decode."""

    def __init__(
        self,
        extractor: FeatureExtractor,
        stage1: Stage1,
        stage2: Stage2,
        stage3: Stage3,
        codec,
        style=None,
        semantic_info: dict | None = None,
        generation: GenerationConfig | None = None,
        progress: bool = False,
    ):
        self.extractor, self.stage1, self.stage2, self.stage3 = extractor, stage1, stage2, stage3
        self.codec, self.style = codec, style
        self.generation = generation or GenerationConfig()
        self.progress = progress
        check_components(extractor, stage1, stage2, stage3, codec, style, semantic_info)
        for m in self.modules():
            m.eval()

    def modules(self) -> list[torch.nn.Module]:
        return [m for m in (self.extractor, self.stage1, self.stage2, self.stage3, self.codec, self.style) if m is not None]

    @property
    def device(self) -> torch.device:
        return next(self.stage1.parameters()).device

    def to(self, device: str | torch.device) -> V2MeowPipeline:
        for m in self.modules():
            m.to(device)
        return self

    @classmethod
    def from_pretrained(
        cls, bundle: str | os.PathLike, device: str = "cpu", progress: bool = False, trust_pickle: bool = False
    ) -> V2MeowPipeline:
        """Load a bundle directory; components are checked against each other.

        `trust_pickle` lets a feature extractor read weight files that can run code
        (TorchScript, pickles holding objects); see `v2meow.safeload`.
        """
        from v2meow.features.registry import build_extractor
        from v2meow.tokenizers.acoustic import load_codec
        from v2meow.tokenizers.style import load_style_embedder

        spec = read_bundle(bundle)
        comps = spec["components"]
        feats = spec["features"]
        extractor = build_extractor(feats["spec"], trust_pickle=trust_pickle, **feats.get("options", {}))
        semantic_info = None
        if "semantic" in comps:
            semantic_info = json.loads((Path(comps["semantic"]) / CONFIG_NAME).read_text())
        pipe = cls(
            extractor=extractor,
            stage1=Stage1.from_pretrained(comps["stage1"]),
            stage2=Stage2.from_pretrained(comps["stage2"]),
            stage3=Stage3.from_pretrained(comps["stage3"]),
            codec=load_codec(comps["codec"]),
            style=load_style_embedder(comps["style"]) if "style" in comps else None,
            semantic_info=semantic_info,
            generation=spec["generation"],
            progress=progress,
        )
        return pipe.to(device)

    # ---- steps -------------------------------------------------------------------------

    def extract_features(self, video: str | os.PathLike) -> Features:
        """Visual features of the whole video at the extractor's rate."""
        from v2meow.features.video import extract_video

        return extract_video(self.extractor, video)

    def embed_text(self, text: str | None) -> torch.Tensor | None:
        """Style embedding `[D]` of a prompt, or None (unconditional style)."""
        if text is None:
            return None
        if not self.stage1.config.style_dim or self.style is None:
            raise ConfigError("this bundle has no style input: it cannot take a text prompt")
        return self.style.embed_text(text).to(self.device)

    def guided_stages(self) -> tuple[int, ...]:
        """Stages classifier-free guidance applies to: those with a condition to drop (stage 1; stage 2 with an encoder)."""
        return (1, 2) if getattr(self.stage2, "encoder", None) is not None else (1,)

    def _sampling(self, stage: int, gen: GenerationConfig) -> SamplingConfig:
        i = stage - 1
        return SamplingConfig(gen.temperatures[i], gen.top_k[i], gen.top_p[i], gen.cfg[i])

    def _bar(self, total: int, desc: str):
        return tqdm(total=total, desc=desc, unit="tok", disable=not self.progress, leave=False)

    def semantic_tokens(self, features: Features, style: torch.Tensor | None, num_samples: int, gen: GenerationConfig, generator) -> torch.Tensor:
        """Stage 1 over windows -> `[S, T_s]`; a `long_term` stage 1 also reads the whole video in every window."""
        c = self.stage1.config
        total = math.ceil(features.duration * c.semantic_rate - 1e-6)
        feats = features.features.to(self.device)[None].expand(num_samples, -1, -1)  # [S, T_v, D]
        extra = {"long_features": feats} if c.long_term else {}
        style_rows = None if style is None else style[None].expand(num_samples, -1)
        out = torch.zeros(num_samples, total, dtype=torch.long, device=self.device)
        windows = plan_windows(features.duration, c.window_seconds, gen.context_seconds[0], [c.semantic_rate, features.rate])
        with self._bar(total, "stage 1") as bar:
            for w in windows:
                s, e, p = w.frames(c.semantic_rate, total)
                fs, fe, _ = w.frames(features.rate, feats.shape[1])
                prompt = out[:, s : s + p] if p else None
                out[:, s:e] = self.stage1.generate(
                    feats[:, fs:fe], e - s, self._sampling(1, gen), style=style_rows, feature_rate=features.rate,
                    prompt=prompt, generator=generator, progress=bar, cuda_graph=gen.cuda_graphs, **extra,
                )
        return out

    def coarse_tokens(self, semantic: torch.Tensor, features: Features, gen: GenerationConfig, generator) -> torch.Tensor:
        """Stage 2 over windows -> `[S, N_c, T_a]`."""
        c = self.stage2.config
        total = math.ceil(features.duration * c.codec_rate - 1e-6)
        s_total = semantic.shape[1]
        out = torch.zeros(semantic.shape[0], c.num_coarse, total, dtype=torch.long, device=self.device)
        feats = features.features.to(self.device)[None].expand(semantic.shape[0], -1, -1)
        rates = [c.codec_rate, c.semantic_rate] + ([features.rate] if self.stage2.uses_visual else [])
        windows = plan_windows(features.duration, c.window_seconds, gen.context_seconds[1], rates)
        with self._bar(total * c.num_coarse, "stage 2") as bar:
            for w in windows:
                s, e, p = w.frames(c.codec_rate, total)
                ss, se, _ = w.frames(c.semantic_rate, s_total)
                extra = {}
                if self.stage2.uses_visual:
                    fs, fe, _ = w.frames(features.rate, feats.shape[1])
                    extra = {"features": feats[:, fs:fe], "feature_rate": features.rate}
                prompt = out[:, :, s : s + p] if p else None
                out[:, :, s:e] = self.stage2.generate(
                    semantic[:, ss:se], e - s, self._sampling(2, gen), prompt=prompt, generator=generator, progress=bar,
                    cuda_graph=gen.cuda_graphs, **extra,
                )
        return out

    def fine_tokens(self, coarse: torch.Tensor, duration: float, gen: GenerationConfig, generator) -> torch.Tensor:
        """Stage 3 over windows -> `[S, N_f, T_a]`."""
        c = self.stage3.config
        total = coarse.shape[2]
        out = torch.zeros(coarse.shape[0], c.num_fine, total, dtype=torch.long, device=self.device)
        windows = plan_windows(duration, c.window_seconds, gen.context_seconds[2], [c.codec_rate])
        with self._bar(total * c.num_fine, "stage 3") as bar:
            for w in windows:
                s, e, p = w.frames(c.codec_rate, total)
                prompt = out[:, :, s : s + p] if p else None
                out[:, :, s:e] = self.stage3.generate(coarse[:, :, s:e], self._sampling(3, gen), prompt=prompt, generator=generator, progress=bar,
                                                     cuda_graph=gen.cuda_graphs)  # fmt: skip
        return out

    def decode(
        self, coarse: torch.Tensor, fine: torch.Tensor, duration: float, chunk_seconds: float = 30.0, context_seconds: float = 1.0
    ) -> torch.Tensor:
        """Codec decode of all codebooks -> `[S, C, N]` with N = round(duration * sample_rate).

        Long outputs are decoded `chunk_seconds` at a time, each chunk with `context_seconds`
        of codes on both sides that are decoded and dropped, so that memory stays bounded
        and chunk edges see the same context as a single pass would.
        """
        n = round(duration * self.codec.sample_rate)
        codes = torch.cat([coarse, fine], dim=1)  # [S, K, T]
        t, hop = codes.shape[2], self.codec.hop_length
        chunk = max(1, round(chunk_seconds * self.codec.frame_rate))
        ctx = round(context_seconds * self.codec.frame_rate)
        if t <= chunk + 2 * ctx:
            return fit_length(self.codec.decode(codes, length=n), n)
        parts = []
        for s in range(0, t, chunk):
            lo, hi = max(0, s - ctx), min(t, s + chunk + ctx)
            wav = self.codec.decode(codes[:, :, lo:hi])  # [S, C, (hi - lo) * hop]
            parts.append(wav[..., (s - lo) * hop : (min(t, s + chunk) - lo) * hop])
        return fit_length(torch.cat(parts, dim=-1), n)

    def rerank(self, audio: torch.Tensor, text_embedding: torch.Tensor) -> list[float]:
        """Cosine similarity of each candidate `[S, C, N]` to the text embedding."""
        scores = []
        for wav in audio:
            emb = self.style.embed_audio(wav.cpu(), self.codec.sample_rate).to(text_embedding.device)
            scores.append(float(torch.nn.functional.cosine_similarity(emb, text_embedding, dim=0)))
        return scores

    def _autocast(self):
        """bf16 autocast for the stages on CUDA (SDPA then picks its flash/efficient kernels); fp32 on CPU."""
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # ---- all steps ---------------------------------------------------------------------

    @torch.inference_mode()
    def __call__(
        self,
        video: str | os.PathLike | Features,
        text: str | None = None,
        **overrides,
    ) -> PipelineOutput:
        """Generate music for one video (a path, or features already extracted).

        Keyword overrides are `GenerationConfig` fields: `temperatures`, `top_k`, `top_p`,
        `cfg`, `context_seconds`, `num_samples`, `seed`, `cuda_graphs`.
        """
        import time

        gen = self.generation.replace(**overrides)  # every value checked by v2meow.validation
        unguided = [s for s, scale in enumerate(gen.cfg, 1) if scale != 1.0 and s not in self.guided_stages()]
        if unguided:
            raise ConfigError(
                f"cfg for stage {unguided[0]}: this bundle's stage {unguided[0]} has no condition to drop, so guidance "
                f"cannot apply (only stage {' and '.join(map(str, self.guided_stages()))} can be guided); leave it at 1"
            )
        if gen.cuda_graphs and self.device.type != "cuda":
            raise ConfigError(f"cuda_graphs needs the pipeline on a CUDA device, not {self.device.type}")
        timings: dict[str, float] = {}
        t = time.perf_counter()
        features = video if isinstance(video, Features) else self.extract_features(video)
        timings["features"] = time.perf_counter() - t
        style = self.embed_text(text)
        generator = make_generator(gen.seed, self.device)
        t = time.perf_counter()
        with self._autocast():
            semantic = self.semantic_tokens(features, style, gen.num_samples, gen, generator)
            timings["stage1"], t = time.perf_counter() - t, time.perf_counter()
            coarse = self.coarse_tokens(semantic, features, gen, generator)
            timings["stage2"], t = time.perf_counter() - t, time.perf_counter()
            fine = self.fine_tokens(coarse, features.duration, gen, generator)
            timings["stage3"], t = time.perf_counter() - t, time.perf_counter()
        audio = self.decode(coarse, fine, features.duration)
        timings["decode"] = time.perf_counter() - t
        scores = None
        if style is not None and gen.num_samples > 1 and getattr(self.style, "supports_audio", False):
            scores = self.rerank(audio, style)
            order = sorted(range(len(scores)), key=lambda i: -scores[i])
            audio, semantic, coarse, fine = audio[order], semantic[order], coarse[order], fine[order]
            scores = [scores[i] for i in order]
        return PipelineOutput(
            audio=audio.cpu(), sample_rate=self.codec.sample_rate, semantic=semantic.cpu(), coarse=coarse.cpu(),
            fine=fine.cpu(), features=features, duration=features.duration, scores=scores, timings=timings,
        )
