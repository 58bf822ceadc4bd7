"""What a stage run measures besides its loss: the held-out split, the targets' entropies, the training record.

split_reader      the items of one split of a cache; a split the cache lacks is one line naming its splits
target_entropies  unigram / bigram entropies of the training targets (`entropy.py`), saved as
                  `out/entropy.json` and reused on a resume over the same data
training_record   the `"training"` entry of the exported component's config.json
"""

from __future__ import annotations

import copy
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

from v2meow.data.cache import CacheReader
from v2meow.errors import ConfigError
from v2meow.stages.roles import role_of
from v2meow.training.entropy import MAX_TOKENS, reader_entropies

ENTROPY_NAME = "entropy.json"
#: Validation every this many training steps when the run config names a val_split but no `trainer.val_check_interval`.
VAL_CHECK_INTERVAL = 250


def cache_splits(cache: CacheReader) -> Counter:
    """Items per split of an open (unfiltered) cache."""
    return Counter(r.split for r in cache.records)


def split_reader(cache: CacheReader, split: str | None, field: str) -> CacheReader:
    """A view of `cache` holding the items of `split` (None: every item); `field` names the config
    field in the one-line `ConfigError` raised when the cache holds no item of that split."""
    view = copy.copy(cache)
    view.records = [r for r in cache.records if split is None or r.split == split]
    if not view.records:
        have = ", ".join(f"{s} ({n} items)" for s, n in sorted(cache_splits(cache).items())) or "none"
        hint = "or null to train without validation" if field.endswith("val_split") else "or null for every item"
        raise ConfigError(
            f"{field} '{split}': {cache.root} has no items of that split (its splits: {have}); "
            f"set {field} to one of them, {hint}"
        )
    return view


def check_splits(train_split: str | None, val_split: str | None) -> None:
    """The validation items must never be trained on."""
    if val_split is None:
        return
    if train_split is None:
        raise ConfigError(
            f"data.train_split null trains on every split, data.val_split '{val_split}' included; "
            "name the training split (e.g. train)"
        )
    if train_split == val_split:
        raise ConfigError(
            f"data.val_split '{val_split}' is the training split too; validate on held-out items (e.g. valid)"
        )


def target_entropies(
    reader: CacheReader,
    stage: str,
    num_coarse: int,
    num_fine: int | None,
    out: Path,
    split: str | None,
    max_tokens: int = MAX_TOKENS,
) -> dict[str, Any]:
    """Entropies (nats) of what `stage` predicts over `reader`'s items, written to `out/entropy.json`;
    a file from an earlier start over the same items is reused."""
    source = {
        "cache": str(Path(reader.root).resolve()),
        "split": split,
        "stage": stage,
        "num_coarse": num_coarse,
        "num_fine": num_fine,
        "items": len(reader),
        "max_tokens": max_tokens,
    }
    path = out / ENTROPY_NAME
    if path.is_file():
        try:
            old = json.loads(path.read_text())
            if old.get("source") == source:
                return old
        except (OSError, ValueError):
            pass
    found = reader_entropies(reader, stage, num_coarse, num_fine, max_tokens)
    role = role_of(stage).name
    targets = "semantic tokens" if role == "semantic" else f"{role} codec levels"
    record = {"units": "nats", "targets": targets, **{k: _finite(v) for k, v in found.items()}, "source": source}
    from v2meow.safety.outputs import atomic_output

    out.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n")
    return record


def references(entropies: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The loss panel's reference lines (`plots.plot_metrics`)."""
    lines = {"unigram H": entropies.get("unigram"), "bigram H": entropies.get("bigram")}
    return {"loss": {k: v for k, v in lines.items() if v is not None}}


def training_record(
    module, trainer, entropies: dict[str, Any], train_split: str | None, val_split: str | None
) -> dict[str, Any]:
    """How a component was trained, for its config.json: steps, target tokens in the loss, the last
    validation loss (null without a val_split) and its step, the targets' entropies and the seconds of
    wall time of every start together."""
    return {
        "steps": int(trainer.global_step),
        "tokens_seen": module.total_tokens(),
        "train_split": train_split,
        "val_split": val_split,
        "val_loss": _finite(module.val_loss) if val_split else None,
        "val_step": module.val_step if val_split else None,
        "entropy": {"unigram": entropies.get("unigram"), "bigram": entropies.get("bigram"), "units": "nats"},
        "seconds": round(module.total_seconds(), 1),
    }


def _finite(value: Any) -> Any:
    """JSON-safe: NaN and inf (not JSON, and refused by the config checks) become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return round(value, 6) if isinstance(value, float) else value
