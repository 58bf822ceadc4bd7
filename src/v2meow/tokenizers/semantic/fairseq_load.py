"""Reading fairseq checkpoints (safely by default) and writing the converted HuBERT directory.

A fairseq `.pt` is a Python pickle. Unpickling can run arbitrary code, so it is first
read with `torch.load(weights_only=True)`, which only rebuilds tensors and plain
containers. fairseq checkpoints often also hold objects that this refuses (an argparse
`Namespace` of arguments, training meters); reading those needs `trust_pickle=True`
(`--trust-pickle`), which unpickles fully and stands in placeholders for classes whose
module (fairseq, omegaconf) is not installed.
"""

from __future__ import annotations

import json
import os
import pickle
import types
from pathlib import Path
from typing import Any

import torch

from v2meow.errors import ConfigError, MissingWeightsError
from v2meow.safety.outputs import atomic_directory
from v2meow.safety.safeload import load_torch
from v2meow.tokenizers.semantic.fairseq import hubert_config_from_fairseq, map_fairseq_state, strip_prefixes


class _Placeholder:
    """Stands in for a pickled object whose class cannot be imported; keeps its state."""

    def __init__(self, *args: Any, **kwargs: Any):
        self._args, self._kwargs = args, kwargs

    def __setstate__(self, state: Any) -> None:
        self.__dict__["_state"] = state


class _LenientUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return super().find_class(module, name)
        except (ImportError, AttributeError):
            return type(name, (_Placeholder,), {"__module__": f"missing:{module}"})


def _lenient_pickle_module() -> types.ModuleType:
    mod = types.ModuleType("v2meow_lenient_pickle")
    mod.Unpickler = _LenientUnpickler
    mod.load = lambda f, **kw: _LenientUnpickler(f, **kw).load()
    return mod


def read_checkpoint(path: str | os.PathLike, trust_pickle: bool = False) -> dict[str, Any]:
    """Read a fairseq checkpoint (or a bare state dict, or a .safetensors file) into a dict.

    Raises:
        MissingWeightsError: no such file.
        ConfigError: unreadable, or holding objects that need `trust_pickle` (the message says why).
    """
    path = Path(path)
    if not path.is_file():
        raise MissingWeightsError(f"{path}: checkpoint not found")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return {"model": load_file(str(path))}
    obj = load_torch(path, trust_pickle=trust_pickle, pickle_module=_lenient_pickle_module())
    if not isinstance(obj, dict):
        raise ConfigError(f"{path}: expected a checkpoint dict, got {type(obj).__name__}")
    if "model" not in obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        obj = {"model": obj}
    if not isinstance(obj.get("model"), dict):
        raise ConfigError(f"{path}: no 'model' state dict in the checkpoint")
    return obj


def checkpoint_configs(ckpt: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """`(model cfg, task cfg)` from `cfg` (fairseq >= 0.10) or legacy `args`; None when absent."""
    cfg = ckpt.get("cfg")
    if isinstance(cfg, dict) and isinstance(cfg.get("model"), dict):
        task = cfg.get("task") if isinstance(cfg.get("task"), dict) else {}
        return cfg["model"], task
    args = ckpt.get("args")
    if args is not None and hasattr(args, "__dict__"):
        d = {k: v for k, v in vars(args).items() if not k.startswith("_")}
        return d, d
    return None, {}


def convert_fairseq_hubert(
    src: str | os.PathLike,
    out_dir: str | os.PathLike,
    trust_pickle: bool = False,
    overwrite: bool = False,
) -> tuple[Path, list[str]]:
    """Convert a fairseq HuBERT checkpoint into a transformers HubertModel directory.

    The output holds `config.json`, `model.safetensors`, `preprocessor_config.json`
    (sample rate and waveform normalisation from the fairseq task config) and
    `v2meow_conversion.json` (source, dropped keys, guesses). It is written atomically.

    Returns:
        `(out_dir, notes)`: notes list guesses made and keys dropped.
    """
    from transformers import HubertModel, Wav2Vec2FeatureExtractor

    ckpt = read_checkpoint(src, trust_pickle=trust_pickle)
    state = strip_prefixes({k: v for k, v in ckpt["model"].items() if isinstance(v, torch.Tensor)})
    model_cfg, task_cfg = checkpoint_configs(ckpt)
    config, notes = hubert_config_from_fairseq(model_cfg, state)
    if model_cfg is None:
        notes.insert(0, "no model config in the checkpoint: architecture inferred from tensor shapes")
    model = HubertModel(config).eval()
    mapped, dropped = map_fairseq_state(state, list(model.state_dict()))
    missing = sorted(set(model.state_dict()) - set(mapped))
    unexpected = sorted(set(mapped) - set(model.state_dict()))
    if unexpected or [k for k in missing if k != "masked_spec_embed"]:
        raise ConfigError(f"{src}: conversion mismatch (missing {missing[:3]}, unexpected {unexpected[:3]})")
    try:
        model.load_state_dict(mapped, strict=not missing)
    except RuntimeError as e:
        raise ConfigError(
            f"{src}: tensor shapes do not fit the inferred config ({str(e).splitlines()[-1][:200]})"
        ) from None
    if dropped:
        notes.append(f"dropped pre-training heads: {', '.join(sorted(dropped))}")
    sample_rate = int(task_cfg.get("sample_rate", 16000) or 16000)
    normalize = bool(task_cfg.get("normalize", False))
    extractor = Wav2Vec2FeatureExtractor(
        feature_size=1,
        sampling_rate=sample_rate,
        padding_value=0.0,
        do_normalize=normalize,
        return_attention_mask=normalize,
    )
    with atomic_directory(out_dir, overwrite=overwrite) as tmp:
        model.save_pretrained(str(tmp))
        extractor.save_pretrained(str(tmp))
        info = {"source": Path(src).name, "dropped_keys": sorted(dropped), "notes": notes, "converter": "v2meow"}
        (tmp / "v2meow_conversion.json").write_text(json.dumps(info, indent=2) + "\n")
    return Path(out_dir), notes
