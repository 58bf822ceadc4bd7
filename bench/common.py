"""Shared helpers for the benchmark scripts: timing, machine facts, one-core pinning."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch


def pin_one_core() -> None:
    """Run this process (and the threads it starts) on one CPU core, one torch thread."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    torch.set_num_threads(1)


def median_time(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of `fn()` over `repeats` runs, after `warmup` untimed runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def paired_times(
    a: Callable[[], object], b: Callable[[], object], repeats: int = 5, warmup: int = 1
) -> tuple[float, float, float]:
    """Median wall times of `a()` and `b()` and the median per-round ratio time(b) / time(a).

    Each round times a then b back to back, so a drift in machine speed (shared cores,
    clock changes) hits both sides of a ratio alike; the order alternates between rounds.
    """
    for _ in range(warmup):
        a(), b()
    ta, tb, ratios = [], [], []
    for i in range(repeats):
        pair = []
        for fn in (a, b) if i % 2 == 0 else (b, a):
            t = time.perf_counter()
            fn()
            pair.append(time.perf_counter() - t)
        da, db = pair if i % 2 == 0 else pair[::-1]
        ta.append(da), tb.append(db), ratios.append(db / da)
    return statistics.median(ta), statistics.median(tb), statistics.median(ratios)


def unpin() -> None:
    """Let this process run on every core again (undoes `pin_one_core`'s affinity).

    Meant as a subprocess `preexec_fn`: the child then starts, and creates its thread pools,
    on every core; pinning back after import would leave pools made on one core."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB.

    From /proc's VmHWM, which restarts at exec; `ru_maxrss` would carry over the peak of
    the process that forked us (the `make bench` runner, after the other benchmarks)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> dict:
    """CPU model, core count and software versions (each benchmark records its own thread count)."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")
        ]
        model = names[0] if names else model
    return {"cpu": model, "cores": os.cpu_count(), "torch": torch.__version__, "python": platform.python_version()}


def save_json(path: str | Path | None, result: dict) -> None:
    """Write a benchmark's figures to `path` (atomically, indented); nothing when `path` is None."""
    if not path:
        return
    import json

    from v2meow.safety.outputs import atomic_output

    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")


def pct(value: float | None, ref: float | None, digits: int = 3) -> str:
    """A table cell: `value` and its share of `ref` ("0.312 (64 %)"), "n/a" without a value."""
    if value is None:
        return "n/a"
    return f"{value:.{digits}f}" + (f" ({100 * value / ref:.0f} %)" if ref else "")
