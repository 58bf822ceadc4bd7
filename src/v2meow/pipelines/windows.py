"""Windowed continuation: cover any duration with fixed-size, overlapping windows.

Each window after the first starts `context` seconds before the end of the previous
one; its first `context` seconds are already generated and serve as the prompt. All
boundaries sit on a time grid where every stream involved has whole frames, so the
same window can be cut from streams at different rates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from v2meow.stages.layout import common_grid


@dataclass(frozen=True)
class Window:
    start: float  # seconds
    end: float  # seconds
    context: float  # seconds at the start of the window that are already generated

    def frames(self, rate: float, total: int) -> tuple[int, int, int]:
        """(first frame, end frame, prompt frames) of this window at `rate`, clipped to `total`."""
        s = round(self.start * rate)
        e = total if math.isinf(self.end) else min(total, round(self.end * rate))
        return s, e, min(round(self.context * rate), e - s)


def plan_windows(duration: float, window: float, context: float, rates: list[float]) -> list[Window]:
    """Windows covering `[0, duration)`; the last one ends at `inf` (= the stream's end).

    Args:
        duration: seconds to cover.
        window: window length (a stage's training window).
        context: overlap used as the prompt of the next window (clamped to half a window).
        rates: frame rates of every stream cut with these windows.
    """
    grid = common_grid(rates)
    window = max(grid, math.floor(window / grid + 1e-6) * grid)
    context = math.floor(min(context, window / 2) / grid + 1e-6) * grid  # at most half a window: hops stay long
    hop = window - context
    windows, start = [], 0.0
    while True:
        if start + window >= duration - 1e-9:
            windows.append(Window(start, math.inf, context if windows else 0.0))
            return windows
        windows.append(Window(start, start + window, context if windows else 0.0))
        start += hop


def fill_windows(
    out, rate: float, duration: float, window: float, context: float, rates: list[float], bar, step, keep=None
):
    """Fill `out` `[S, ..., T]` (T frames at `rate`) window by window (`plan_windows`).

    `step(window, (start, end), prompt, bar, fixed)` returns the window's frames `[S, ..., end - start]`;
    `prompt` holds the frames already there at its start (the previous window's tail), or None.

    `keep` = (values `[S, ..., T]`, regenerate `[T]` bool) makes it an edit (`pipelines/edit.py`):
    `out` starts as `values`; a window with nothing to regenerate among its new frames is skipped;
    in the others generation starts at the first frame to regenerate (all before it in the window is
    the prompt), `fixed` gives the window's kept frames (-1 where free: a MaskGIT stage infills
    between them), and the kept frames are restored afterwards (an AR stage cannot read the frames
    on its right, so the join there is left to the stages after it and to the cross-fade).
    """
    import torch

    total = out.shape[-1]
    if keep is not None:
        values, regenerate = keep
        out.copy_(values)
    for w in plan_windows(duration, window, context, rates):
        s, e, p = w.frames(rate, total)
        fixed = None
        if keep is not None:
            new = regenerate[s + p : e]
            if not bool(new.any()):
                continue
            p += int(new.nonzero()[0, 0])  # the prompt runs up to the first frame to regenerate
            fixed = torch.where(regenerate[s:e], torch.full_like(values[..., s:e], -1), values[..., s:e])
        prompt = out[..., s : s + p] if p else None
        out[..., s:e] = step(w, (s, e), prompt, bar, fixed)
        if keep is not None:
            out[..., s:e] = torch.where(regenerate[s:e], out[..., s:e], values[..., s:e])
    return out
