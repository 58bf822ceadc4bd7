"""What the transformers backbones share: offline loading, layer truncation, a layer tap,
random-weight construction from a spec."""

from __future__ import annotations

import json
import os
from typing import Any, ClassVar

import torch
from torch import nn

from v2meow.errors import ConfigError, MissingWeightsError
from v2meow.tokenizers.semantic.backbone import SemanticBackbone

# Keys a transformers checkpoint may lack without harm (only used for masked pre-training).
_OPTIONAL_KEYS = ("masked_spec_embed",)


def missing_weights(kind: str, weights: str, repo: str, detail: str = "") -> MissingWeightsError:
    """One-line error naming the HF repo to download and where to put it."""
    if is_local_path(weights):
        return MissingWeightsError(
            f"{kind} weights not found: {weights} is not a transformers model directory ({detail}); point --weights "
            f"at a directory with config.json + model.safetensors, e.g. from `hf download {repo} --local-dir DIR`"
        )
    return MissingWeightsError(
        f"{kind} weights not found: '{weights}' is not in the Hugging Face cache (the network is never used); "
        f"download it with `hf download {weights}` (into ~/.cache/huggingface/hub) or "
        f"`hf download {weights} --local-dir DIR` and pass --weights DIR"
    )


def is_local_path(weights: str) -> bool:
    """A path (exists, or looks like one) rather than an HF repo id ("namespace/name")."""
    return os.path.exists(weights) or weights.startswith(("/", ".", "~")) or weights.count("/") > 1 or "\\" in weights


def load_hf(model_cls: type, config_cls: type, weights: str, kind: str, repo: str) -> tuple[nn.Module, Any]:
    """`model_cls.from_pretrained(weights, local_files_only=True)`, strict about missing keys.

    Args:
        model_cls: e.g. `HubertModel`.
        config_cls: e.g. `HubertConfig` (read first so foreign `model_type`s such as MERT's load).
        weights: a local directory or a repo id already in the HF cache.
        kind: backbone name for messages.
        repo: the default HF repo id, named in the error when a local directory is unusable.

    Returns:
        `(model, config)` with the model in float32 and eval mode.
    """
    if os.path.isdir(weights) and not os.path.isfile(os.path.join(weights, "config.json")):
        raise missing_weights(kind, weights, repo, "no config.json")
    try:
        config = config_cls.from_pretrained(weights, local_files_only=True)
        model, info = model_cls.from_pretrained(weights, config=config, local_files_only=True, output_loading_info=True)
    except OSError as e:
        raise missing_weights(kind, weights, repo, str(e).splitlines()[0][:200]) from None
    missing = [k for k in info.get("missing_keys", []) if not k.endswith(_OPTIONAL_KEYS)]
    mismatched = info.get("mismatched_keys", [])
    if missing or mismatched:
        what = ", ".join([*missing[:3], *[str(m[0]) for m in mismatched[:3]]])
        raise ConfigError(f"{weights}: checkpoint does not fit {model_cls.__name__} (missing or mismatched: {what})")
    return model.float().eval(), config


def truncate_layers(model: nn.Module, layer: int, kind: str) -> None:
    """Keep only the first `layer` transformer blocks: later ones never affect the tapped layer."""
    layers = model.encoder.layers
    if not 1 <= layer <= len(layers):
        raise ConfigError(
            f"{kind}: layer must be in 1..{len(layers)} (the model has {len(layers)} layers), got {layer}"
        )
    model.encoder.layers = nn.ModuleList(list(layers)[:layer])
    model.config.num_hidden_layers = layer


def config_dict(config: Any) -> dict[str, Any]:
    """A transformers config as a JSON-friendly dict (what `from_dict` rebuilds)."""
    d = config.to_dict()
    for k in ("transformers_version", "_name_or_path", "architectures", "auto_map", "dtype", "torch_dtype"):
        d.pop(k, None)
    return d


class LayerTap:
    """Captures the output of the last kept encoder block during one forward pass."""

    def __init__(self, model: nn.Module):
        self.output: torch.Tensor | None = None
        self._handle = model.encoder.layers[-1].register_forward_hook(self._hook)

    def _hook(self, module: nn.Module, args: Any, output: Any) -> None:
        self.output = output[0] if isinstance(output, (tuple, list)) else output

    def pop(self) -> torch.Tensor:
        out, self.output = self.output, None
        if out is None:
            raise RuntimeError("the tapped encoder layer did not run")
        return out


def preprocessor_config(weights: str) -> dict[str, Any]:
    """The checkpoint's `preprocessor_config.json` as a dict ({} when absent)."""
    from transformers.utils import cached_file

    try:
        path = cached_file(
            weights, "preprocessor_config.json", local_files_only=True, _raise_exceptions_for_missing_entries=False
        )
    except OSError:
        return {}
    if not path:
        return {}
    with open(path) as f:
        return json.load(f)


class TransformersBackbone(SemanticBackbone):
    """A backbone around one transformers model class: builds it with random weights from a
    spec or a tiny debug config. Subclasses name the classes and their tiny config."""

    model_class: ClassVar[str]  # e.g. "HubertModel"
    config_class: ClassVar[str]  # e.g. "HubertConfig"
    default_layer: ClassVar[int]

    @staticmethod
    def tiny_config(**overrides: Any):
        raise NotImplementedError

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> TransformersBackbone:
        """Random weights with the architecture of `spec` (default: the tiny debug config)."""
        import transformers

        spec = dict(spec)
        config = (
            getattr(transformers, cls.config_class).from_dict(spec.pop("config"))
            if "config" in spec
            else cls.tiny_config()
        )
        layer = int(spec.pop("layer", min(cls.default_layer, config.num_hidden_layers)))
        try:
            return cls(getattr(transformers, cls.model_class)(config), layer=layer, **spec)
        except TypeError as e:
            raise ConfigError(f"{cls.name} backbone: bad spec ({e})") from None

    @classmethod
    def debug(cls, layer: int = 2, **overrides: Any) -> TransformersBackbone:
        """A tiny random backbone (tests, demos)."""
        import transformers

        return cls(getattr(transformers, cls.model_class)(cls.tiny_config(**overrides)), layer=layer)
