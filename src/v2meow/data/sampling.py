"""Training order that a resumed run repeats exactly.

A run interrupted at step k and resumed from its checkpoint must see the batches, crops and
masks that the uninterrupted run saw from step k on, so its curves are the same curves (issue
35). Everything random is therefore a function of the run's seed and a position, never of how
far an RNG has been advanced in this process:

- the order of an epoch is `randperm(n)` drawn from a generator seeded with (seed, epoch);
- each example carries its own crop seed, (seed, epoch, position in the epoch): the sampler
  yields `(index, crop_seed)` pairs, which `StageDataset.__getitem__` accepts, so the crop does
  not depend on which worker loads it or on what was drawn before;
- a pass starts at the epoch and position that the global step says (`progress`), so a resumed
  run skips what it trained.

The model's own randomness (MaskGIT masks, condition dropout, dropout) is reseeded by the
training module at every step from (seed, global step).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch.utils.data import Sampler

_MIX = 0x9E3779B1  # spreads (seed, epoch, position) over distinct 63-bit seeds


def mixed_seed(*parts: int) -> int:
    """A 63-bit seed from whole numbers (the same parts give the same seed in every process)."""
    h = 0
    for p in parts:
        h = (h * _MIX + int(p) + 1) % (1 << 63)
    return h


class ResumableSampler(Sampler):
    """Shuffled `(index, crop_seed)` pairs over `n` items, the same for a given (seed, epoch).

    `progress` (a callable: batches trained so far, i.e. the global step) places each pass: when
    the loader starts iterating, epoch = batches // batches per epoch, and the pass begins past
    the batches of that epoch already trained. It is asked when the pass starts, which Lightning
    may do before any hook of the run (a loader with worker processes prefetches on `iter`), so
    the position never depends on hook order. Without `progress` (or when it says None: several
    processes, whose sampler Lightning wraps in a `DistributedSampler` over the whole list),
    `set_epoch` picks the epoch and a pass starts at its beginning. Epochs are whole passes
    (`n // batch_size` batches with `drop_last`; no `limit_train_batches`).
    """

    def __init__(self, n: int, seed: int = 0, batch_size: int = 1, progress: Callable[[], int | None] | None = None):
        self.n, self.seed, self.batch_size, self.progress = n, seed, max(1, batch_size), progress
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def position(self) -> tuple[int, int]:
        """(epoch, first item) of the next pass."""
        per_epoch = self.n // self.batch_size
        done = None if self.progress is None else self.progress()
        if done is None or per_epoch == 0:
            return self.epoch, 0
        epoch, batches = divmod(int(done), per_epoch)
        return epoch, batches * self.batch_size

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch, start = self.position()
        g = torch.Generator().manual_seed(mixed_seed(self.seed, epoch))
        order = torch.randperm(self.n, generator=g).tolist()
        for position in range(start, self.n):
            yield order[position], mixed_seed(self.seed, epoch, position)
