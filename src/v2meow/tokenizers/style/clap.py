"""`clap`: LAION CLAP through transformers' `ClapModel` (48 kHz audio tower, RoBERTa text tower).

V2Meow used MuLan, which is not public; CLAP is the open model trained the same way
(contrastive audio-text), so its audio and text embeddings share one space.

    emb = ClapStyleEmbedder.from_source("laion/larger_clap_music")   # HF cache, never the network
    emb = ClapStyleEmbedder.from_source("/models/larger_clap_music")  # or a local directory
    emb.save_pretrained("bundle/style")            # config.json naming the source
    emb = load_style_embedder("bundle/style")

Saving: by default the component directory only names its source (a repo id, or the
absolute path of a local checkpoint) and the weights stay where they are, so a bundle
stays small; `save_pretrained(dir, embed_weights=True)` writes the whole model into
`model.safetensors` plus the tokenizer files under `tokenizer/`, so the directory is
self-contained (600-800 MB for the LAION models). An embedder built in memory (the
debug one) has no source and is always saved in full.

Audio: mono, resampled to the feature extractor's rate (48 kHz for LAION). Audio
shorter than the 10-s window is padded by CLAP's own rule ("repeatpad": repeated to
fill the window, the remainder zero-padded), as in its training; longer audio is cut
into windows (see `StyleEmbedder.embed_audio`). Inputs are never longer than the
window, so CLAP's random cropping never happens and embeddings are deterministic; the
"is longer" flag of fused models is always False for the same reason.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file

from v2meow.components import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    ComponentConfig,
    _untie,
    read_json_config,
)
from v2meow.errors import ConfigError, MissingWeightsError
from v2meow.safety.outputs import atomic_output
from v2meow.tokenizers.style.base import StyleEmbedder

#: The default checkpoint: LAION's CLAP trained with extra music data (512-d).
DEFAULT_CLAP_REPO = "laion/larger_clap_music"
#: CLAP checkpoints on the Hugging Face hub that transformers' ClapModel reads.
KNOWN_CLAP_REPOS = (
    "laion/larger_clap_music",
    "laion/larger_clap_music_and_speech",
    "laion/larger_clap_general",
    "laion/clap-htsat-unfused",
    "laion/clap-htsat-fused",
)
TOKENIZER_DIR = "tokenizer"
#: ClapFeatureExtractor constructor arguments kept in config.json.
_FE_FIELDS = (
    "feature_size",
    "sampling_rate",
    "hop_length",
    "max_length_s",
    "fft_window_size",
    "padding_value",
    "frequency_min",
    "frequency_max",
    "top_db",
    "truncation",
    "padding",
)
_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


@dataclasses.dataclass
class ClapStyleConfig(ComponentConfig):
    """What a saved CLAP style embedder is.

    Args:
        source: HF repo id or absolute path of the checkpoint ("" if built in memory).
        embedded: the weights and tokenizer are in the component directory itself.
        dim: embedding size (CLAP projection_dim).
        sample_rate: rate of the audio tower.
        window_seconds: audio one forward pass reads.
        batch_size: windows or texts per forward pass.
        clap_config: the transformers `ClapConfig` as a dict.
        feature_extractor: the `ClapFeatureExtractor` arguments.
    """

    model_type = "clap-style"

    source: str = DEFAULT_CLAP_REPO
    embedded: bool = False
    dim: int = 512
    sample_rate: int = 48_000
    window_seconds: float = 10.0
    batch_size: int = 8
    clap_config: dict[str, Any] = dataclasses.field(default_factory=dict)
    feature_extractor: dict[str, Any] = dataclasses.field(default_factory=dict)


class ClapStyleEmbedder(StyleEmbedder):
    """CLAP audio and text embeddings (unit norm, `projection_dim`-d).

    The constructor takes built parts and does no I/O; load with `from_source` (a
    transformers CLAP checkpoint) or `from_pretrained` (a component directory).

    Args:
        model: a `transformers.ClapModel`.
        feature_extractor: its `ClapFeatureExtractor`.
        tokenizer: its text tokenizer (RoBERTa for the LAION checkpoints).
        source: where the weights came from (repo id or absolute path), "" if nowhere.
        batch_size: windows or texts per forward pass.
    """

    name = "clap"
    config_class = ClapStyleConfig
    config: ClapStyleConfig

    def __init__(self, model, feature_extractor, tokenizer, source: str = "", batch_size: int = 8):
        if batch_size < 1:
            raise ConfigError(f"clap: batch_size must be >= 1, got {batch_size}")
        hf_config = json.loads(json.dumps(model.config.to_dict(), default=str))
        hf_config.pop("_name_or_path", None)
        config = ClapStyleConfig(
            source=str(source),
            dim=int(model.config.projection_dim),
            sample_rate=int(feature_extractor.sampling_rate),
            window_seconds=float(feature_extractor.max_length_s),
            batch_size=int(batch_size),
            clap_config=hf_config,
            feature_extractor={k: getattr(feature_extractor, k) for k in _FE_FIELDS},
        )
        super().__init__(config)
        self.model = model.requires_grad_(False)
        self.feature_extractor = feature_extractor
        self.tokenizer = tokenizer
        self.train(False)

    @property
    def dim(self) -> int:
        return self.config.dim

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def window_seconds(self) -> float:
        return self.config.window_seconds

    @property
    def id(self) -> str:
        return f"clap:{self.config.source or 'in-memory'}"

    # ---- loading and saving -----------------------------------------------------------

    @classmethod
    def from_source(cls, source: str | os.PathLike = DEFAULT_CLAP_REPO, batch_size: int = 8) -> ClapStyleEmbedder:
        """Load a transformers CLAP checkpoint from a local directory or the HF cache (never the network).

        Raises:
            MissingWeightsError: not found locally; the message says what to download.
            ConfigError: the directory is not a usable CLAP checkpoint.
        """
        from transformers import AutoTokenizer, ClapFeatureExtractor, ClapModel

        ref, is_dir = _resolve_source(source)
        try:
            model = ClapModel.from_pretrained(ref, local_files_only=True)
            feature_extractor = ClapFeatureExtractor.from_pretrained(ref, local_files_only=True)
            tokenizer = AutoTokenizer.from_pretrained(ref, local_files_only=True)
        except OSError as e:
            if is_dir:
                raise MissingWeightsError(
                    f"{ref}: not a complete CLAP checkpoint directory ({_first_line(e)})"
                ) from None
            raise MissingWeightsError(_download_hint(ref)) from None
        except (ValueError, KeyError, TypeError) as e:
            raise ConfigError(f"{ref}: not a usable CLAP checkpoint ({_first_line(e)})") from None
        return cls(model, feature_extractor, tokenizer, source=ref, batch_size=batch_size)

    @classmethod
    def from_pretrained(
        cls, directory: str | os.PathLike, map_location: str | torch.device = "cpu"
    ) -> ClapStyleEmbedder:
        """Load a component directory written by `save_pretrained` (or a plain transformers CLAP directory)."""
        directory = Path(directory)
        raw = _read_config(directory)
        if raw.get("model_type") == "clap" and "v2meow_version" not in raw:
            return cls.from_source(directory).to(map_location)
        config = ClapStyleConfig.from_dict(raw)
        if not config.embedded:
            emb = cls.from_source(config.source, batch_size=config.batch_size)
            _check_same_contract(emb.config, config, directory)
            return emb.to(map_location)
        from transformers import (
            AutoTokenizer,
            ClapConfig,
            ClapFeatureExtractor,
            ClapModel,
        )

        try:
            model = ClapModel(ClapConfig.from_dict(config.clap_config))
            feature_extractor = ClapFeatureExtractor(**config.feature_extractor)
        except (ValueError, TypeError, KeyError) as e:
            raise ConfigError(f"{directory}: bad CLAP architecture in {CONFIG_NAME} ({_first_line(e)})") from None
        try:
            tokenizer = AutoTokenizer.from_pretrained(directory / TOKENIZER_DIR, local_files_only=True)
        except (OSError, ValueError) as e:
            raise MissingWeightsError(
                f"{directory / TOKENIZER_DIR}: tokenizer files missing or unreadable ({_first_line(e)})"
            ) from None
        emb = cls(model, feature_extractor, tokenizer, source=config.source, batch_size=config.batch_size)
        emb.load_weights(directory / WEIGHTS_NAME, map_location=map_location)
        emb.config.embedded = True
        return emb.to(map_location)

    def save_pretrained(self, directory: str | os.PathLike, embed_weights: bool | None = None) -> Path:
        """Write the component directory; `config.json` is written last.

        Args:
            directory: created if missing.
            embed_weights: True writes `model.safetensors` and `tokenizer/` (self-contained);
                False writes only `config.json` naming `source`; None (default) is False
                when the embedder has a source and True when it was built in memory.
        """
        if embed_weights is None:
            embed_weights = not self.config.source
        if not embed_weights and not self.config.source:
            raise ConfigError(
                "clap: this embedder was built in memory and has no source to name; save with embed_weights=True"
            )
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if embed_weights:
            state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
            with atomic_output(directory / WEIGHTS_NAME) as tmp:
                save_file(_untie(state), str(tmp), metadata={"model_type": self.config.model_type})
            self.tokenizer.save_pretrained(str(directory / TOKENIZER_DIR))
        dataclasses.replace(self.config, embedded=embed_weights).save(directory / CONFIG_NAME)
        return directory

    # ---- embedding --------------------------------------------------------------------

    def _device_dtype(self) -> tuple[torch.device, torch.dtype]:
        p = next(self.model.parameters())
        return p.device, p.dtype

    def _embed_texts(self, texts: list[str]) -> torch.Tensor:
        device, _ = self._device_dtype()
        limit = self.model.config.text_config.max_position_embeddings - 2  # RoBERTa positions start at 2
        max_len = max(1, min(limit, int(getattr(self.tokenizer, "model_max_length", limit) or limit)))
        out = []
        for i in range(0, len(texts), self.config.batch_size):
            enc = self.tokenizer(
                texts[i : i + self.config.batch_size],
                padding=True,
                truncation=True,
                max_length=max_len,
                return_tensors="pt",
            )
            feats = self.model.get_text_features(
                input_ids=enc["input_ids"].to(device), attention_mask=enc["attention_mask"].to(device)
            )
            out.append(_pooled(feats))  # [b, D]
        return torch.cat(out)  # [B, D]

    def _embed_windows(self, windows: list[torch.Tensor]) -> torch.Tensor:
        device, dtype = self._device_dtype()
        fused = bool(self.model.config.audio_config.enable_fusion)
        out = []
        for i in range(0, len(windows), self.config.batch_size):
            batch = [w.double().numpy() for w in windows[i : i + self.config.batch_size]]
            rng_state = np.random.get_state()  # the extractor draws from numpy's global generator
            try:
                inputs = self.feature_extractor(batch, sampling_rate=self.sample_rate, return_tensors="pt")
            finally:
                np.random.set_state(rng_state)
            feats = inputs["input_features"].to(device=device, dtype=dtype)  # [b, 1 or 4, T, F]
            if not fused:
                feats = feats[:, :1]  # unfused models read the full-window mel only
            is_longer = torch.zeros(len(batch), 1, dtype=torch.bool, device=device)  # [b, 1]
            out.append(_pooled(self.model.get_audio_features(input_features=feats, is_longer=is_longer)))
        return torch.cat(out)  # [B, D]


def _pooled(out: Any) -> torch.Tensor:
    """The projected embedding from `get_*_features` (an output object in transformers 5, a tensor before)."""
    return out.pooler_output if hasattr(out, "pooler_output") else out


def _resolve_source(source: str | os.PathLike) -> tuple[str, bool]:
    """An existing local directory (made absolute) or a repo id; returns (reference, is_dir)."""
    text = str(source)
    path = Path(text).expanduser()
    if path.is_dir():
        if (path / CONFIG_NAME).is_file():
            model_type = _read_json(path / CONFIG_NAME).get("model_type")
            if model_type != "clap":
                raise ConfigError(f"{path}: holds a '{model_type}' checkpoint, not a CLAP one")
        return str(path.resolve()), True
    if path.exists():
        raise ConfigError(f"{path}: is a file; give the directory of a CLAP checkpoint or a Hugging Face repo id")
    if isinstance(source, os.PathLike) or text.startswith((".", "/", "~")) or not _REPO_ID.fullmatch(text):
        raise MissingWeightsError(f"{text}: no such CLAP checkpoint directory")
    return text, False


def _download_hint(repo: str) -> str:
    from huggingface_hub.constants import HF_HUB_CACHE

    return (
        f"CLAP weights '{repo}' are not in the local Hugging Face cache ({HF_HUB_CACHE}); on a machine with "
        f"network run `hf download {repo}` to fill that cache, or download the repository and pass its directory"
    )


def _check_same_contract(loaded: ClapStyleConfig, saved: ClapStyleConfig, directory: Path) -> None:
    for field in ("dim", "sample_rate", "window_seconds"):
        a, b = getattr(loaded, field), getattr(saved, field)
        if a != b:
            raise ConfigError(f"{directory}: its source {saved.source} now has {field}={a}, but it was saved with {b}")


def _read_json(path: Path) -> dict[str, Any]:
    return read_json_config(path)


def _read_config(directory: Path) -> dict[str, Any]:
    if not (directory / CONFIG_NAME).is_file():
        raise MissingWeightsError(f"{directory}: not a component directory (no {CONFIG_NAME})")
    return _read_json(directory / CONFIG_NAME)


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return (text.splitlines()[0] if text else type(e).__name__)[:300]
