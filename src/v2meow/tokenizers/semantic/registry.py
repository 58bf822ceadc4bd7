"""The semantic backbones by name: `build_backbone` (random weights, no I/O), `load_backbone` (pretrained)."""

from __future__ import annotations

from typing import Any

from v2meow.errors import UnknownComponentError
from v2meow.tokenizers.semantic.backbone import SemanticBackbone
from v2meow.tokenizers.semantic.hubert import HubertBackbone, MertBackbone
from v2meow.tokenizers.semantic.mel import MelBackbone
from v2meow.tokenizers.semantic.pitch import PitchMelBackbone
from v2meow.tokenizers.semantic.w2v_bert import W2VBertBackbone

BACKBONES: dict[str, type[SemanticBackbone]] = {
    c.name: c for c in (MelBackbone, PitchMelBackbone, HubertBackbone, MertBackbone, W2VBertBackbone)
}


def list_backbones() -> list[str]:
    """Names of the registered backbones, sorted."""
    return sorted(BACKBONES)


def backbone_class(name: str) -> type[SemanticBackbone]:
    """The backbone class registered under `name`."""
    if name not in BACKBONES:
        raise UnknownComponentError(f"unknown semantic backbone {name!r}; known: {', '.join(list_backbones())}")
    return BACKBONES[name]


def build_backbone(name: str, spec: dict[str, Any] | None = None) -> SemanticBackbone:
    """Build a backbone with random weights from its `spec()` (no I/O)."""
    return backbone_class(name).from_spec(dict(spec or {}))


def load_backbone(name: str, weights: str | None = None, layer: int | None = None, **options: Any) -> SemanticBackbone:
    """Load a backbone's pretrained weights (`weights`: a local dir or HF repo id; None = its default repo).

    For `mel` and `mel-pitch`, which have no weights, this builds it from `options`.
    """
    return backbone_class(name).load(weights, layer=layer, **options)
