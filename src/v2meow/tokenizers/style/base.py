"""The style embedder interface: captions and music in one embedding space.

V2Meow conditions stage 1 on one style vector per clip. At training it is the
embedding of the clip's own music, taken per 10-s segment and averaged (the paper
does this with MuLan); at generation it is the embedding of a text prompt, which
works because the audio and text towers were trained into one space.

    emb = load_style_embedder("checkpoints/style")
    v = emb.embed_clip_audio(wav, sr)              # [D], training target of a clip
    t = emb.embed_text("drum and bass")            # [D], prompt at generation
    T = emb.embed_text(["fast", "slow ambient"])   # [B, D]

Every embedding is float32 on the CPU with unit L2 norm. The embedder is frozen: its
module always stays in eval mode and its parameters need no gradient.
"""

from __future__ import annotations

import math
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from v2meow.components import Component
from v2meow.errors import ConfigError
from v2meow.media import resample

#: Audio with more leading-axis entries than this is taken to be [N, C] by mistake.
_MAX_CHANNELS = 16


class UnsupportedInputError(ConfigError):
    """The embedder cannot embed this kind of input (e.g. audio given to a text-only embedder)."""


class StyleEmbedder(Component, ABC):
    """Base of every style embedder: `embed_text` and (optionally) `embed_audio` into `dim`.

    Subclasses implement `dim`, `_embed_texts` and, when they embed audio,
    `sample_rate`, `window_seconds` and `_embed_windows`.
    """

    #: registry name, e.g. "clap"
    name: str = ""

    @property
    @abstractmethod
    def dim(self) -> int:
        """Size of every embedding."""

    @property
    def sample_rate(self) -> int | None:
        """Rate the audio tower reads (input audio is resampled to it); None if text-only."""
        return None

    @property
    def supports_audio(self) -> bool:
        """Whether `embed_audio` and `embed_clip_audio` are available."""
        return self.sample_rate is not None

    @property
    def window_seconds(self) -> float | None:
        """Longest audio one forward pass of the audio tower reads; None if text-only."""
        return None

    @property
    def id(self) -> str:
        """A short string naming the embedder and the settings that change its output."""
        return self.name

    def train(self, mode: bool = True) -> StyleEmbedder:
        """Frozen: stays in eval mode whatever `mode` says (dropout would make embeddings random)."""
        return super().train(False)

    # ---- text -------------------------------------------------------------------------

    def embed_text(self, texts: str | bytes | Sequence[str | bytes]) -> torch.Tensor:
        """Embed one caption (`[D]`) or a list of captions (`[B, D]`).

        Raises:
            ConfigError: an empty or whitespace-only text, bytes that are not UTF-8, or a
                non-string item.
        """
        items, single = validate_texts(texts)
        with torch.inference_mode():
            out = self._embed_texts(items)  # [B, D]
        out = F.normalize(out.detach().float().cpu(), dim=-1)
        return out[0] if single else out

    @abstractmethod
    def _embed_texts(self, texts: list[str]) -> torch.Tensor:
        """Embed validated, stripped, NFC texts; returns `[B, D]`."""

    # ---- audio ------------------------------------------------------------------------

    def embed_audio(self, wav: torch.Tensor | np.ndarray, sample_rate: int) -> torch.Tensor:
        """Embed a piece of music as one `[D]` vector.

        Stereo (any channel count) is downmixed to mono and the audio is resampled to
        `self.sample_rate`. Audio shorter than the model window is padded by the
        model's own rule (CLAP: repeated to fill its 10-s window, then zero-padded);
        audio longer than the window is embedded as `embed_clip_audio` does with
        window-long segments, so no part of it is dropped.

        Args:
            wav: `[C, N]` or `[N]` float audio in [-1, 1].
            sample_rate: rate of `wav` in Hz.

        Raises:
            UnsupportedInputError: the embedder is text-only.
            ConfigError: empty audio, NaN/inf samples, a bad shape, dtype or rate.
        """
        mono = self._prepare(wav, sample_rate)  # [N]
        window = self._window_samples()
        if mono.numel() <= window:
            return self._embed_mono([mono])[0]
        return self._average(mono, window, min_samples=round(1.0 * self.sample_rate))

    def embed_clip_audio(
        self,
        wav: torch.Tensor | np.ndarray,
        sample_rate: int,
        segment_seconds: float = 10.0,
        min_segment_seconds: float = 1.0,
    ) -> torch.Tensor:
        """The V2Meow style target of a clip: mean of its per-segment embeddings, re-normalised.

        The clip is cut into consecutive `segment_seconds` segments from its start; each
        is embedded like `embed_audio` and the unit vectors are averaged with equal
        weight, then scaled back to unit norm. A last segment shorter than
        `min_segment_seconds` is dropped (it would be mostly padding), unless it is the
        only segment: a clip shorter than that is still embedded, padded. A 25-s clip
        gives segments of 10, 10 and 5 s; a 20.5-s clip gives two.

        Args:
            wav: `[C, N]` or `[N]` float audio in [-1, 1].
            sample_rate: rate of `wav` in Hz.
            segment_seconds: segment length; at most `window_seconds`.
            min_segment_seconds: shortest last segment that is kept.

        Returns:
            `[D]` float32 unit vector.
        """
        mono = self._prepare(wav, sample_rate)  # [N]
        if not (math.isfinite(segment_seconds) and 0 < segment_seconds <= self.window_seconds + 1e-9):
            raise ConfigError(
                f"segment_seconds must be in (0, {self.window_seconds:g}] (the {self.name} window), got {segment_seconds}"
            )
        if not (math.isfinite(min_segment_seconds) and min_segment_seconds >= 0):
            raise ConfigError(f"min_segment_seconds must be >= 0, got {min_segment_seconds}")
        seg = max(1, round(segment_seconds * self.sample_rate))
        return self._average(mono, seg, min_samples=round(min_segment_seconds * self.sample_rate))

    @abstractmethod
    def _embed_windows(self, windows: list[torch.Tensor]) -> torch.Tensor:
        """Embed mono windows (each `[n]`, 1 <= n <= window, at `sample_rate`); returns `[B, D]`."""

    def _embed_mono(self, windows: list[torch.Tensor]) -> torch.Tensor:
        with torch.inference_mode():
            out = self._embed_windows(windows)  # [B, D]
        return F.normalize(out.detach().float().cpu(), dim=-1)

    def _average(self, mono: torch.Tensor, seg: int, min_samples: int) -> torch.Tensor:
        segments = [mono[s : s + seg] for s in segment_starts(mono.numel(), seg, min_samples)]
        embs = self._embed_mono(segments)  # [S, D]
        return F.normalize(embs.mean(0), dim=-1)  # [D]

    def _window_samples(self) -> int:
        return round(self.window_seconds * self.sample_rate)

    def _prepare(self, wav: torch.Tensor | np.ndarray, sample_rate: int) -> torch.Tensor:
        if not self.supports_audio:
            raise UnsupportedInputError(
                f"the '{self.name}' style embedder is text-only and cannot embed audio; "
                "caption the clips and use embed_text, or use the 'clap' embedder"
            )
        return prepare_audio(wav, sample_rate, self.sample_rate)


def segment_starts(num_samples: int, segment: int, min_samples: int) -> list[int]:
    """Start indices of consecutive `segment`-long pieces; a short last piece needs `min_samples`."""
    starts = list(range(0, num_samples, segment))
    if len(starts) > 1 and num_samples - starts[-1] < min_samples:
        starts.pop()
    return starts


def validate_texts(texts: str | bytes | Sequence[str | bytes]) -> tuple[list[str], bool]:
    """Check captions and return them stripped and NFC-normalised, plus whether one was given.

    Bytes are decoded as strict UTF-8. A str holding lone surrogates (what
    `errors="surrogateescape"` makes of undecodable bytes) counts as not UTF-8.
    """
    single = isinstance(texts, (str, bytes, bytearray))
    if single:
        items = [texts]
    elif isinstance(texts, Sequence):
        items = list(texts)
    else:
        raise ConfigError(f"text must be a str or a list of str, got {type(texts).__name__}")
    if not items:
        raise ConfigError("no text given (empty list)")
    out = []
    for i, t in enumerate(items):
        label = "text" if single else f"text #{i}"
        if isinstance(t, (bytes, bytearray)):
            try:
                t = bytes(t).decode("utf-8")
            except UnicodeDecodeError as e:
                raise ConfigError(f"{label} is not valid UTF-8 ({e.reason} at byte {e.start})") from None
        if not isinstance(t, str):
            raise ConfigError(f"{label} must be a str, got {type(t).__name__}")
        try:
            t.encode("utf-8")
        except UnicodeEncodeError:
            raise ConfigError(
                f"{label} is not valid UTF-8 (it holds lone surrogates, e.g. undecodable bytes)"
            ) from None
        t = unicodedata.normalize("NFC", t).strip()
        if not t:
            raise ConfigError(f"{label} is empty or whitespace only; give a caption such as 'drum and bass'")
        out.append(t)
    return out, single


def prepare_audio(wav: torch.Tensor | np.ndarray, sample_rate: int, target_rate: int) -> torch.Tensor:
    """Validate `[C, N]` or `[N]` float audio, downmix to mono and resample; returns `[M]` float32."""
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise ConfigError(f"sample_rate must be a positive int (Hz), got {sample_rate!r}")
    try:
        wav = torch.as_tensor(wav)
    except (TypeError, ValueError, RuntimeError) as e:
        raise ConfigError(f"audio must be a tensor or array, got {type(wav).__name__} ({e})") from None
    if not wav.is_floating_point():
        raise ConfigError(f"audio must be float in [-1, 1], got dtype {wav.dtype} (scale integer PCM first)")
    wav = wav.detach().float().cpu()
    if wav.dim() == 1:
        wav = wav[None]  # [1, N]
    if wav.dim() != 2:
        raise ConfigError(f"audio must be [C, N] or [N], got shape {tuple(wav.shape)}")
    if wav.shape[0] > _MAX_CHANNELS:
        raise ConfigError(f"audio must be [C, N], got shape {tuple(wav.shape)} (is it [N, C]? transpose it)")
    if wav.numel() == 0:
        raise ConfigError(f"audio is empty (shape {tuple(wav.shape)})")
    bad = int((~torch.isfinite(wav)).sum())
    if bad:
        raise ConfigError(f"audio holds {bad} NaN/inf sample(s) of {wav.numel()}")
    mono = wav.mean(0)  # [N]
    if int(sample_rate) != target_rate:
        mono = torch.from_numpy(resample(mono[None].numpy(), int(sample_rate), target_rate)[0])  # [M]
        if mono.numel() == 0:
            raise ConfigError(
                f"audio is too short: {wav.shape[1]} sample(s) at {sample_rate} Hz is none at {target_rate} Hz"
            )
    return mono.contiguous()
