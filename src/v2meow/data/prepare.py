"""`prepare`: media files -> a versioned, resumable cache (docs/architecture.md).

    cfg = PrepareConfig(features="motion", semantic="ckpt/semantic", codec="ckpt/codec")
    report = prepare("videos/", "cache/", cfg, workers=4, shard="0/8")
    print("\\n".join(report.lines()))

Two passes over the sources of this shard:

1. scan: hash each source (its key) and probe it; a source whose clips are all in the
   cache (or recorded as skipped) is not even probed, so a re-run does no work;
2. prepare: every missing clip is decoded (`read_frames` / `read_audio` with start and
   duration, so memory does not grow with the file), tokenized and embedded, and the
   main process (the only writer) adds it to a `CacheWriter`, which flushes atomic
   shards. With `cfg.stretch`, a clip gives one item per speed factor (1 and each
   factor); a clip is decoded once for all its factors, and only the (clip, factor)
   items the cache lacks are prepared. A SIGKILL loses at most the unflushed items; SIGTERM and Ctrl-C flush first.

Skipped items are recorded (key, source, reason) and not retried on a re-run unless
`retry_skipped`: their key holds the content hash, so a repaired file is retried
anyway. Shards are tagged `<i>of<n>-<run id>`, so runs never overwrite each other's
shards, and `--shard i/n` runs may share one output directory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import secrets
import signal
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from v2meow.data.cache import CacheReader, CacheWriter, ItemRecord, write_manifest
from v2meow.data.contract import describe
from v2meow.data.runner import InlineRunner, PoolRunner
from v2meow.data.sources import (
    in_shard,
    list_sources,
    parse_item_key,
    parse_shard,
    split_clip_key,
    stretch_key,
)
from v2meow.data.work import (
    STRETCH_RANGE,
    ClipTask,
    Done,
    Plan,
    PrepareConfig,
    Skip,
    init_worker,
    item_factors,
    plan_source,
    prepare_clip,
    task_for,
)
from v2meow.errors import ConfigError, OutputError, V2MeowError

STALE_TMP_SECONDS = 3600  # temporary shard files older than this are left-overs of killed runs
ABORT_AFTER_INTERNAL = 10  # stop when this many clips failed with non-media errors and none succeeded

__all__ = ["PrepareConfig", "PrepareReport", "prepare"]


@dataclass
class PrepareReport:
    """What a run did. `skipped` lists this run's new skips as {key, source, reason}."""

    sources: int = 0
    new_items: int = 0
    new_seconds: float = 0.0  # audio seconds prepared by this run
    cached_items: int = 0  # clips already in the cache
    previously_skipped: int = 0  # items skipped by an earlier run, not retried
    skipped: list[dict[str, Any]] = field(default_factory=list)
    total_items: int = 0  # distinct items in the cache after the run
    elapsed_s: float = 0.0
    out: str = ""

    @property
    def items_per_s(self) -> float:
        return self.new_items / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def x_real_time(self) -> float:
        return self.new_seconds / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": self.out,
            "sources": self.sources,
            "new_items": self.new_items,
            "new_hours": round(self.new_seconds / 3600, 4),
            "cached_items": self.cached_items,
            "previously_skipped": self.previously_skipped,
            "skipped_count": len(self.skipped),
            "skipped": self.skipped,
            "total_items": self.total_items,
            "elapsed_s": round(self.elapsed_s, 3),
            "items_per_s": round(self.items_per_s, 3),
            "x_real_time": round(self.x_real_time, 2),
        }

    def lines(self) -> list[str]:
        """The final report: ok counts, then one line per skipped item."""
        out = [
            f"{self.new_items} new item(s), {_hms(self.new_seconds)} of audio, in {_hms(self.elapsed_s)} "
            f"({self.items_per_s:.2f} items/s, {self.x_real_time:.1f}x real time); "
            f"{self.cached_items} already cached; {len(self.skipped)} skipped"
            + (
                f" (+{self.previously_skipped} skipped by earlier runs, not retried)" if self.previously_skipped else ""
            ),
            f"{self.out}: {self.total_items} item(s) in the cache",
        ]
        out += [f"skipped {s['source']}: {s['reason']}" for s in self.skipped]
        return out


class CacheState:
    """What an existing cache already holds, keyed for the resume decisions.

    `per_clip` items make one clip (1 + the number of --stretch factors): a source needs no
    more work when every item of each of its clips is cached or was skipped.
    """

    def __init__(self, root: Path, retry_skipped: bool = False, per_clip: int = 1):
        reader = CacheReader(root)
        self.items = reader.keys()
        self.skipped: set[str] = set()
        self.per_clip = per_clip
        self.done_items: dict[str, set[tuple[int, float]]] = defaultdict(
            set
        )  # source key -> (clip, factor) done or skipped
        self.num_clips: dict[str, int] = {}
        self.item_count: dict[str, int] = defaultdict(int)
        for r in reader.records:
            self._note(r.key, r.extra.get("num_clips"))
            if (parsed := split_clip_key(r.key)) is not None:
                self.item_count[parsed[0]] += 1
        if not retry_skipped:
            for s in reader.skipped():
                self.skipped.add(s["key"])
                self._note(s["key"], s.get("num_clips"))
        by_rel: dict[str, set[str]] = defaultdict(set)
        for key in self.skipped:  # a source-level skip: the whole file
            if split_clip_key(key) is None and not key.endswith("@unreadable"):
                by_rel[key.rpartition("@")[0]].add(key)
        for key, n in self.num_clips.items():
            if len(self.done_items[key]) >= n * per_clip:
                by_rel[key.rpartition("@")[0]].add(key)
        self._complete = {rel: frozenset(keys) for rel, keys in by_rel.items()}

    def _note(self, key: str, num_clips: int | None) -> None:
        parsed = parse_item_key(key)
        if parsed is None:
            return
        self.done_items[parsed[0]].add(parsed[1:])
        if num_clips:
            self.num_clips[parsed[0]] = int(num_clips)

    def complete_for(self, rel: str) -> frozenset[str]:
        """Source keys of the file named `rel` that need no more work."""
        return self._complete.get(rel, frozenset())


def prepare(
    input_path: str | os.PathLike,
    out: str | os.PathLike,
    cfg: PrepareConfig,
    *,
    split: str = "train",
    shard: str | None = None,
    workers: int = 1,
    items_per_shard: int = 64,
    flush_seconds: float | None = 300.0,
    retry_skipped: bool = False,
    progress: bool = True,
    start_method: str = "spawn",
) -> PrepareReport:
    """Prepare every clip of the input that the cache at `out` does not hold yet.

    Args:
        input_path: a media folder or a CSV manifest (`v2meow.data.sources`).
        out: the cache directory (created with its parents; an existing one must have the same contract).
        cfg: the components and clip settings.
        split: split of items with none given.
        shard: "i/n": only sources assigned to shard i of n (by name, deterministic).
        workers: processes preparing clips (1: in this process).
        items_per_shard, flush_seconds: the writer's flush policy.
        retry_skipped: try again items an earlier run skipped.
        progress: show progress bars on stderr.
        start_method: "spawn" or "forkserver" for the worker pool.

    Raises:
        ConfigError: bad arguments, or `out` was made with other components.
        OutputError: `out` cannot be created (or is a file).
    """
    t0 = time.monotonic()
    _check_args(cfg, workers, items_per_shard)
    index, count = parse_shard(shard)
    sources = [s for s in list_sources(input_path, split) if in_shard(s, index, count)]
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: exists and is not a cache directory")
    threads_before = torch.get_num_threads()
    if workers == 1:
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        runner: InlineRunner | PoolRunner = InlineRunner()
    else:
        threads = cfg.threads or max(1, (os.cpu_count() or 1) // workers)
        cfg = dataclasses.replace(cfg, threads=threads)
        runner = PoolRunner(workers, init_worker, (cfg, os.getpid()), start_method=start_method)
    report = PrepareReport(sources=len(sources), out=str(out))
    try:
        contract = runner.call(describe, cfg)  # loads the components: a bad one fails before anything is written
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputError(f"{out}: cannot create the cache directory ({e.strerror or e})") from None
        write_manifest(out, contract)
        _remove_stale_tmp(out)
        state = CacheState(out, retry_skipped, per_clip=len(item_factors(cfg)))
        writer = CacheWriter(
            out,
            tag=f"{index}of{count}-{secrets.token_hex(3)}",
            items_per_shard=items_per_shard,
            flush_seconds=flush_seconds,
        )
        with _sigterm_as_interrupt():
            try:
                tasks = _scan(runner, sources, cfg, state, writer, report, progress)
                _process(runner, tasks, cfg, writer, report, progress)
            finally:
                writer.flush()
        report.total_items = len(state.items) + report.new_items
    finally:
        runner.close()
        torch.set_num_threads(threads_before)
        report.elapsed_s = time.monotonic() - t0
    return report


def _check_args(cfg: PrepareConfig, workers: int, items_per_shard: int) -> None:
    if not cfg.clip_seconds > 0:
        raise ConfigError(f"--clip-seconds must be positive, got {cfg.clip_seconds}")
    if not 0 <= cfg.min_seconds <= cfg.clip_seconds:
        raise ConfigError(f"--min-seconds must be in [0, --clip-seconds], got {cfg.min_seconds}")
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    if items_per_shard < 1:
        raise ConfigError(f"--items-per-shard must be at least 1, got {items_per_shard}")
    if cfg.beat_weights and not (0 <= cfg.beat_alpha <= 1 and cfg.beat_delta > 0):
        raise ConfigError(
            f"--beat-alpha must be in [0, 1] and --beat-delta positive, got {cfg.beat_alpha}, {cfg.beat_delta}"
        )
    lo, hi = STRETCH_RANGE
    if any(not (math.isfinite(r) and lo <= r <= hi) or r == 1.0 for r in cfg.stretch) or list(cfg.stretch) != sorted(
        set(cfg.stretch)
    ):
        raise ConfigError(
            f"stretch factors must be distinct, sorted, in [{lo:g}, {hi:g}] and not 1, got {list(cfg.stretch)}"
        )


def _scan(
    runner, sources, cfg, state: CacheState, writer: CacheWriter, report: PrepareReport, progress: bool
) -> list[ClipTask]:
    """Plan every source; record whole-file skips; return the clips still to prepare (in source order)."""
    plans: list[Plan | None] = [None] * len(sources)
    args = [(s, cfg, state.complete_for(s.rel)) for s in sources]

    def crashed(arg) -> Plan:
        return Plan(arg[0], key=f"{arg[0].rel}@unreadable", error="worker process died while reading this file")

    with _bar(len(sources), "scan", "file", progress) as bar:
        for i, plan in runner.run(plan_source, args, on_crash=crashed):
            plans[i] = plan
            bar.update(1)
    tasks = []
    factors = item_factors(cfg)
    for plan in plans:
        if plan.done:
            if plan.key in state.skipped:  # the whole file was skipped before
                report.previously_skipped += 1
            else:
                n = state.item_count.get(plan.key, 0)
                report.cached_items += n
                report.previously_skipped += max(0, state.num_clips.get(plan.key, 0) * len(factors) - n)
        elif plan.error:
            if plan.key in state.skipped:
                report.previously_skipped += 1
            else:
                _skip(writer, report, Skip(plan.key, plan.source.rel, plan.error, {"level": "source"}))
        else:
            for i in range(len(plan.spans)):
                task = task_for(plan, i)
                todo = []
                for r in factors:
                    key = stretch_key(task.key, r)
                    if key in state.items:
                        report.cached_items += 1
                    elif key in state.skipped:
                        report.previously_skipped += 1
                    else:
                        todo.append(r)
                if todo:
                    tasks.append(dataclasses.replace(task, factors=tuple(todo)))
    return tasks


def _process(runner, tasks: list[ClipTask], cfg, writer: CacheWriter, report: PrepareReport, progress: bool) -> None:
    internal = 0

    def crashed(arg) -> list[Skip]:
        task = arg[0]
        return [
            Skip(
                key,
                task.source.rel,
                f"clip {task.index}: worker process died (out of memory or a decoder crash)",
                {"num_clips": task.num_clips},
                internal=True,
            )
            for key in task.keys
        ]

    t0 = time.monotonic()
    with _bar(len(tasks), "prepare", "clip", progress) as bar:
        for _, results in runner.run(prepare_clip, [(t, cfg) for t in tasks], on_crash=crashed):
            for result in results:  # one per item of the clip (its --stretch factors)
                if isinstance(result, Done):
                    writer.add(ItemRecord(**result.record), result.tensors)
                    report.new_items += 1
                    report.new_seconds += result.record["duration"]
                else:
                    _skip(writer, report, result)
                    internal += result.internal
                    if internal >= ABORT_AFTER_INTERNAL and report.new_items == 0:
                        raise V2MeowError(
                            f"stopping: the first {internal} items failed with internal errors "
                            f"(last: {result.reason}); nothing was written for them"
                        )
            bar.update(1)
            elapsed = time.monotonic() - t0
            bar.set_postfix_str(
                f"{report.new_seconds / max(elapsed, 1e-9):.1f}x real time, {len(report.skipped)} skipped",
                refresh=False,
            )


def _skip(writer: CacheWriter, report: PrepareReport, skip: Skip) -> None:
    writer.skip(skip.key, skip.source, skip.reason, **skip.extra)
    report.skipped.append({"key": skip.key, "source": skip.source, "reason": skip.reason})


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        pass


@contextlib.contextmanager
def _bar(total: int, desc: str, unit: str, enabled: bool) -> Iterator[Any]:
    if not enabled or total == 0:
        yield _NoBar()
        return
    from tqdm import tqdm

    tty = sys.stderr.isatty()
    with tqdm(
        total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=tty, mininterval=0.5 if tty else 30.0
    ) as bar:
        yield bar


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a scheduler's preemption) raises KeyboardInterrupt, so buffered items are flushed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _remove_stale_tmp(root: Path) -> None:
    """Delete temporary shard files that killed runs left behind (never a recent one: it may be a live writer's)."""
    now = time.time()
    for pattern in (".items-*.tmp.safetensors", ".skipped-*.tmp.json"):
        for path in root.glob(pattern):
            with contextlib.suppress(OSError):
                if now - path.stat().st_mtime > STALE_TMP_SECONDS:
                    path.unlink()


def _hms(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else (f"{m}m{s:02d}s" if m else f"{s}s")
