"""Each semantic token's average codec frame over training music, and the *semantic sketch* it gives.

`fit_token_frames` runs a tokenizer and a mel codec (an iSTFT codec with the fixed log-mel
encoder, `encoder: mel`) over the same audio and averages, for every token, the codec's log-mel
frames under it: `frames [K, S, n_mels]`, S = codec frames per token (2 for 25-Hz tokens over a
50-Hz codec; the first and second half of a token keep their own average). The table is stored
beside the tokenizer as `frames.safetensors` (`save_token_frames` / `load_token_frames`); a
tokenizer without one still loads and encodes as before.

`sketch` decodes audio -> tokens -> their average frames -> the codec's own inversion
(`VocosCodec.decode_latent`: Griffin-Lim, or whatever inversion the codec is configured with):
what stage 1 can at most say, heard with no trained model (`v2meow-codec sketch`).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from v2meow.errors import ConfigError, MediaError, MissingWeightsError
from v2meow.media import read_audio, resample
from v2meow.safety.outputs import atomic_output
from v2meow.tokenizers.semantic._audio import prepare_waveform
from v2meow.tokenizers.semantic.backbone import module_device
from v2meow.tokenizers.semantic.tokenizer import SemanticTokenizer

FRAMES_NAME = "frames.safetensors"
SPACE = "vocos-logmel"  # LogMelFrames: (log(mel magnitude, floored 1e-5) + 5) / 4


@dataclasses.dataclass
class TokenFrames:
    """Per-token average codec frames `[K, S, n_mels]` and how many token occurrences each averages."""

    frames: torch.Tensor  # [K, S, M] float32
    counts: torch.Tensor  # [K] int64
    spec: dict[str, Any]  # sample_rate, hop_length, n_mels, mel_n_fft, frames_per_token, space

    def check_codec(self, codec: Any) -> None:
        """ConfigError unless `codec` is a mel codec whose log-mel frames are the table's."""
        want = codec_space(codec)
        diff = [f"{k} {self.spec.get(k)} vs {v}" for k, v in want.items() if self.spec.get(k) != v]
        if diff:
            raise ConfigError(f"the token frame table was built for another codec front end: {'; '.join(diff)}")


def codec_space(codec: Any) -> dict[str, Any]:
    """The log-mel space of a mel codec (ConfigError for any other codec)."""
    config = getattr(codec, "config", None)
    if getattr(config, "encoder", None) != "mel" or not hasattr(codec, "decode_latent"):
        raise ConfigError(
            "a semantic sketch needs a mel codec (an iSTFT codec with encoder 'mel', e.g. the demo bundle's); "
            f"got {getattr(codec, 'codec_id', type(codec).__name__)}"
        )
    return {
        "sample_rate": int(config.sample_rate),
        "hop_length": int(config.hop_length),
        "n_mels": int(config.n_mels),
        "mel_n_fft": int(config.mel_n_fft),
        "space": SPACE,
    }


def frames_per_token(tokenizer: SemanticTokenizer, codec: Any) -> int:
    ratio = codec.frame_rate / tokenizer.frame_rate
    if ratio < 1 or not math.isclose(ratio, round(ratio), rel_tol=1e-6):
        raise ConfigError(
            f"codec frame rate {codec.frame_rate:g} Hz is not a whole multiple of the token rate "
            f"{tokenizer.frame_rate:g} Hz"
        )
    return round(ratio)


@torch.inference_mode()
def codec_logmel(codec: Any, wav: torch.Tensor) -> torch.Tensor:
    """`[N]` mono at the codec's rate -> its log-mel latent `[T, n_mels]`, T = N // hop."""
    return codec.encoder(wav.float()[None, None])[0].T  # [T, M]


@torch.inference_mode()
def token_frame_pairs(
    tokenizer: SemanticTokenizer, codec: Any, wav: torch.Tensor, sample_rate: int | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokens `[T]` and the codec's log-mel frames under them `[T, S, M]` for one waveform."""
    s = frames_per_token(tokenizer, codec)
    x = prepare_waveform(wav, sample_rate, tokenizer.sample_rate)  # [N] at the tokenizer's rate
    tokens = tokenizer.encode(x, None)  # [T]
    xc = x if codec.sample_rate == tokenizer.sample_rate else torch.from_numpy(
        resample(x.numpy()[None], tokenizer.sample_rate, codec.sample_rate)[0])  # fmt: skip
    mel = codec_logmel(codec, xc)  # [Tc, M]
    t = min(tokens.numel(), mel.shape[0] // s)
    return tokens[:t], mel[: t * s].reshape(t, s, -1)


def fit_token_frames(
    tokenizer: SemanticTokenizer,
    codec: Any,
    audio: Iterable[str | os.PathLike | tuple[torch.Tensor, int]],
    *,
    on_error: str = "raise",
    skipped: list[str] | None = None,
    progress: Callable[[Iterable[Any]], Iterable[Any]] | None = None,
) -> TokenFrames:
    """Average the codec's log-mel frames under each token over `audio` (paths or `(wav, rate)` pairs).

    Tokens never seen get the mean frame of all the audio (count 0).
    """
    space = codec_space(codec)
    s = frames_per_token(tokenizer, codec)
    k, m = tokenizer.vocab_size, space["n_mels"]
    sums = torch.zeros(k, s, m, dtype=torch.float64)
    counts = torch.zeros(k, dtype=torch.int64)
    items = progress(audio) if progress is not None else audio
    for i, item in enumerate(items):
        try:
            if isinstance(item, tuple):
                wav, sr = item
            else:
                wav, sr = read_audio(item, sample_rate=tokenizer.sample_rate, channels=1)
            tokens, mel = token_frame_pairs(tokenizer, codec, wav, sr)
        except MediaError as e:
            if on_error == "raise":
                raise
            if skipped is not None:
                skipped.append(f"{item if not isinstance(item, tuple) else f'input {i}'}: {e}")
            continue
        sums.index_add_(0, tokens, mel.double())
        counts += torch.bincount(tokens, minlength=k)
    if counts.sum() == 0:
        raise ConfigError("token frames: no usable audio")
    mean = sums.sum(0) / counts.sum()  # [S, M]
    frames = torch.where(counts[:, None, None] > 0, sums / counts.clamp(min=1)[:, None, None], mean)
    return TokenFrames(frames.float(), counts, {**space, "frames_per_token": s})


def save_token_frames(directory: str | os.PathLike, table: TokenFrames) -> Path:
    """Write `frames.safetensors` into a tokenizer directory (atomically)."""
    path = Path(directory) / FRAMES_NAME
    meta = {k: str(v) for k, v in table.spec.items()}
    with atomic_output(path) as tmp:
        save_file({"frames": table.frames.contiguous(), "counts": table.counts.contiguous()}, str(tmp), metadata=meta)
    return path


def load_token_frames(directory: str | os.PathLike, vocab_size: int | None = None) -> TokenFrames:
    """Read a tokenizer directory's `frames.safetensors`.

    Raises:
        MissingWeightsError: the directory has no table.
        ConfigError: the file is unreadable or its shape does not match `vocab_size`.
    """
    path = Path(directory) / FRAMES_NAME
    if not path.is_file():
        raise MissingWeightsError(
            f"{directory}: no token frame table ({FRAMES_NAME}); add one with "
            f"`v2meow-tokenizer frames --tokenizer {directory} --codec CODEC --audio TRAINING_AUDIO`"
        )
    try:
        tensors = load_file(str(path))
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError) as e:
        raise ConfigError(f"{path}: unreadable token frame table ({e})") from None
    frames, counts = tensors.get("frames"), tensors.get("counts")
    if frames is None or counts is None or frames.dim() != 3 or counts.shape != frames.shape[:1]:
        raise ConfigError(f"{path}: not a token frame table (needs frames [K, S, M] and counts [K])")
    if vocab_size is not None and frames.shape[0] != vocab_size:
        raise ConfigError(f"{path}: {frames.shape[0]} token frames for a vocabulary of {vocab_size}")
    spec: dict[str, Any] = {k: (v if k == "space" else int(v)) for k, v in meta.items()}
    return TokenFrames(frames.float(), counts.long(), spec)


@torch.inference_mode()
def sketch(
    tokenizer: SemanticTokenizer, table: TokenFrames, codec: Any, wav: torch.Tensor | np.ndarray, sample_rate: int
) -> torch.Tensor:
    """Audio -> semantic tokens -> each token's average codec frames -> the codec's inversion.

    Returns:
        `[N']` mono float audio at the codec's rate, as long as the input (`N' = N * rate / sample_rate`).
    """
    table.check_codec(codec)
    s = frames_per_token(tokenizer, codec)
    if table.frames.shape[1] != s:
        raise ConfigError(f"the token frame table has {table.frames.shape[1]} frames per token, the codec needs {s}")
    x = prepare_waveform(wav, sample_rate, tokenizer.sample_rate)  # [N]
    tokens = tokenizer.encode(x, None)  # [T]
    n_out = round(x.shape[-1] * codec.sample_rate / tokenizer.sample_rate)
    need = math.ceil(n_out / codec.hop_length)
    frames = table.frames.to(tokens.device)[tokens].reshape(-1, table.frames.shape[-1])  # [T * S, M]
    if frames.shape[0] < need:  # the tail shorter than a token repeats the last frame
        frames = torch.cat([frames, frames[-1:].expand(need - frames.shape[0], -1)])
    wav_out = codec.decode_latent(frames[:need].T[None].to(module_device(codec)))  # [1, C, need * hop]
    return wav_out[0].mean(0)[:n_out].cpu()
