"""One schema check for every file a user can hand v2meow that is not media: component
`config.json`, `pipeline.json`, cache manifests, YAML run configs and `--set` values,
and the header of a `model.safetensors`.

Each check runs before anything is built or allocated and raises a one-line
`ConfigError` naming the file and the field:

    nesting       JSON/YAML at most MAX_DEPTH levels deep; YAML aliases may not expand past
                  MAX_YAML_NODES nodes (a "billion laughs" file is refused while it is read)
    numbers       every number finite; a field of a known name (`FIELDS`) within its range,
                  whole where it counts things (`heads`, `depth`, `semantic_vocab`, `batch_size`)
    manifests     a JSON object holding the fields training reads, each of its type and range
    weights       the header read alone (the tensors are not touched): every tensor inside the
                  file; `components` then checks a float parameter is stored as a float
    memory        a model whose parameters would not fit in the memory this process can get
                  is refused naming the config's largest size fields

No heavy imports here (floor 0): it runs before any model code is loaded.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import re
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from v2meow.errors import ConfigError

MAX_DEPTH = 32  # nesting of any JSON/YAML config (ours use 4)
MAX_YAML_NODES = 100_000  # nodes of a YAML document once its aliases are expanded
MAX_JSON_BYTES = 64 * 2**20  # a config or manifest is a few kB
MAX_HEADER_BYTES = 100 * 2**20  # safetensors' own limit
BIG = 2**20
HUGE = 2**24

# Field name -> (whole number?, lowest, highest, lowest allowed itself?). Names are shared by every
# config that uses them: a `heads` is a count of heads everywhere.
_W, _R = True, False
FIELDS: dict[str, tuple[bool, float, float, bool]] = {
    **{
        n: (_W, 1, BIG, True)
        for n in (
            "dim",
            "ffn",
            "base_channels",
            "backbone_dim",
            "backbone_intermediate",
            "latent_dim",
            "codebook_dim",
            "n_mels",
            "kernel_size",
            "hop_length",
            "n_fft",
            "mel_n_fft",
            "char_ngram",
            "average_frames",
            "batch_size",
            "every_n_train_steps",
            "channels",
        )
    },
    **{n: (_W, 1, 1024, True) for n in ("depth", "heads", "backbone_layers", "num_quantizers", "num_codebooks")},
    **{n: (_W, 0, 1024, True) for n in ("encoder_depth", "encoder_layers", "num_coarse", "num_fine")},
    **{
        n: (_W, 1, HUGE, True) for n in ("semantic_vocab", "codebook_size", "num_clusters", "num_buckets", "vocab_size")
    },
    **{
        n: (_W, 0, BIG, True)
        for n in (
            "feature_dim",
            "style_dim",
            "long_term_steps",
            "kmeans_iters",
            "griffin_lim_iters",
            "pghi_iters",
            "warmup_steps",
            "num_workers",
            "size",
        )
    },
    **{n: (_W, 1, 2**31 - 1, True) for n in ("max_steps", "schedule_steps")},
    "sample_rate": (_W, 1, 768_000, True),
    "audio_rate": (_W, 1, 768_000, True),
    **{
        n: (_R, 0, 10_000, False)
        for n in ("feature_rate", "semantic_rate", "codec_rate", "frame_rate", "rhythm_rate", "beat_motion_rate")
    },
    "rate": (_R, 0, 1000, False),  # a visual feature rate (frames per second)
    "ticks_per_second": (_R, 0, 1e6, False),
    **{n: (_R, 0, 1e5, False) for n in ("window_seconds", "chunk_seconds", "crop_seconds", "clip_seconds")},
    **{n: (_R, 0, 1, True) for n in ("dropout", "cond_dropout", "style_dropout", "ema_decay", "full_mask")},
    "lr": (_R, 0, 10, False),
    "contrastive_temperature": (_R, 0, 1e6, False),
    **{
        n: (_R, 0, 1e6, True)
        for n in (
            "weight_decay",
            "contrastive_weight",
            "commitment_weight",
            "pair_weight",
            "char_weight",
            "word_weight",
            "min_seconds",
            "bandwidth",
        )
    },
}


def fail(where: str, message: str) -> ConfigError:
    return ConfigError(f"{where}: {message}" if where else message)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# ---- nesting and numbers ------------------------------------------------------------------

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def json_depth(text: str) -> int:
    """How deep the arrays and objects of JSON `text` nest (strings skipped); stops counting past MAX_DEPTH."""
    depth = deepest = 0
    for ch in _STRING.sub("", text):
        if ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_DEPTH:
                    break
        elif ch in "]}":
            depth -= 1
    return deepest


def load_json(path: str | os.PathLike, what: str = "config") -> Any:
    """Parse a JSON file after checking its size and nesting; one-line `ConfigError` naming the file."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            raise fail(str(path), f"is {path.stat().st_size / 2**20:.0f} MB, too large for a {what}")
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise fail(str(path), f"not a readable {what} ({_first_line(e)})") from None
    if json_depth(text) > MAX_DEPTH:
        raise fail(str(path), f"nested more than {MAX_DEPTH} levels deep; not a v2meow {what}")
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError, ValueError) as e:
        raise fail(str(path), f"not a readable {what} ({_first_line(e)})") from None


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:200] if text else type(e).__name__


def check_tree(value: Any, where: str, label: str = "", depth: int = 0) -> None:
    """Nesting at most MAX_DEPTH; every number finite; every known field (`FIELDS`) in its range."""
    if depth > MAX_DEPTH:
        raise fail(where, f"{label or 'value'} is nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, Mapping):
        for key, item in value.items():
            name = f"{label}.{key}" if label else str(key)
            if isinstance(key, str) and key in FIELDS and item is not None:
                check_field(key, item, where, name)
            check_tree(item, where, name, depth + 1)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            check_tree(item, where, f"{label}[{i}]", depth + 1)
    elif isinstance(value, float) and not math.isfinite(value):
        raise fail(where, f"{label or 'value'} must be a finite number, got {value}")


def check_field(key: str, value: Any, where: str, name: str | None = None) -> float | int:
    """`value` of the field `key` within its `FIELDS` range; returns it."""
    name = name or key
    whole, lo, hi, lo_ok = FIELDS[key]
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise fail(where, f"{name} must be {'a whole number' if whole else 'a number'}, got {_show(value)}")
    if not math.isfinite(value):
        raise fail(where, f"{name} must be a finite number, got {value}")
    if whole and not float(value).is_integer():
        raise fail(where, f"{name} must be a whole number, got {value}")
    if value < lo or (value == lo and not lo_ok) or value > hi:
        low = f">= {lo:g}" if lo_ok else f"> {lo:g}"
        raise fail(where, f"{name} must be {low} and <= {hi:g}, got {value:g}")
    return value


# ---- cache manifests ----------------------------------------------------------------------

#: What training reads from a manifest, per stage role (`require_fields`).
MANIFEST_FIELDS = {
    "semantic": ("feature_dim", "feature_rate", "semantic_vocab", "semantic_rate"),
    "coarse": ("semantic_vocab", "semantic_rate", "codebook_size", "codec_rate"),
    "fine": ("codebook_size", "codec_rate", "num_codebooks"),
}
_MANIFEST_ZERO_OK = {"feature_rate", "beat_motion_rate"}  # 0.0: no visual features in the cache


def require_fields(values: Mapping[str, Any], names: tuple[str, ...], where: str) -> None:
    """Each of `names` present (a manifest from an older or foreign tool may lack one)."""
    missing = [k for k in names if values.get(k) is None]
    if missing:
        raise fail(where, f"has no {missing[0]} (not a complete v2meow cache manifest; re-run v2meow-prepare)")


def check_manifest(manifest: Any, where: str) -> dict[str, Any]:
    """A cache manifest: a JSON object whose numbers are finite and whose known fields are in range."""
    if not isinstance(manifest, dict):
        raise fail(where, f"a cache manifest must be a JSON object, got a {type(manifest).__name__}")
    zero = {
        key
        for key, value in manifest.items()
        if key in _MANIFEST_ZERO_OK and isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0
    }
    for key, value in manifest.items():
        if key in FIELDS and value is not None and key not in zero:
            check_field(key, value, where)
    check_tree({k: v for k, v in manifest.items() if k not in zero}, where)
    coarse = manifest.get("num_coarse")
    if (
        isinstance(coarse, int)
        and isinstance(manifest.get("num_codebooks"), int)
        and coarse > manifest["num_codebooks"]
    ):
        raise fail(where, f"num_coarse {coarse} is more than num_codebooks {manifest['num_codebooks']}")
    return manifest


# ---- YAML ---------------------------------------------------------------------------------


def load_yaml(text: str, where: str) -> Any:
    """`yaml.safe_load`, refusing documents nested past MAX_DEPTH or whose aliases expand past MAX_YAML_NODES."""
    import yaml

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:
        raise fail(where, f"nested more than {MAX_DEPTH} levels deep") from None
    if node is None:
        return None
    _yaml_size(node, where)
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _yaml_size(root, where: str) -> int:
    """Nodes of the document with every alias expanded, counted once per distinct node (memoised)."""
    import yaml

    sizes: dict[int, int] = {}

    def size(node, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise fail(where, f"nested more than {MAX_DEPTH} levels deep")
        if id(node) in sizes:
            return sizes[id(node)]
        sizes[id(node)] = 1  # a node that contains itself counts once
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child, depth + 1) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k, depth + 1) + size(v, depth + 1) for k, v in node.value)
        if total > MAX_YAML_NODES:
            raise fail(where, f"expands to more than {MAX_YAML_NODES} values (YAML aliases); refused")
        sizes[id(node)] = total
        return total

    return size(root, 0)


# ---- safetensors headers ------------------------------------------------------------------

FLOAT_DTYPES = {"F16": 2, "BF16": 2, "F32": 4, "F64": 8}
_ALL_DTYPES = {
    **FLOAT_DTYPES,
    "I8": 1,
    "U8": 1,
    "BOOL": 1,
    "I16": 2,
    "U16": 2,
    "I32": 4,
    "U32": 4,
    "I64": 8,
    "U64": 8,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
}


def safetensors_header(path: str | os.PathLike) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Tensor name -> (dtype, shape) from a safetensors file's header, after checking every tensor
    lies inside the file. Reads the header only."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            (length,) = struct.unpack("<Q", head) if len(head) == 8 else (None,)
            if length is None or length > min(MAX_HEADER_BYTES, size - 8):
                raise fail(str(path), "corrupted or unreadable weights (bad header length)")
            header = json.loads(f.read(length))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise fail(str(path), f"corrupted or unreadable weights ({_first_line(e)})") from None
    if not isinstance(header, dict):
        raise fail(str(path), "corrupted or unreadable weights (header is not an object)")
    data = size - 8 - length
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (start, end) = info["dtype"], tuple(int(d) for d in info["shape"]), info["data_offsets"]
        except (TypeError, KeyError, ValueError):
            raise fail(str(path), f"corrupted or unreadable weights (tensor {name})") from None
        if dtype not in _ALL_DTYPES:
            raise fail(str(path), f"corrupted or unreadable weights (tensor {name} has unknown dtype {_show(dtype)})")
        if (
            min(shape, default=0) < 0
            or not 0 <= start <= end <= data
            or end - start != math.prod(shape) * _ALL_DTYPES[dtype]
        ):
            raise fail(str(path), f"corrupted or unreadable weights (tensor {name} does not fit the file)")
        out[name] = (dtype, shape)
    return out


# ---- memory -------------------------------------------------------------------------------


def available_memory() -> int | None:
    """Bytes this process can still get: MemAvailable, lowered by an address-space limit; None if unknown."""
    found = []
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            found.append(soft)
    except (ImportError, OSError, ValueError):
        pass
    return min(found) if found else None


def check_memory(needed: int, where: str, sizes: Mapping[str, Any]) -> None:
    """Refuse a model of `needed` bytes that would not fit; the message names the largest size fields."""
    free = available_memory()
    if free is None or needed <= free:
        return
    big = sorted(
        ((k, v) for k, v in sizes.items() if k in FIELDS and isinstance(v, int) and not isinstance(v, bool) and v > 1),
        key=lambda kv: -kv[1],
    )[:3]
    named = ", ".join(f"{k}={v}" for k, v in big) or "its sizes"
    raise fail(
        where,
        f"a model with {named} needs {needed / 2**30:.1f} GiB for its weights, "
        f"but only {free / 2**30:.1f} GiB of memory is available",
    )
