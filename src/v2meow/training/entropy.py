"""Reference lines for a stage's loss: the unigram and bigram entropies of the tokens it predicts.

A stage's token loss is a cross-entropy in nats. Two numbers measured on the training split
say what it means:

    unigram H   H(x): the loss of a model that knows only how often each token occurs
    bigram H    H(x_t | x_{t-1}): the loss of one that also knows the previous token (along
                time, within each item)

A loss above the unigram line has not learned the token frequencies yet; one below the
bigram line uses more than the previous token. For multi-codebook targets each level (codebook)
is counted on its own and the entropies are averaged over levels. What a stage predicts:
stage 1 the semantic tokens, stage 2 the coarse levels `codes[:num_coarse]`, stage 3 the fine
levels `codes[num_coarse:num_coarse + num_fine]`.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable

import torch

from v2meow.stages.roles import role_of

MAX_TOKENS = 2_000_000  # tokens sampled over items, at most: a few seconds of counting


def entropy(counts: torch.Tensor) -> float:
    """Entropy in nats of the distribution proportional to `counts`."""
    counts = counts[counts > 0].double()
    if not counts.numel():
        return 0.0
    p = counts / counts.sum()
    return float(-(p * p.log()).sum())


def level_entropies(sequences: Iterable[torch.Tensor]) -> tuple[float, float]:
    """(unigram H, conditional bigram H) in nats of token sequences of one level, each `[T]`.

    Bigrams are pairs of neighbours inside one sequence (never across two):
    H(x_t | x_{t-1}) = H(x_{t-1}, x_t) - H(x_{t-1}) over those pairs."""
    tokens, prev, cur = [], [], []
    for seq in sequences:
        seq = seq.reshape(-1).long()
        tokens.append(seq)
        prev.append(seq[:-1])
        cur.append(seq[1:])
    if not tokens:
        return math.nan, math.nan
    tokens_all = torch.cat(tokens)
    unigram = entropy(torch.unique(tokens_all, return_counts=True)[1])
    prev_all, cur_all = torch.cat(prev), torch.cat(cur)
    if not prev_all.numel():
        return unigram, math.nan
    size = int(tokens_all.max()) + 1
    pairs = torch.unique(prev_all * size + cur_all, return_counts=True)[1]
    first = torch.unique(prev_all, return_counts=True)[1]
    return unigram, max(0.0, entropy(pairs) - entropy(first))


def token_entropies(items: Iterable[torch.Tensor]) -> dict[str, float]:
    """Unigram and bigram entropies (nats) of items of shape `[T]` (one level) or `[K, T]` (K levels),
    averaged over levels; also how many tokens and levels they were counted from."""
    levels: dict[int, list[torch.Tensor]] = {}
    tokens = 0
    for item in items:
        item = item if item.dim() == 2 else item[None]
        for k, row in enumerate(item):
            levels.setdefault(k, []).append(row)
        tokens += item.numel()
    per_level = [level_entropies(rows) for _, rows in sorted(levels.items())]

    def mean(xs) -> float:
        return float(sum(xs) / len(xs)) if xs else math.nan

    return {
        "unigram": mean([u for u, _ in per_level]),
        "bigram": mean([b for _, b in per_level]),
        "tokens": tokens,
        "levels": len(per_level),
    }


def stage_targets(
    item: dict[str, torch.Tensor], stage: str, num_coarse: int = 0, num_fine: int | None = None
) -> torch.Tensor:
    """The tokens `stage` (a role or its component name, `stages.roles.role_of`) predicts in one cached
    item: `[T_s]` semantic or `[K, T_a]` codec levels."""
    role = role_of(stage).name
    if role == "semantic":
        return item["semantic"]
    codes = item["codes"]
    if role == "coarse":
        return codes[:num_coarse]
    return codes[num_coarse : None if num_fine is None else num_coarse + num_fine]


def sample_targets(
    reader,
    stage: str,
    num_coarse: int = 0,
    num_fine: int | None = None,
    max_tokens: int = MAX_TOKENS,
    seed: int = 0,
    log=None,
) -> Iterable[torch.Tensor]:
    """Target tokens of the reader's items in a seeded random order, until `max_tokens` are drawn
    (the last item cut to fit); reads only the tensor the stage predicts. `log` gets progress lines."""
    names = ("semantic",) if role_of(stage).name == "semantic" else ("codes",)
    order = torch.randperm(len(reader), generator=torch.Generator().manual_seed(seed)).tolist()
    drawn = 0
    for n, i in enumerate(order):
        targets = stage_targets(reader.load(i, names=names), stage, num_coarse, num_fine)
        room = max(1, (max_tokens - drawn) // max(1, targets.shape[0] if targets.dim() == 2 else 1))
        targets = targets[..., :room]
        drawn += targets.numel()
        yield targets
        if log and (n + 1) % 500 == 0:
            log(f"{n + 1}/{len(order)} items, {drawn} tokens")
        if drawn >= max_tokens:
            break


def reader_entropies(
    reader,
    stage: str,
    num_coarse: int = 0,
    num_fine: int | None = None,
    max_tokens: int = MAX_TOKENS,
    seed: int = 0,
    quiet: bool = False,
) -> dict[str, float]:
    """`token_entropies` of what `stage` predicts over the items of an open `CacheReader` (at most `max_tokens`)."""
    log = (
        None if quiet else (lambda text: print(f"v2meow-train: target entropies: {text}", file=sys.stderr, flush=True))
    )
    if log:
        log(f"counting the {stage} targets of {len(reader)} training items (at most {max_tokens} tokens)")
    out = token_entropies(sample_targets(reader, stage, num_coarse, num_fine, max_tokens, seed, log))
    if log:
        log(f"unigram H {out['unigram']:.3f} nats, bigram H {out['bigram']:.3f} nats ({out['tokens']} tokens)")
    return out
