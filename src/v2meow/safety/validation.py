"""Checks for every numeric generation option, shared by the CLI, the Python API, pipeline.json and the app.

Each check takes the value and the name the user knows it by (`--top-k`, `top_k`,
`generation.top_k`) and returns the value in its canonical type, or raises a one-line
`ConfigError` naming that field. Values must already be numbers (the CLI parses its text
with `parse_numbers` first): a JSON string such as `"hot"` is an error, not a guess.

    temperature   finite, >= 0 (0 = greedy: always the likeliest token)
    top_k         whole number >= 0 (0 = off); 1.7 is an error, never rounded
    top_p         in (0, 1] (1 = off)
    cfg           classifier-free guidance scale: finite, >= 0 (1 = off); `guidance` maps condition names to one
    seed          whole number in 0 .. 2**63 - 1, or None (fresh randomness)
    num_samples   whole number in 1 .. MAX_SAMPLES
    context       seconds of prompt overlap between windows: finite, >= 0
    loudness      target integrated loudness of the output in LUFS: finite, -70 .. 0, or None / "none" (off)
    max_seconds   longest video accepted, in seconds: finite, > 0, or None / 0 / "none" (no limit)

Text (every str a command line gives, `text`): valid UTF-8, with at least one visible character.

No heavy imports here: this module is read before any model is loaded.
"""

from __future__ import annotations

import math
import numbers
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

from v2meow.errors import ConfigError, MediaError

MAX_SAMPLES = 16  # candidates per video: each one is a full generation held in memory at once
SEED_MAX = 2**63 - 1  # torch.Generator.manual_seed takes a signed 64-bit integer
NUM_STAGES = 3


def _number(value: Any, field: str) -> float | int:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):  # numpy scalars are Real too
        raise ConfigError(f"{field} must be a number, got {_show(value)}")
    return int(value) if isinstance(value, numbers.Integral) else float(value)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _finite(value: Any, field: str) -> float:
    value = _number(value, field)
    if not math.isfinite(value):
        raise ConfigError(f"{field} must be a finite number, got {value}")
    return float(value)


def _whole(value: Any, field: str) -> int:
    value = _number(value, field)
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise ConfigError(f"{field} must be a whole number, got {value}")
    return int(value)


def temperature(value: Any, field: str = "temperature") -> float:
    value = _finite(value, field)
    if value < 0:
        raise ConfigError(f"{field} must be >= 0 (0 = greedy), got {value:g}")
    return value


def top_k(value: Any, field: str = "top_k") -> int:
    value = _whole(value, field)
    if value < 0:
        raise ConfigError(f"{field} must be >= 0 (0 = off), got {value}")
    return value


def top_p(value: Any, field: str = "top_p") -> float:
    value = _finite(value, field)
    if not 0 < value <= 1:
        raise ConfigError(f"{field} must be in (0, 1] (1 = off), got {value:g}")
    return value


def cfg(value: Any, field: str = "cfg") -> float:
    value = _finite(value, field)
    if value < 0:
        raise ConfigError(f"{field} must be >= 0 (1 = no guidance), got {value:g}")
    return value


def context(value: Any, field: str = "context_seconds") -> float:
    value = _finite(value, field)
    if value < 0:
        raise ConfigError(f"{field} must be >= 0 seconds, got {value:g}")
    return value


def positive(value: Any, field: str) -> float:
    """A finite number > 0 (limits, sizes, durations)."""
    value = _finite(value, field)
    if value <= 0:
        raise ConfigError(f"{field} must be > 0, got {value:g}")
    return value


def seed(value: Any, field: str = "seed") -> int | None:
    if value is None:
        return None
    value = _whole(value, field)
    if not 0 <= value <= SEED_MAX:
        raise ConfigError(f"{field} must be between 0 and 2**63-1, got {value}")
    return value


def num_samples(value: Any, field: str = "num_samples", cap: int = MAX_SAMPLES) -> int:
    value = _whole(value, field)
    if not 1 <= value <= cap:
        raise ConfigError(f"{field} must be between 1 and {cap}, got {value}")
    return value


def per_stage(values: Any, field: str, check: Callable[[Any, str], Any], count: int = NUM_STAGES) -> tuple:
    """`count` checked values from a list of `count` (a JSON array, a tuple); one value is not broadcast here."""
    if isinstance(values, (str, bytes, Mapping)) or not hasattr(values, "__iter__"):
        raise ConfigError(f"{field} must be a list of {count} numbers (stage 1, 2, 3), got {_show(values)}")
    values = tuple(values)
    if len(values) != count:
        raise ConfigError(f"{field} needs {count} values (stage 1, 2, 3), got {len(values)}")
    return tuple(check(v, f"{field}[{i + 1}]" if count > 1 else field) for i, v in enumerate(values))


def parse_numbers(text: str, field: str, count: int = NUM_STAGES) -> tuple[float | int, ...]:
    """Command-line text `"1.0,0.95,0.4"` (or one value, repeated) -> numbers, ints kept exact."""
    values: list[float | int] = []
    for part in str(text).split(","):
        part = part.strip()
        try:
            values.append(int(part))
        except ValueError:
            try:
                values.append(float(part))
            except ValueError:
                raise ConfigError(f"{field} expects numbers separated by commas, got '{text}'") from None
    if len(values) == 1:
        values = values * count
    if len(values) != count:
        raise ConfigError(f"{field} expects {_how_many(count)}, got {len(values)}")
    return tuple(values)


def _how_many(count: int) -> str:
    """`"one value"` or `"1 or 3 values"`: what `parse_numbers` accepts for `count`."""
    return "one value" if count == 1 else f"1 or {count} values"


def parse_int(text: str, field: str) -> int:
    """Command-line text of one whole number (`1e3` is 1000; `1.7` is an error)."""
    (value,) = parse_numbers(text, field, count=1)
    return _whole(value, field)


# ---- generation settings (GenerationConfig fields, pipeline.json "generation") -------------

SAMPLING_FIELDS = ("temperature", "top_k", "top_p", "guidance")
GENERATION_FIELDS = ("sampling", "context_seconds", "num_samples", "seed", "cuda_graphs", "loudness", "phase")
PHASES = ("griffin_lim", "pghi")  # a mel codec's phase reconstruction (`generation.phase`, `--phase`)
CONTINUE_RHYTHMS = ("music", "video")  # where a continuation's rhythm channel comes from (`--continue-rhythm`)
LOUDNESS_RANGE = (-70.0, 0.0)  # LUFS: BS.1770's absolute gate .. full scale
OFF_WORDS = ("none", "off")


def loudness(value: Any, field: str = "loudness") -> float | None:
    """Target loudness in LUFS (-70 .. 0), or None for no normalisation (`None`, "none" or "off")."""
    if value is None or (isinstance(value, str) and value.strip().lower() in OFF_WORDS):
        return None
    x = _finite(value, field)
    lo, hi = LOUDNESS_RANGE
    if not lo <= x <= hi:
        raise ConfigError(f"{field} must be between {lo:g} and {hi:g} LUFS (or none), got {_show(value)}")
    return float(x)


def phase(value: Any, field: str = "phase") -> str | None:
    """A mel codec's phase reconstruction (`PHASES`), or None for the codec's own."""
    if value is None:
        return None
    if value not in PHASES:
        raise ConfigError(f"{field} must be one of {', '.join(PHASES)} (or unset: the codec's own), got {_show(value)}")
    return value


def parse_loudness(text: str, field: str = "--loudness") -> float | None:
    """`--loudness` text: a number of LUFS or `none`."""
    if text.strip().lower() in OFF_WORDS:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{field} must be a loudness in LUFS (e.g. -14) or none, got {text!r}") from None
    return loudness(value, field)


def guidance(values: Any, field: str = "guidance") -> dict[str, float]:
    """Guidance scales by condition name (`{"all": 3.0}`): an object of finite numbers >= 0."""
    if not isinstance(values, Mapping):
        raise ConfigError(f"{field} must be an object of condition name -> scale, got {_show(values)}")
    return {str(k): cfg(v, f"{field}.{k}") for k, v in values.items()}


def parse_guidance(items: list[str] | None, flag: str = "--guidance") -> dict[str, dict[str, float]] | None:
    """The one spelling of guidance on a command line: `ROLE.CONDITION=SCALE` (or `ROLE=SCALE`, every
    condition of that role: `"all"`), repeatable -> `{"semantic": {"rhythm": 3.0}}`; None when none given.
    Roles and conditions are checked against the bundle later (the pipeline names what it has)."""
    if not items:
        return None
    out: dict[str, dict[str, float]] = {}
    for item in items:
        key, eq, value = item.partition("=")
        role, _, condition = key.strip().partition(".")
        if not (eq and role):
            raise ConfigError(
                f"{flag} expects ROLE.CONDITION=SCALE or ROLE=SCALE (e.g. semantic.rhythm=3), got '{item}'"
            )
        out.setdefault(role, {})[condition or "all"] = cfg(
            parse_numbers(value, flag, count=1)[0], flag
        )  # "all": conditions.ALL
    return out


def sampling(values: Any, field: str) -> dict[str, Any]:
    """One stage's sampling settings (`SamplingConfig` fields) in canonical types."""
    if not isinstance(values, Mapping):
        raise ConfigError(f"{field} must be an object with {', '.join(SAMPLING_FIELDS)}, got {_show(values)}")
    unknown = sorted(set(values) - set(SAMPLING_FIELDS))
    if unknown:
        raise ConfigError(f"unknown sampling setting {field}.{unknown[0]} (known: {', '.join(SAMPLING_FIELDS)})")
    checks = {"temperature": temperature, "top_k": top_k, "top_p": top_p, "guidance": guidance}
    return {k: checks[k](v, f"{field}.{k}") for k, v in values.items()}


def _stage_sampling(value: Any, field: str) -> Any:
    """A mapping is checked; a `SamplingConfig` (checked when it was made) passes as it is."""
    return value if not isinstance(value, Mapping) and hasattr(value, "temperature") else sampling(value, field)


def by_role(values: Any, field: str, check: Callable[[Any, str], Any], roles: tuple[str, ...]) -> dict[str, Any]:
    """One checked value per stage role: from an object naming every role (`{"semantic": ..., ...}`),
    or a list in the pipeline's order (stage 1, 2, 3)."""
    if not isinstance(values, Mapping):
        return dict(zip(roles, per_stage(values, field, check, count=len(roles))))
    unknown = sorted(set(values) - set(roles))
    missing = [r for r in roles if r not in values]
    if unknown or missing:
        problem = f"unknown role {unknown[0]}" if unknown else f"{', '.join(missing)} missing"
        raise ConfigError(f"{field} needs one entry per stage role ({', '.join(roles)}): {problem}")
    return {r: check(values[r], f"{field}.{r}") for r in roles}


def generation(values: Mapping[str, Any], prefix: str = "", roles: tuple[str, ...] = ()) -> dict[str, Any]:
    """Check a mapping of generation settings (`GenerationConfig` fields); returns them in canonical types.

    `prefix` is put before each field name in messages (`"generation."` for pipeline.json,
    `""` for keyword arguments). Unknown fields are an error naming them. `sampling` and
    `context_seconds` hold one entry per stage role of `roles` (`by_role`).
    """
    if not isinstance(values, Mapping):
        raise ConfigError(
            f"{prefix.rstrip('.') or 'generation settings'} must be an object, got {type(values).__name__}"
        )
    unknown = sorted(set(values) - set(GENERATION_FIELDS))
    if unknown:
        raise ConfigError(f"unknown generation setting {prefix}{unknown[0]} (known: {', '.join(GENERATION_FIELDS)})")
    out: dict[str, Any] = {}
    for name, value in values.items():
        field = f"{prefix}{name}"
        if name == "sampling":
            out[name] = by_role(value, field, _stage_sampling, roles)
        elif name == "context_seconds":
            out[name] = by_role(value, field, context, roles)
        elif name == "num_samples":
            out[name] = num_samples(value, field)
        elif name == "seed":
            out[name] = seed(value, field)
        elif name == "loudness":
            out[name] = loudness(value, field)
        elif name == "phase":
            out[name] = phase(value, field)
        elif name == "cuda_graphs":
            if not isinstance(value, bool):
                raise ConfigError(f"{field} must be true or false, got {_show(value)}")
            out[name] = value
    return out


# ---- pipeline.json -----------------------------------------------------------------------


def pipeline_spec(spec: Any, where: str) -> dict[str, Any]:
    """Check the shape of a parsed pipeline.json; `where` (the file) starts every message."""

    def fail(message: str) -> ConfigError:
        return ConfigError(f"{where}: {message}")

    if not isinstance(spec, dict):
        raise fail(f"must be a JSON object, got a {_json_type(spec)}")
    components = spec.get("components", {})
    if not isinstance(components, dict):
        raise fail(f"components must be an object, got a {_json_type(components)}")
    for name, path in components.items():
        if path is not None and not isinstance(path, str):
            raise fail(f"components.{name} must be a directory name, got {_show(path)}")
    features = spec.get("features", {"spec": "motion", "options": {}})
    if not isinstance(features, dict):
        raise fail(f"features must be an object, got a {_json_type(features)}")
    if not isinstance(features.get("spec", "motion"), str):
        raise fail(f"features.spec must be a string, got {_show(features.get('spec'))}")
    if not isinstance(features.get("options", {}), dict):
        raise fail(f"features.options must be an object, got a {_json_type(features.get('options'))}")
    if not isinstance(spec.get("generation", {}), dict):
        raise fail(f"generation must be an object, got a {_json_type(spec.get('generation'))}")
    from v2meow.safety import schema  # floor 0 too; imported here to keep the import graph of this module flat

    schema.check_tree(features, where, "features")  # a feature rate of 1e6 is refused before frames are decoded
    return spec


def _json_type(value: Any) -> str:
    names = {
        dict: "object",
        list: "list",
        str: "string",
        bool: "boolean",
        int: "number",
        float: "number",
        type(None): "null",
    }
    return names.get(type(value), type(value).__name__)


def dataclass_values(cls: type, values: Mapping[str, Any], label: str) -> None:
    """Values for a config dataclass must have its fields' JSON types: `"256x"` for an int is an error.

    Checks fields annotated `int`, `float`, `bool`, `str` (optionally `| None`) and
    tuples/lists; other annotations are left to the class.
    """
    import dataclasses
    import typing

    try:
        hints = typing.get_type_hints(cls)
    except Exception:
        return
    for f in dataclasses.fields(cls):
        if f.name not in values:
            continue
        value, hint = values[f.name], hints.get(f.name)
        kinds = _kinds(hint)
        if not kinds or (value is None and type(None) in kinds):
            continue
        if not _matches(value, kinds):
            expected = " or ".join(sorted({_KIND_NAMES.get(k, getattr(k, "__name__", str(k))) for k in kinds}))
            raise ConfigError(f"{label}: {f.name} must be {expected}, got {_show(value)}")


_KIND_NAMES = {
    int: "a whole number",
    float: "a number",
    bool: "true or false",
    str: "a string",
    tuple: "a list",
    list: "a list",
    dict: "an object",
    type(None): "null",
}


def _kinds(hint: Any) -> set:
    import typing

    origin = typing.get_origin(hint)
    if hint in (int, float, bool, str):
        return {hint}
    if origin in (tuple, list):
        return {origin}
    if origin is dict or hint is dict:
        return {dict}
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        out: set = set()
        for arg in typing.get_args(hint):
            sub = {type(None)} if arg is type(None) else _kinds(arg)
            if not sub:
                return set()  # a member we do not check: leave the whole field alone
            out |= sub
        return out
    return set()


def _matches(value: Any, kinds: set) -> bool:
    if isinstance(value, bool):
        return bool in kinds
    if isinstance(value, int):
        return int in kinds or float in kinds
    if isinstance(value, float):
        return float in kinds and math.isfinite(value)
    if isinstance(value, str):
        return str in kinds
    if isinstance(value, (list, tuple)):
        return bool(kinds & {tuple, list})
    if isinstance(value, dict):
        return dict in kinds
    return value is None and type(None) in kinds


# ---- text: every string a command line or the API takes -------------------------------------

# Unicode categories that show nothing: spaces (Zs), line and paragraph separators (Zl, Zp),
# control characters (Cc) and format characters such as U+200B zero-width space (Cf).
INVISIBLE_CATEGORIES = {"Zs", "Zl", "Zp", "Cc", "Cf"}
# Letters and symbols that are drawn blank: Hangul fillers, the blank Braille pattern.
BLANK_CHARACTERS = {"\u115f", "\u1160", "\u3164", "\uffa0", "\u2800"}


def invisible(char: str) -> bool:
    """Whether `char` shows nothing (a space, a control or format character, a blank filler)."""
    return char.isspace() or char in BLANK_CHARACTERS or unicodedata.category(char) in INVISIBLE_CATEGORIES


def blank(text: str) -> bool:
    """Whether `text` is empty or made only of invisible characters (`invisible`)."""
    return all(invisible(c) for c in text)


def text(value: Any, field: str) -> str:
    """A string that is valid UTF-8 (no lone surrogates, which stand for undecodable command-line
    bytes) and shows at least one character."""
    if not isinstance(value, str):
        raise ConfigError(f"{field} must be text, got {_show(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(f"{field} is not valid UTF-8 (undecodable bytes in {ascii(value)[:60]})") from None
    if not value:
        raise ConfigError(f"{field} is empty")
    if blank(value):
        shown = ", ".join(sorted({f"U+{ord(c):04X}" for c in value}))[:60]
        raise ConfigError(f"{field} is empty (only invisible characters: {shown})")
    return value


# ---- duration policy: every entry point (CLI, API, app) -------------------------------------


def max_seconds(value: Any, field: str = "max_seconds") -> float | None:
    """A limit on a video's length in seconds (> 0), or None for no limit (None, 0, "none", "off")."""
    if value is None or (isinstance(value, str) and value.strip().lower() in OFF_WORDS):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ConfigError(f"{field} must be a number of seconds, or 0 / none for no limit, got {value!r}") from None
    value = _finite(value, field)
    if value < 0:
        raise ConfigError(f"{field} must be >= 0 seconds (0 or none: no limit), got {value:g}")
    return None if value == 0 else value


def length_text(seconds: float) -> str:
    """`12.0 s`, `10.0 min (600 s)`, `6.0 h (21600 s)`."""
    if seconds < 120:
        return f"{seconds:.1f} s"
    unit, size = ("min", 60) if seconds < 7200 else ("h", 3600)
    return f"{seconds / size:.1f} {unit} ({seconds:.0f} s)"


def duration_limit(seconds: float, limit: float | None, what: str, limit_name: str, lift: str, note: str = "") -> float:
    """`seconds` when a video of that length is within `limit` (None: no limit); otherwise a MediaError
    naming `what` (the file), the length, the limit (`limit_name`, e.g. "the --max-seconds limit"),
    `note` (e.g. frames that do not cover the timeline) and how to lift it (`lift`)."""
    if limit is not None and seconds > limit:
        extra = f" ({note})" if note else ""
        raise MediaError(f"{what}: {length_text(seconds)} is longer than {limit_name} of {limit:g} s{extra}; {lift}")
    return seconds
