"""The prepared-data cache: what `v2meow-prepare` writes once and training reads.

Layout of a cache directory:

    manifest.json                 format_version, component ids and rates (the cache's contract)
    items-<tag>-<seq>.safetensors one shard: tensors of several items + their records as metadata
    skipped-<tag>-<seq>.json      items that could not be prepared, with the reason

Each shard records a checksum of its tensors (`checksum` in its metadata: blake2b over
every tensor's name, dtype, shape and bytes), written at prepare and checked by
`verify_shard` (`v2meow-cache info --verify`); shards from before checksums load as
before and verify as "no checksum recorded". Token ids outside the manifest's vocabulary
or codebook are an error when an item is loaded, never clamped.

Each shard is written to a temporary file and renamed, so a shard either exists whole or
not at all; the set of shard files *is* the cache (the manifest holds no item list), so a
run killed at any moment loses at most the items not yet flushed, and a re-run skips
every item whose key is already in a shard. Shards written by different `--shard i/n`
workers have different tags and simply add up (`v2meow-prepare` tags `<i>of<n>-<run id>`);
caches in different directories combine with `merge_caches` (`v2meow-cache merge`), which
copies shard files after checking the contracts agree. Skip records are JSON objects
with `key`, `source`, `reason` and optional extra fields (e.g. `num_clips`).

Per item (tensor names inside a shard are `<n>/<name>`, n the item's index in the shard):

    visual     [T_v, D] float16   visual features at `feature_rate` (absent for audio-only;
                                  named `features` in caches written before v2meow 0.2, read as `visual`)
    semantic   [T_s]    int32     semantic tokens at `semantic_rate`
    codes      [K, T_a] int16     acoustic codes (all codebooks) at `codec_rate`
    style      [D_s]    float32   style embedding (optional)
    beats      [T_s]    float32   per-token loss weights (optional, VMAs beat alignment)
    rhythm     [T_s, 1] float16   the rhythm channel: music onset pulses at `semantic_rate` (optional)
    audio      [N]      int16     the item's (stretched) music, mono at `audio_rate` (optional,
                                  `v2meow-prepare --keep-audio RATE`): `v2meow-cache recode` re-encodes
                                  `codes` from it with another codec without preparing again

`beats` is written by `v2meow-prepare --beat-weights` (`v2meow.data.beatweights`) for every
item of such a cache (all alpha for audio-only items), and the manifest then also holds
`beat_weights: true`, `beat_alpha`, `beat_delta` (s) and `beat_motion_rate` (Hz); a cache
made without the option has none of these keys, and the two kinds never mix in one directory.

`rhythm` is written by `v2meow-prepare --rhythm` (`signal.rhythm.music_pulses` of the item's
music, audio-only items too); the manifest then holds `rhythm: true`, `rhythm_rate` (Hz),
`rhythm_pulse_window` and `rhythm_pulse_width` (s), with the same never-mix rule. Any other
condition channel (`features.channels`) is written alike by `v2meow-prepare --channel NAME`:
`[T_s, size]` under its name, `NAME: true` and `NAME_rate` in the manifest.

`v2meow-prepare --stretch` adds, per clip, one time-stretched copy per factor r (the clip
played r times as fast, `duration` = the clip's / r, every tensor computed from or stretched
to the copy): key `"<clip key>@x<r>"`, `extra["stretch"] = r` (1.0 on the clips themselves),
the clip's split; the manifest holds the sorted factor list as `stretch`.

Other tensors are extra condition streams of the stages, stored under the stream's name
(`v2meow.stages.conditions`): float ones as float16, integer ones as int32.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from v2meow.errors import ConfigError, UnreadableMediaError
from v2meow.safety import schema
from v2meow.safety.outputs import atomic_output

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
CHECKSUM_KEY = "checksum"
REBUILD = "delete it and re-run v2meow-prepare with the same --input and --out (only its items are prepared again)"
TENSOR_DTYPES = {
    "visual": torch.float16,
    "semantic": torch.int32,
    "codes": torch.int16,
    "style": torch.float32,
    "beats": torch.float32,
    "audio": torch.int16,
}


def _stored_dtype(name: str, x: torch.Tensor) -> torch.dtype:
    """The dtype a tensor is cached in: the table's, else float16 (float streams) or int32 (token streams)."""
    return TENSOR_DTYPES.get(name, torch.float16 if x.is_floating_point() else torch.int32)


@dataclass
class ItemRecord:
    """What is known about one cached item besides its tensors."""

    key: str  # unique and stable: source path + clip index + content hash
    source: str
    clip_start: float  # seconds into the source
    duration: float  # seconds
    split: str = "train"
    caption: str = ""
    content_hash: str = ""
    has_video: bool = True
    shard: str = ""  # filled by the reader
    index: int = -1  # position inside the shard, filled by the reader
    extra: dict[str, Any] = field(default_factory=dict)


class CacheWriter:
    """Buffers prepared items and flushes them as atomic shards.

    Args:
        root: the cache directory.
        tag: part of every shard name; writers that run at the same time into one
            directory must use different tags.
        items_per_shard: flush when this many items are buffered.
        flush_seconds: also flush when the oldest buffered item or skip record is this
            old (bounds the work a kill can lose when items are slow); None: never.
    """

    def __init__(
        self, root: str | os.PathLike, tag: str = "0of1", items_per_shard: int = 64, flush_seconds: float | None = None
    ):
        self.root = Path(root)
        self.tag = tag
        self.items_per_shard = items_per_shard
        self.flush_seconds = flush_seconds
        self._items: list[tuple[ItemRecord, dict[str, torch.Tensor]]] = []
        self._skipped: list[dict[str, Any]] = []
        self._since: float | None = None  # monotonic time of the oldest unflushed entry
        self.shards_written = 0

    def _next_name(self, prefix: str, suffix: str) -> Path:
        seq = len(list(self.root.glob(f"{prefix}-{self.tag}-*{suffix}")))
        while (path := self.root / f"{prefix}-{self.tag}-{seq:05d}{suffix}").exists():
            seq += 1
        return path

    def add(self, record: ItemRecord, tensors: dict[str, torch.Tensor]) -> None:
        bad = sorted(k for k in tensors if not k.replace("_", "").isalnum())
        if bad:
            raise ConfigError(f"cache tensor names must be plain identifiers: {', '.join(bad)}")
        self._items.append(
            (record, {k: v.detach().cpu().to(_stored_dtype(k, v)).contiguous() for k, v in tensors.items()})
        )
        self._touch()
        if len(self._items) >= self.items_per_shard:
            self.flush()

    def skip(self, key: str, source: str, reason: str, **extra: Any) -> None:
        """Record an item that could not be prepared; `extra` adds JSON fields to its record."""
        self._skipped.append({"key": key, "source": source, "reason": reason, **extra})
        self._touch()

    def _touch(self) -> None:
        now = time.monotonic()
        if self._since is None:
            self._since = now
        elif self.flush_seconds is not None and now - self._since >= self.flush_seconds:
            self.flush()

    @property
    def pending(self) -> int:
        """Items and skip records buffered, not yet on disk."""
        return len(self._items) + len(self._skipped)

    def flush(self) -> None:
        """Write buffered items (and skip records) to new shard files."""
        if self._items:
            write_shard(self._next_name("items", ".safetensors"), self._items)
            self._items = []
            self.shards_written += 1
        if self._skipped:
            with atomic_output(self._next_name("skipped", ".json")) as tmp:
                tmp.write_text(json.dumps(self._skipped, indent=1) + "\n")
            self._skipped = []
        self._since = None


def write_shard(path: Path, items: list[tuple[ItemRecord, dict[str, torch.Tensor]]]) -> None:
    """One shard file (atomic): the items' tensors as `<n>/<name>`, their records and checksum as metadata."""
    tensors, records = {}, []
    for n, (record, item) in enumerate(items):
        tensors.update({f"{n}/{k}": v for k, v in item.items()})
        records.append(asdict(record) | {"shard": "", "index": n})
    meta = {
        "format_version": str(FORMAT_VERSION),
        "records": json.dumps(records),
        CHECKSUM_KEY: tensor_checksum(tensors),
    }
    with atomic_output(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def read_shard(path: Path) -> list[tuple[ItemRecord, dict[str, torch.Tensor]]]:
    """Every item of one shard: its record and its tensors (as stored)."""
    records = _shard_records(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, RuntimeError) as e:
        raise UnreadableMediaError(f"{path}: corrupted cache shard ({_first_line(e)}); {REBUILD}") from None
    items = []
    for record in records:
        prefix = f"{record.index}/"
        items.append((record, {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}))
    return items


def write_manifest(root: str | os.PathLike, contract: dict[str, Any]) -> None:
    """Create the cache's manifest, or check that `contract` matches the existing one.

    The contract names the components and rates (feature extractor, semantic tokenizer,
    codec, style embedder); mixing items made by different components is refused.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    path = root / MANIFEST
    contract = {"format_version": FORMAT_VERSION, **contract}
    if path.exists():
        old = read_manifest(root)
        diff = sorted(k for k in set(old) | set(contract) if old.get(k) != contract.get(k))
        if diff:
            k = diff[0]
            raise ConfigError(
                f"{root}: cache was made with {k}={old.get(k)!r}, this run uses {contract.get(k)!r}; "
                "use a new --out directory"
            )
        return
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(contract, indent=2, sort_keys=True) + "\n")


def read_manifest(root: str | os.PathLike) -> dict[str, Any]:
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise UnreadableMediaError(f"{root}: not a v2meow cache (no {MANIFEST})")
    manifest = schema.load_json(path, "cache manifest")  # size and nesting checked before parsing
    if isinstance(manifest, dict) and manifest.get("format_version") != FORMAT_VERSION:
        raise ConfigError(
            f"{root}: cache format_version {manifest.get('format_version')} (this v2meow reads {FORMAT_VERSION})"
        )
    return schema.check_manifest(manifest, str(path))  # types, ranges, finite: before anything is sized from it


class CacheReader:
    """Random access to the items of a cache (all shards in the directory)."""

    def __init__(self, root: str | os.PathLike, split: str | None = None):
        self.root = Path(root)
        self.manifest = read_manifest(self.root)
        self.records: list[ItemRecord] = []
        self.duplicates = 0  # extra copies of keys already read (ignored)
        seen: set[str] = set()
        for shard in sorted(self.root.glob("items-*.safetensors")):
            for record in _shard_records(shard):
                if record.key in seen:  # the same item prepared twice (e.g. merged copies): keep one
                    self.duplicates += 1
                    continue
                seen.add(record.key)
                if split is None or record.split == split:
                    self.records.append(record)

    def __len__(self) -> int:
        return len(self.records)

    def keys(self) -> set[str]:
        return {r.key for r in self.records}

    def skipped(self) -> list[dict[str, str]]:
        out = []
        for path in sorted(self.root.glob("skipped-*.json")):
            out.extend(json.loads(path.read_text()))
        return out

    def load(self, i: int, names: tuple[str, ...] | None = None) -> dict[str, torch.Tensor]:
        """Tensors of item `i` (only those it has; only `names` of them when given), in their stored dtypes.

        Raises:
            UnreadableMediaError: the shard cannot be read, or holds token ids outside the
                manifest's vocabulary / codebook (the message names the shard and how to rebuild it).
        """
        record = self.records[i]
        prefix = f"{record.index}/"
        shard = self.root / record.shard
        try:
            with safe_open(str(shard), framework="pt") as f:
                item = {
                    k[len(prefix) :]: f.get_tensor(k)
                    for k in f.keys()
                    if k.startswith(prefix) and (names is None or k[len(prefix) :] in names)
                }
        except (SafetensorError, OSError, RuntimeError) as e:
            raise UnreadableMediaError(f"{shard}: corrupted cache shard ({_first_line(e)}); {REBUILD}") from None
        if "features" in item:  # caches written before the streams were named: the visual features
            item["visual"] = item.pop("features")
        check_token_range(item, self.manifest, f"{shard} (item {record.key})")
        return item


def check_token_range(item: dict[str, torch.Tensor], manifest: dict[str, Any], where: str) -> None:
    """Token ids must lie in [0, semantic_vocab) and codes in [0, codebook_size); out of range is an error."""
    limits = (("semantic", manifest.get("semantic_vocab")), ("codes", manifest.get("codebook_size")))
    for name, size in limits:
        if name in item and size and item[name].numel():
            lo, hi = int(item[name].min()), int(item[name].max())
            if lo < 0 or hi >= int(size):
                bad = lo if lo < 0 else hi
                raise UnreadableMediaError(
                    f"{where}: {name} id {bad} is outside 0..{int(size) - 1} (the manifest's "
                    f"{'semantic_vocab' if name == 'semantic' else 'codebook_size'}); the shard is corrupted: {REBUILD}"
                )


def tensor_checksum(tensors: dict[str, torch.Tensor]) -> str:
    """blake2b over every tensor's name, dtype, shape and bytes, in name order."""
    h = hashlib.blake2b(digest_size=16)
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return "blake2b:" + h.hexdigest()


def verify_shard(shard: str | os.PathLike) -> str:
    """`"ok"`, `"no checksum recorded"` (a shard from before checksums) or what is wrong with the shard."""
    shard = Path(shard)
    try:
        with safe_open(str(shard), framework="pt") as f:
            expected = (f.metadata() or {}).get(CHECKSUM_KEY)
            if expected is None:
                return "no checksum recorded"
            actual = tensor_checksum({k: f.get_tensor(k) for k in f.keys()})
    except (SafetensorError, OSError, RuntimeError) as e:
        return f"unreadable ({_first_line(e)})"
    return "ok" if actual == expected else "checksum mismatch: its tensors changed after it was written"


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:200]


def _shard_records(shard: Path) -> list[ItemRecord]:
    try:
        with safe_open(str(shard), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError) as e:
        raise UnreadableMediaError(
            f"{shard}: corrupted or truncated cache shard ({_first_line(e)}); {REBUILD}"
        ) from None
    records = []
    try:
        for d in json.loads(meta.get("records", "[]")):
            d["shard"] = shard.name
            records.append(ItemRecord(**d))
    except (json.JSONDecodeError, TypeError) as e:
        raise UnreadableMediaError(f"{shard}: corrupted cache shard records ({_first_line(e)}); {REBUILD}") from None
    return records


def merge_caches(sources: list[str | os.PathLike], dest: str | os.PathLike, link: bool = False) -> dict[str, int]:
    """Combine caches into `dest` by copying their shard and skip files.

    Items are never rewritten: the reader already unions every shard of a directory and
    keeps the first copy of a key, so merging is copying files after checking that every
    source was made by the same components (`write_manifest`). Each shard is opened
    before it is copied, and lands atomically; a file `dest` already holds (same name,
    same bytes) is not copied again, so a merge can be re-run after an interruption.

    Args:
        sources: cache directories (e.g. one per `--shard i/n` run).
        dest: the merged cache (created if missing; an existing one must match).
        link: hard-link instead of copying where the file system allows it.

    Returns:
        Counts: `shards` and `skip_files` copied, `unchanged` files already present.
    """
    dest = Path(dest)
    manifests = [read_manifest(src) for src in sources]
    # tempo stretch is augmentation, not a component: each item records its own factor, and
    # the merged cache lists every factor of its sources (e.g. stretched clips + plain tracks)
    existing = read_manifest(dest) if (dest / MANIFEST).exists() else None
    stretch = _merged_stretch(manifests + ([existing] if existing else []))
    if existing is not None and existing.get("stretch") != stretch:
        with atomic_output(dest / MANIFEST) as tmp:
            tmp.write_text(json.dumps({**existing, "stretch": stretch}, indent=2, sort_keys=True) + "\n")
    for src, manifest in zip(sources, manifests):
        if Path(src).resolve() == dest.resolve():
            raise ConfigError(f"{src}: a source cannot also be the --out cache")
        contract = {k: v for k, v in manifest.items() if k != "format_version"}
        contract.pop("stretch", None)
        if stretch:
            contract["stretch"] = stretch
        try:
            write_manifest(dest, contract)
        except ConfigError as e:
            raise ConfigError(f"cannot merge {src}: {e}") from None
    counts = {"shards": 0, "skip_files": 0, "unchanged": 0}
    for src in sources:
        for path in sorted(Path(src).glob("items-*.safetensors")) + sorted(Path(src).glob("skipped-*.json")):
            if path.suffix == ".safetensors":
                _shard_records(path)  # refuses a corrupted shard before anything is copied
            target = dest / path.name
            if target.exists():
                if _same_file(path, target):
                    counts["unchanged"] += 1
                    continue
                target = dest / f"{path.stem}-m{_digest(path)[:8]}{path.suffix}"
                if target.exists():
                    counts["unchanged"] += 1
                    continue
            _copy(path, target, link)
            counts["shards" if path.suffix == ".safetensors" else "skip_files"] += 1
    return counts


def _merged_stretch(manifests: list[dict[str, Any]]) -> list[float] | None:
    factors = sorted({float(r) for m in manifests for r in (m.get("stretch") or [])})
    return factors or None


def _copy(src: Path, target: Path, link: bool) -> None:
    with atomic_output(target) as tmp:
        if link:
            try:
                tmp.unlink()
                os.link(src, tmp)
                return
            except OSError:
                pass
        shutil.copyfile(src, tmp)


def _same_file(a: Path, b: Path) -> bool:
    return a.stat().st_size == b.stat().st_size and _digest(a) == _digest(b)


def _digest(path: Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()
