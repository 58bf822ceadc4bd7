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
import os
from collections.abc import Mapping

import torch
from tqdm.auto import tqdm

from v2meow.errors import ConfigError
from v2meow.features.base import FeatureExtractor, Features
from v2meow.media.duration import check_audible, music_length
from v2meow.pipelines import channels as chans
from v2meow.pipelines import resynthesis
from v2meow.pipelines.bundle import GenerationConfig
from v2meow.pipelines.chain import Source, run_chain, run_role
from v2meow.pipelines.checks import check_components
from v2meow.pipelines.chunks import decode_in_chunks, with_phase
from v2meow.pipelines.outputs import PipelineOutput, loudness_normalized
from v2meow.safety import validation
from v2meow.stages.base import ROLES, Stage
from v2meow.stages.conditions import ALL
from v2meow.stages.roles import ROLE_SPECS
from v2meow.stages.sampling import make_generator

#: Weight dtypes the stages can be stored in (`set_stage_dtype`).
STAGE_DTYPES = {"float32": torch.float32, "bf16": torch.bfloat16}


class V2MeowPipeline:
    """Features -> stage 1 -> stage 2 -> stage 3 -> codec decode."""

    def __init__(
        self,
        extractor: FeatureExtractor,
        stages: Mapping[str, Stage],
        codec,
        style=None,
        semantic_info: dict | None = None,
        generation: GenerationConfig | None = None,
        progress: bool = False,
        semantic=None,
    ):
        """`stages`: a stage for every role of `stages.roles.ROLES` (semantic, coarse, fine), by role.
        `semantic`: the bundle's semantic tokenizer (a `SemanticTokenizer`, or its directory, loaded on
        first use), needed only to read audio (`resynthesize`, `edit`); `semantic_info` (its config) is
        enough for the compatibility check."""
        unknown, missing = sorted(set(stages) - set(ROLES)), [r for r in ROLES if r not in stages]
        if unknown or missing:
            raise ConfigError(
                f"a pipeline needs one stage per role ({', '.join(ROLES)})"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; unknown {', '.join(unknown)}" if unknown else "")
            )
        self.extractor = extractor
        self._stages: dict[str, Stage] = dict.fromkeys(ROLES)  # pipeline order
        for role in ROLES:
            self.set_stage(role, stages[role])
        self.codec, self.style = codec, style
        self._semantic = semantic
        self.generation = generation or GenerationConfig()
        self.progress = progress
        if isinstance(semantic, torch.nn.Module) and semantic_info is None:
            semantic_info = semantic.config.to_dict()
        check_components(extractor, self._stages, codec, style, semantic_info)
        for m in self.modules():
            m.eval()

    @property
    def stages(self) -> dict[str, Stage]:
        """The stages by role, in pipeline order."""
        return dict(self._stages)

    def set_stage(self, role: str, stage: Stage) -> None:
        """Put `stage` in the step of `role` (e.g. a stage trained further); it must be of that role."""
        if role not in self._stages or stage.role != role:
            raise ConfigError(f"the {role} step needs a {role} stage, got a {stage.config.model_type} ({stage.role})")
        self._stages[role] = stage

    def modules(self) -> list[torch.nn.Module]:
        return [m for m in (self.extractor, *self._stages.values(), self.codec, self.style) if m is not None]

    @property
    def semantic(self):
        """The semantic tokenizer (loaded on first use; its backbone may need pretrained weights), or None."""
        if self._semantic is not None and not isinstance(self._semantic, torch.nn.Module):
            from v2meow.tokenizers.semantic import SemanticTokenizer

            self._semantic = SemanticTokenizer.from_pretrained(self._semantic, map_location=str(self.device)).eval()
        return self._semantic

    @property
    def device(self) -> torch.device:
        return next(self._stages[ROLES[0]].parameters()).device

    def to(self, device: str | torch.device) -> V2MeowPipeline:
        for m in self.modules():
            m.to(device)
        return self

    def set_stage_dtype(self, dtype: str | torch.dtype) -> V2MeowPipeline:
        """Store the three stages' weights in `dtype` ("float32" or "bf16"; bf16 on CUDA only).

        On CUDA the stages run under bf16 autocast anyway; bf16 weights halve their memory and
        spare autocast a cast of every weight in every decode step (a captured CUDA graph
        replays those casts otherwise). The extractor, style embedder and codec stay float32.
        """
        dt = STAGE_DTYPES.get(dtype) if isinstance(dtype, str) else dtype
        if dt not in STAGE_DTYPES.values():
            raise ConfigError(f"stage dtype must be one of {', '.join(STAGE_DTYPES)}, got {dtype}")
        if dt != torch.float32 and self.device.type != "cuda":
            raise ConfigError(f"bf16 stage weights need a CUDA device (this pipeline is on {self.device.type})")
        for m in self.stages.values():
            m.to(dt)
        return self

    @classmethod
    def from_pretrained(
        cls,
        bundle: str | os.PathLike,
        device: str = "cpu",
        progress: bool = False,
        dtype: str = "float32",
        trust_pickle: bool = False,
        allow_outside: bool = False,
    ) -> V2MeowPipeline:
        """Load a bundle directory; components are checked against each other, and must lie inside
        it unless `allow_outside` (`bundle.read_bundle`).

        `dtype`: the stages' weights ("bf16" on CUDA: `set_stage_dtype`). `trust_pickle` lets a
        feature extractor read weight files that can run code (TorchScript, pickles holding
        objects); see `v2meow.safety.safeload`.
        """
        from v2meow.pipelines.assemble import load_parts

        parts = load_parts(bundle, allow_outside, extractor_weights=True, trust_pickle=trust_pickle)
        pipe = cls(**parts, progress=progress)
        return pipe.to(device).set_stage_dtype(dtype)

    # ---- steps -------------------------------------------------------------------------

    def extract_features(self, video: str | os.PathLike) -> Features:
        """Visual features of the whole video at the extractor's rate."""
        from v2meow.features.video import extract_video

        return extract_video(self.extractor, video)

    def embed_text(self, text: str | None) -> torch.Tensor | None:
        """Style embedding `[D]` of a prompt, or None (unconditional style)."""
        if text is None:
            return None
        if not self._stages["semantic"].config.style_dim or self.style is None:
            raise ConfigError("this bundle has no style input: it cannot take a text prompt")
        return self.style.embed_text(text).to(self.device)

    def guided_roles(self) -> tuple[str, ...]:
        """Stage roles classifier-free guidance applies to: those with a condition to drop (stage 1; stage 2 with an encoder)."""
        return tuple(role for role, stage in self.stages.items() if stage.guidable)

    def check_guidance(self, gen: GenerationConfig) -> None:
        """Refuse, before any generation, guidance that names a condition a stage does not have."""
        for i, (role, stage) in enumerate(self.stages.items(), 1):
            guidable = stage.guidable
            for key, _ in gen.sampling[role].active_guidance:
                if not guidable:
                    raise ConfigError(
                        f"cfg for stage {i} ({role}): this bundle's stage {i} has no condition to drop, so guidance "
                        f"cannot apply (only the {' and '.join(self.guided_roles())} stage can be guided); leave it at 1"
                    )
                if key != ALL and key not in guidable:
                    raise ConfigError(
                        f"guidance for stage {i} ({role}): it has no condition '{key}' (its guidable conditions: {', '.join([ALL, *guidable])})"
                    )

    def progress_bar(self, total: int, desc: str):
        """A bar over `total` tokens, shown when the pipeline's `progress` is on."""
        return tqdm(total=total, desc=desc, unit="tok", disable=not self.progress, leave=False)

    def reads(self, role: str, stream: str) -> bool:
        """Whether the stage of `role` declares the input `stream`."""
        return any(s.name == stream for s in self.stages[role].streams)

    @property
    def channels_read(self) -> tuple[str, ...]:
        """The condition channels (`features.channels`, e.g. `rhythm`) some stage reads."""
        return chans.channels_read(self)

    @property
    def uses_rhythm(self) -> bool:
        """Whether a stage (1, or a coarse stage with the `rhythm` extra stream) reads the rhythm channel."""
        return "rhythm" in self.channels_read

    @property
    def channel_rate(self) -> float:
        """Frames per second of the condition channels: the semantic rate, as `v2meow-prepare --channel` caches them."""
        return self._stages["semantic"].config.semantic_rate

    def video_channels(
        self, video: str | os.PathLike | None, features: Features, given: dict[str, torch.Tensor] | None = None
    ) -> dict[str, torch.Tensor]:
        """Every channel the stages read, `[T_s, size]` each: `given`, else made from the video."""
        return chans.from_video(self, video, features, given)

    def video_channel(self, name: str, video: str | os.PathLike | None, features: Features) -> torch.Tensor:
        """The video's channel `name` (e.g. "rhythm") at `channel_rate` -> `[T_s, size]`, whether or not a
        stage reads it."""
        return chans.one_from_video(self, name, video, features)

    def semantic_tokens(
        self,
        features: Features,
        style: torch.Tensor | None,
        *,
        num_samples: int,
        generation: GenerationConfig,
        generator=None,
        rhythm: torch.Tensor | None = None,
        channels: dict[str, torch.Tensor] | None = None,
        keep=None,
    ) -> torch.Tensor:
        """Stage 1 over windows -> `[S, T_s]`; a `long_term` stage 1 also reads the whole video in every
        window; `channels` (`[T_s, size]` by name; `rhythm`: the rhythm channel's shortcut) for a stage 1
        that reads them (`video_channels`); `keep`: an edit's kept tokens (`windows.fill_windows`)."""
        sources = self.video_sources(features, style, chans.given_channels(channels, rhythm), num_samples)
        return run_role(self, "semantic", sources, features.duration, generation=generation, generator=generator,
                        keep=keep, whole=self.whole_inputs(sources).get("semantic"), samples=num_samples)  # fmt: skip

    def coarse_tokens(
        self,
        semantic: torch.Tensor,
        duration: float,
        *,
        features: Features | None = None,
        generation: GenerationConfig,
        generator=None,
        rhythm: torch.Tensor | None = None,
        channels: dict[str, torch.Tensor] | None = None,
        keep=None,
    ) -> torch.Tensor:
        """Stage 2 over windows -> `[S, N_c, T_a]` (`features`: the video's, for the `encdec` variant;
        `channels` / `rhythm`: as for `semantic_tokens`, for a stage 2 that reads them)."""
        sources = self.semantic_sources(semantic, duration, features, chans.given_channels(channels, rhythm))
        return run_role(self, "coarse", sources, duration, generation=generation, generator=generator, keep=keep,
                        samples=semantic.shape[0])  # fmt: skip

    def fine_tokens(
        self, coarse: torch.Tensor, duration: float, *, generation: GenerationConfig, generator=None, keep=None
    ) -> torch.Tensor:
        """Stage 3 over windows -> `[S, N_f, T_a]`."""
        sources = {"coarse": Source(coarse, self._stages["fine"].config.codec_rate, axis=2)}
        return run_role(self, "fine", sources, duration, generation=generation, generator=generator, keep=keep,
                        samples=coarse.shape[0])  # fmt: skip

    def semantic_sources(
        self, semantic: torch.Tensor, duration: float, features: Features | None, channels: dict | None = None
    ) -> dict[str, Source]:
        """What the chain from the coarse role on reads besides the semantic tokens `[S, T_s]`: the video's
        features (for a stage 2 of the `encdec` variant) and the channels it reads (`[T_s, size]` by name)."""
        samples = semantic.shape[0]
        if self.reads("coarse", "visual") and features is None:
            raise ConfigError("this bundle's stage 2 reads the video (variant encdec): give the video's features")
        sources = {"semantic": Source(semantic, self._stages["coarse"].config.semantic_rate)}
        if features is not None:
            sources["visual"] = Source(features.features.to(self.device)[None].expand(samples, -1, -1), features.rate)
        chans.add_sources(self, sources, channels or {}, "coarse", samples, duration)
        return sources

    def whole_inputs(self, sources: dict[str, Source]) -> dict[str, dict[str, torch.Tensor]]:
        """Whole-piece inputs by role (`run_chain`'s `whole`): a `long_term` stage 1 reads the whole video
        in every window."""
        return {"semantic": {"long_term": sources["visual"].value}} if self._stages["semantic"].config.long_term else {}

    def video_sources(
        self, features: Features, style: torch.Tensor | None, channels: dict | None, samples: int
    ) -> dict[str, Source]:
        """What generation hands the chain from the video and the words: the visual features, the style
        vector (when there is text) and the condition channels the stages read (`[T_s, size]` by name,
        `video_channels`). A channel that no stage reads is a `ConfigError`, not a silent drop."""
        chans.check_given(self, channels or {})
        sources = {"visual": Source(features.features.to(self.device)[None].expand(samples, -1, -1), features.rate)}
        if style is not None:
            sources["style"] = Source(style[None].expand(samples, -1))  # [S, D_s], the whole piece
        for role in ROLES:  # one source for every stage that reads a channel
            chans.add_sources(self, sources, channels or {}, role, samples, features.duration)
        return sources

    def decode(
        self,
        coarse: torch.Tensor,
        fine: torch.Tensor,
        duration: float,
        chunk_seconds: float = 30.0,
        context_seconds: float = 1.0,
        fade_seconds: float = 0.05,
        phase: str | None = None,
    ) -> torch.Tensor:
        """Codec decode of all codebooks -> `[S, C, N]` with N = round(duration * sample_rate).
        `phase` (`GenerationConfig.phase`): a mel codec's phase reconstruction for this call, griffin_lim
        or pghi (None: the codec's own).

        Long outputs are decoded `chunk_seconds` at a time, each chunk with `context_seconds`
        of codes on both sides that are decoded and dropped, so that memory stays bounded
        and chunk edges see the same context as a single pass would. Neighbouring chunks
        overlap by `fade_seconds` (at most the context) and are cross-faded there: a codec
        whose output depends only on nearby codes gives the single-pass result, and one that
        does not (Griffin-Lim's phase) gives no click at the joins.
        """
        codes = torch.cat([coarse, fine], dim=1)  # [S, K, T]
        return decode_in_chunks(with_phase(self.codec, phase), codes, round(duration * self.codec.sample_rate), chunk_seconds,
                                context_seconds, fade_seconds)  # fmt: skip

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
        rhythm: torch.Tensor | None = None,
        max_seconds: float | None = None,
        channels: dict[str, torch.Tensor] | None = None,
        **overrides,
    ) -> PipelineOutput:
        """Generate music for one video (a path, or features already extracted), as long as the video.
        `max_seconds`: refuse (MediaError, before any work) a longer video; None (the default here,
        unlike the CLI's 10 min) or 0: no limit (`duration.music_length`). `channels`: condition
        channels `[T_s, size]` by name for the stages that read them (`features.channels`; `rhythm`
        `[T_s, 1]` is the rhythm channel's shortcut); the others are made from the video.

        Keyword overrides go to `GenerationConfig.replace`: its fields (`sampling`,
        `context_seconds`, `num_samples`, `seed`, `cuda_graphs`, `loudness`) and the per-role
        shortcuts `temperatures`, `top_k`, `top_p`, `cfg`, `guidance` (an object by role, or 3 values).
        The audio is normalised to `loudness` LUFS (bundle default -14) with its true peak at
        most -1 dBTP; `loudness="none"` leaves it as the codec decodes it.
        """
        import time

        gen = self.generation.replace(**overrides)  # every value checked by v2meow.safety.validation
        limit = validation.max_seconds(max_seconds, "max_seconds")
        if limit is not None:
            music_length(video, limit, "the max_seconds limit", "max_seconds=None lifts it")
        if text is not None:
            validation.text(text, "text")
        self.check_guidance(gen)
        if gen.cuda_graphs and self.device.type != "cuda":
            raise ConfigError(f"cuda_graphs needs the pipeline on a CUDA device, not {self.device.type}")
        timings: dict[str, float] = {}
        t = time.perf_counter()
        features = video if isinstance(video, Features) else self.extract_features(video)
        given = chans.given_channels(channels, rhythm)  # checked against the stages by video_channels
        made = self.video_channels(None if isinstance(video, Features) else video, features, given)
        timings["features"] = time.perf_counter() - t
        source = "the features" if isinstance(video, Features) else str(video)
        check_audible(features.duration, self.codec.sample_rate, source)  # e.g. a corrupt mp4 time scale
        style = self.embed_text(text)
        generator = make_generator(gen.seed, self.device)
        sources = self.video_sources(features, style, made, gen.num_samples)
        with self._autocast():
            tokens = run_chain(self, sources, features.duration, generation=gen, generator=generator,
                               samples=gen.num_samples, whole=self.whole_inputs(sources), timings=timings)  # fmt: skip
        semantic, coarse, fine = tokens["semantic"], tokens["coarse"], tokens["fine"]
        t = time.perf_counter()
        audio = loudness_normalized(
            self.decode(coarse, fine, features.duration, phase=gen.phase), self.codec.sample_rate, gen.loudness
        )
        timings["decode"] = time.perf_counter() - t
        scores = None
        if style is not None and gen.num_samples > 1 and getattr(self.style, "supports_audio", False):
            scores = self.rerank(audio, style)
            order = sorted(range(len(scores)), key=lambda i: -scores[i])
            audio, semantic, coarse, fine = audio[order], semantic[order], coarse[order], fine[order]
            scores = [scores[i] for i in order]
        return PipelineOutput(
            audio=audio.cpu(),
            sample_rate=self.codec.sample_rate,
            semantic=semantic.cpu(),
            coarse=coarse.cpu(),
            fine=fine.cpu(),
            features=features,
            duration=features.duration,
            scores=scores,
            timings=timings,
        )

    # ---- from music: resynthesis (pipelines/resynthesis.py), editing (pipelines/edit.py) ------

    def audio_semantic_tokens(
        self, audio: str | os.PathLike | torch.Tensor, sample_rate: int | None = None
    ) -> tuple[torch.Tensor, float]:
        """Semantic tokens `[T_s]` of an audio file or waveform (`[N]` or `[C, N]` at `sample_rate`), and its duration (s)."""
        return resynthesis.audio_semantic_tokens(self, audio, sample_rate)

    def resynthesize(
        self,
        audio: str | os.PathLike | torch.Tensor,
        sample_rate: int | None = None,
        *,
        video: str | os.PathLike | Features | None = None,
        **overrides,
    ) -> PipelineOutput:
        """Music -> its own semantic tokens -> stages 2 and 3 -> decode (`resynthesis.resynthesize`)."""
        return resynthesis.resynthesize(self, audio, sample_rate, video=video, **overrides)

    def edit(self, video, keep, sample_rate: int | None = None, **options) -> PipelineOutput:
        """Regenerate `regenerate=(start, end)` s of earlier music, or continue it (`continue_from=True`)."""
        from v2meow.pipelines.edit import edit

        return edit(self, video, keep, sample_rate, **options)


def _stage_property(role: str) -> property:
    def get(self) -> Stage:
        return self._stages[role]

    def put(self, stage: Stage) -> None:
        self.set_stage(role, stage)

    return property(get, put, doc=f"The {role} stage (`stages['{role}']`).")


for _role in ROLE_SPECS:  # pipe.<key>: each role's stage by its component name (roles.KEYS)
    setattr(V2MeowPipeline, _role.key, _stage_property(_role.name))
