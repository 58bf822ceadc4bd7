"""Make and describe bundles: copy trained components into one directory, write `pipeline.json`
(through `write_bundle_file`, so the format has one writer), check that the components fit
together (`check_components`), and list what a bundle holds. `v2meow-bundle` is the CLI.

A made bundle also holds `SHA256SUMS` (the `sha256sum` format: `sha256sum -c SHA256SUMS`
verifies it), which `inspect_bundle` checks.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from v2meow.components import CONFIG_NAME, WEIGHTS_NAME, cast_weights, read_json_config
from v2meow.errors import ConfigError, MissingWeightsError, V2MeowError
from v2meow.pipelines.bundle import PIPELINE_FILE, REQUIRED, GenerationConfig, read_bundle, write_bundle_file
from v2meow.safety.outputs import atomic_directory
from v2meow.stages.roles import KEYS, ROLE_SPECS

SUMS_FILE = "SHA256SUMS"
NAMES = (*KEYS, "codec", "semantic", "style")


def _component_config(directory: Path) -> dict[str, Any]:
    path = directory / CONFIG_NAME
    if not path.is_file():
        raise MissingWeightsError(f"{directory}: not a component directory (no {CONFIG_NAME})")
    return read_json_config(path)


def default_generation(stage_configs: dict[str, dict[str, Any]], **changes: Any) -> GenerationConfig:
    """Generation defaults for these stages: the paper's, with each window's primed context at most
    half the stage's window (so short-window stages such as the demo's still advance)."""
    base = GenerationConfig()
    windows = [float(stage_configs[key].get("window_seconds", 10.0)) for key in KEYS]
    context = {role: min(c, w / 2) for (role, c), w in zip(base.context_seconds.items(), windows)}
    return base.replace(**{"context_seconds": context, **{k: v for k, v in changes.items() if v is not None}})


def create_bundle(
    out: str | os.PathLike,
    components: dict[str, str | os.PathLike],
    features: str = "motion",
    feature_rate: float | None = None,
    overwrite: bool = False,
    weights_dtype: str | None = None,
    **generation: Any,
) -> Path:
    """Copy `components` (name -> component dir) into a new bundle `out`, atomically.

    `weights_dtype` (e.g. "float16") stores the three stages' float weights in that dtype (half
    the bytes; they load into float32 models); the codec and tokenizers are copied as they are.

    `features` is the extractor spec; its rate defaults to stage 1's `feature_rate`.
    `generation` overrides `GenerationConfig` fields (e.g. `temperatures=(1.0, 0.95, 0.4)`).
    The components are checked against each other before the bundle appears under `out`.
    """
    unknown = sorted(set(components) - set(NAMES))
    if unknown:
        raise ConfigError(f"unknown component(s) {', '.join(unknown)} (known: {', '.join(NAMES)})")
    sources = {name: Path(src) for name, src in components.items() if src is not None}
    missing = [n for n in REQUIRED if n not in sources]
    if missing:
        raise ConfigError(f"a bundle needs {', '.join(missing)}")
    configs = {name: _component_config(src) for name, src in sources.items()}
    if feature_rate is None:
        feature_rate = configs[KEYS[0]].get("feature_rate")
    options = {"rate": float(feature_rate)} if feature_rate else {}
    gen = default_generation(configs, **generation)
    with atomic_directory(out, overwrite=overwrite) as tmp:
        for name, src in sources.items():
            shutil.copytree(src, tmp / name)
            if weights_dtype and name in KEYS:
                cast_weights(tmp / name / WEIGHTS_NAME, weights_dtype)
        write_bundle_file(tmp, {"spec": features, "options": options}, {n: n for n in sources}, gen)
        load_parts(tmp)  # raises IncompatibleComponentsError naming what disagrees
        write_sums(tmp)
    return Path(out)


def load_parts(
    bundle: str | os.PathLike,
    allow_outside: bool = False,
    *,
    extractor_weights: bool = False,
    trust_pickle: bool = False,
) -> dict[str, Any]:
    """The one loader: build every component of a bundle and check them against each other. Returns
    `V2MeowPipeline`'s keyword arguments: `extractor`, `stages` (by role), `codec`, `style`, `semantic`
    (the tokenizer's directory, loaded on first use) and `semantic_info` (its config), `generation`.

    `extractor_weights`: load the feature extractor's pretrained weights (generation) or not (checking
    and describing a bundle); `trust_pickle`: see `v2meow.safety.safeload`; `allow_outside`: see `read_bundle`.
    """
    from v2meow.features.registry import build_extractor
    from v2meow.pipelines.checks import check_components
    from v2meow.stages.registry import load_stage
    from v2meow.tokenizers.acoustic import load_codec
    from v2meow.tokenizers.style import load_style_embedder

    spec = read_bundle(bundle, allow_outside)
    comps, feats = spec["components"], spec["features"]
    extractor = build_extractor(
        feats["spec"], load_weights=extractor_weights, trust_pickle=trust_pickle, **feats.get("options", {})
    )
    parts: dict[str, Any] = {
        "extractor": extractor,
        "stages": {r.name: load_stage(comps[r.key], r.name) for r in ROLE_SPECS},
        "codec": load_codec(comps["codec"]),
        "style": load_style_embedder(comps["style"]) if "style" in comps else None,
        "semantic": comps.get("semantic"),
        "semantic_info": _component_config(Path(comps["semantic"])) if "semantic" in comps else None,
        "generation": spec["generation"],
    }
    check_components(parts["extractor"], parts["stages"], parts["codec"], parts["style"], parts["semantic_info"])
    return parts


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.name != SUMS_FILE)


def write_sums(directory: str | os.PathLike) -> Path:
    """`SHA256SUMS` of every file in the bundle (`sha256sum -c` format, paths relative)."""
    directory = Path(directory)
    lines = [f"{_sha256(p)}  {p.relative_to(directory).as_posix()}" for p in _files(directory)]
    path = directory / SUMS_FILE
    path.write_text("\n".join(lines) + "\n")
    return path


def verify_sums(directory: str | os.PathLike) -> dict[str, Any]:
    """Compare the bundle's files with its `SHA256SUMS`: {"present", "ok", "mismatched", "missing", "unlisted"}."""
    directory = Path(directory)
    path = directory / SUMS_FILE
    if not path.is_file():
        return {"present": False}
    listed = {}
    for line in path.read_text().splitlines():
        digest, _, name = line.partition("  ")
        if name:
            listed[name] = digest
    actual = {p.relative_to(directory).as_posix(): p for p in _files(directory)}
    mismatched = sorted(n for n, d in listed.items() if n in actual and _sha256(actual[n]) != d)
    missing = sorted(n for n in listed if n not in actual)
    unlisted = sorted(n for n in actual if n not in listed)
    return {
        "present": True,
        "ok": not (mismatched or missing),
        "files": len(listed),
        "mismatched": mismatched,
        "missing": missing,
        "unlisted": unlisted,
    }


def parameter_count(weights: Path) -> int | None:
    """Number of parameters in a safetensors file, from its header (no weights are loaded)."""
    if not weights.is_file():
        return None
    from safetensors import safe_open

    total = 0
    with safe_open(str(weights), framework="pt") as f:
        for key in f.keys():
            n = 1
            for d in f.get_slice(key).get_shape():
                n *= d
            total += n
    return total


def _size(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())


#: What `inspect_bundle` shows of a stage's config, where the stage kind has the field.
STAGE_FIELDS = (
    "variant", "role", "feature_dim", "feature_rate", "style_dim", "semantic_vocab", "semantic_rate", "codebook_size",
    "num_coarse", "num_fine", "codec_rate", "dim", "depth", "encoder_depth", "heads", "window_seconds",
)  # fmt: skip


def inspect_bundle(bundle: str | os.PathLike, allow_outside: bool = False) -> dict[str, Any]:
    """What a bundle holds: components (type, size, parameters, rates, vocabularies), features,
    generation defaults, the compatibility verdict and the SHA256SUMS check. Plain JSON data."""
    bundle = Path(bundle)
    spec = read_bundle(bundle, allow_outside)
    info: dict[str, Any] = {
        "bundle": str(bundle),
        "format_version": json.loads((bundle / PIPELINE_FILE).read_text())["format_version"],
        "features": spec["features"],
        "generation": spec["generation"].to_dict(),
        "components": {},
    }
    for name, directory in spec["components"].items():
        directory = Path(directory)
        config = _component_config(directory)
        entry = {
            "path": os.path.relpath(directory, bundle),
            "model_type": config.get("model_type"),
            "bytes": _size(directory),
            "parameters": parameter_count(directory / WEIGHTS_NAME),
        }
        entry.update({k: config[k] for k in (STAGE_FIELDS if name in KEYS else ()) if k in config})
        if name == "semantic":
            entry.update(
                {k: config[k] for k in ("backbone", "num_clusters", "frame_rate", "sample_rate") if k in config}
            )
        if name == "style":
            entry.update({k: config[k] for k in ("dim",) if k in config})
        info["components"][name] = entry
    try:
        parts = load_parts(bundle, allow_outside)
    except V2MeowError as e:
        info["compatible"], info["problem"] = False, str(e)
    else:
        info["compatible"] = True
        codec = parts["codec"]
        info["components"]["codec"].update(
            sample_rate=int(codec.sample_rate),
            frame_rate=float(codec.frame_rate),
            num_codebooks=int(codec.num_codebooks),
            codebook_size=int(codec.codebook_size),
            num_coarse=int(codec.num_coarse),
        )
        info["features"] = {
            **spec["features"],
            "dim": int(parts["extractor"].dim),
            "rate": float(parts["extractor"].rate),
        }
        if parts["style"] is not None:
            info["components"]["style"].update(dim=int(parts["style"].dim), audio=bool(parts["style"].supports_audio))
    info["sha256"] = verify_sums(bundle)
    return info


def format_inspection(info: dict[str, Any]) -> str:
    """`inspect_bundle`'s result as text, one component per line."""
    lines = [f"bundle {info['bundle']} (format {info['format_version']})"]
    f = info["features"]
    lines.append(
        f"features: {f['spec']} {f.get('options') or ''}"
        + (f" -> {f['dim']}-d at {f['rate']:g} Hz" if "dim" in f else "")
    )
    for name, c in info["components"].items():
        params = "?" if c["parameters"] is None else f"{c['parameters']:,}"
        extra = ", ".join(f"{k}={v}" for k, v in c.items() if k not in ("path", "model_type", "bytes", "parameters"))
        lines.append(f"  {name:9s} {c['model_type']:20s} {c['bytes'] / 1e6:7.2f} MB {params:>12s} params  {extra}")
    g = dict(info["generation"])
    for i, (role, s) in enumerate(g.pop("sampling").items(), 1):
        guidance = ", ".join(f"{k} {v:g}" for k, v in s["guidance"].items()) or "none"
        lines.append(
            f"  sampling stage {i} ({role}): temperature {s['temperature']:g}, top-k {s['top_k']}, top-p {s['top_p']:g}, guidance {guidance}"
        )
    lines.append("generation: " + ", ".join(f"{k}={v}" for k, v in g.items()))
    lines.append("compatible: yes" if info["compatible"] else f"compatible: NO: {info['problem']}")
    s = info["sha256"]
    if not s["present"]:
        lines.append(f"sha256: no {SUMS_FILE}")
    elif s["ok"]:
        lines.append(
            f"sha256: {s['files']} files match {SUMS_FILE}"
            + (f" ({len(s['unlisted'])} unlisted)" if s["unlisted"] else "")
        )
    else:
        lines.append(f"sha256: MISMATCH: changed {s['mismatched'] or '-'}, missing {s['missing'] or '-'}")
    return "\n".join(lines)
