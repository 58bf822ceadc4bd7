"""Run a function over many inputs, in this process or in a pool of spawned workers.

Both runners yield `(index, result)` pairs as results arrive. The pool keeps a few
tasks per worker in flight (so results stream back and memory stays bounded) and
survives worker deaths: when a worker dies (out of memory, a decoder crash), the
tasks that were in flight are run again one at a time, and the one that kills its
worker again is given to `on_crash` instead of stopping the run.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any


class InlineRunner:
    """Runs every call in the calling process, in order."""

    workers = 1

    def call(self, fn: Callable[[Any], Any], arg: Any) -> Any:
        return fn(arg)

    def run(
        self, fn: Callable[[Any], Any], items: Sequence[Any], on_crash: Callable[[Any], Any] | None = None
    ) -> Iterator[tuple[int, Any]]:
        for i, item in enumerate(items):
            yield i, fn(item)

    def close(self) -> None:
        pass


class PoolRunner:
    """A process pool (spawn or forkserver start method; never fork, which is unsafe with torch threads).

    Args:
        workers: number of processes.
        initializer, initargs: run once in every worker (e.g. set the torch thread count).
        start_method: "spawn" (default) or "forkserver".
        per_worker: tasks in flight per worker.
    """

    def __init__(
        self,
        workers: int,
        initializer: Callable[..., None] | None = None,
        initargs: tuple = (),
        start_method: str = "spawn",
        per_worker: int = 2,
    ):
        self.workers = workers
        self._ctx = multiprocessing.get_context(start_method)
        self._init = (initializer, initargs)
        self._limit = max(1, workers * per_worker)
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.workers, mp_context=self._ctx, initializer=self._init[0], initargs=self._init[1]
        )

    def _restart(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new_pool()

    def call(self, fn: Callable[[Any], Any], arg: Any) -> Any:
        """Run one call in a worker (e.g. to load and describe the components there)."""
        return self._pool.submit(fn, arg).result()

    def run(
        self, fn: Callable[[Any], Any], items: Sequence[Any], on_crash: Callable[[Any], Any] | None = None
    ) -> Iterator[tuple[int, Any]]:
        """Yield `(i, fn(items[i]))` in completion order.

        Args:
            on_crash: result for an item whose worker died twice (default: re-raise).
        """
        pending: deque[int] = deque(range(len(items)))
        suspects: deque[int] = deque()  # in flight when a worker died: retried alone
        inflight: dict[Future, int] = {}
        while pending or suspects or inflight:
            if suspects and not inflight:
                i = suspects.popleft()
                try:
                    result = self._pool.submit(fn, items[i]).result()
                except BrokenProcessPool:
                    self._restart()
                    if on_crash is None:
                        raise
                    result = on_crash(items[i])
                yield i, result
                continue
            while not suspects and pending and len(inflight) < self._limit:
                i = pending.popleft()
                inflight[self._pool.submit(fn, items[i])] = i
            done, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
            broken = False
            for future in done:
                try:
                    result = future.result()
                except BrokenProcessPool:
                    broken = True
                    continue
                yield inflight.pop(future), result
            if broken:
                suspects.extend(sorted(inflight.values()))
                inflight.clear()
                self._restart()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
