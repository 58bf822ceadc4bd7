"""Phase from STFT magnitude by phase-gradient integration (PGHI; Průša, Balazs, Søndergaard 2017).

For a Gaussian window `exp(-pi t^2 / lam)` (`lam` in samples^2) the STFT's log-magnitude
`s` and phase `phi` are tied by (phase referred to each frame's centre, `w` in cycles/sample):

    dphi/dt = 2 pi w + (1 / lam) ds/dw        dphi/dw = -lam ds/dt

A Hann window of length `n_fft` behaves like a Gaussian with `lam = 0.25645 n_fft^2`. From the
magnitude alone the phase's gradient is known everywhere; PGHI integrates it from the loudest
coefficient outwards, always through the loudest neighbours, where the gradient estimate is
reliable (the paper uses a max-heap: each popped coefficient passes its phase to its unvisited
neighbours by the trapezoidal rule). This module integrates along the *maximum spanning tree* of
the time-frequency grid with edge weight `min(s_u, s_v)` (scipy's compiled Kruskal): the tree's
path between two coefficients is the one whose quietest coefficient is loudest, the paths the
heap follows, and every step of the integration is vectorised (no Python loop per coefficient):

1. coefficients above `tol * max` and `frame_tol` times their frame's loudest are the nodes; edges
   join time and frequency neighbours;
2. minimum spanning tree of weight `max(s) + 1 - min(s_u, s_v)` (+ `TIE` times the same of the
   louder end), a virtual root joined to the loudest coefficient of each island (its phase is 0);
3. the phase is the sum of the trapezoidal steps along the tree path from the root: one compiled
   Dijkstra pass over the tree, each directed edge weighing its step plus a whole number of turns
   (positive weights; the sums are the phases modulo 2 pi);
4. the coefficients left out get a seeded random phase (they are quiet: noise is what they sound like).

The paper asks for a redundant STFT (hop <= n_fft / 4); `pghi` can interpolate a coarser magnitude
in time (`upsample`) and invert on that finer grid, but for the mel codec's frames (hop 320,
n_fft 1024) the codec's own grid measured better and faster (docs/codec.md, "Phase
reconstruction"). `iters > 0` refines with fast Griffin-Lim iterations started from the PGHI phase.
Output is deterministic: the random phase is seeded, the graph algorithms have no randomness.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra, minimum_spanning_tree

from v2meow.signal.griffin_lim import griffin_lim

TIE = 1e-3  # weight of the louder end of an edge: among equally quiet paths, prefer the louder
FRAME_TOL = 1e-2  # coefficients 40 dB under their frame's loudest are left out (measured: no loss, 1.5x faster)
HANN_LAMBDA = 0.25645  # lam / n_fft^2 of the Gaussian that best matches a Hann window (Průša et al.)


def pghi_phase(
    mag: np.ndarray,
    n_fft: int,
    hop: int,
    lam: float | None = None,
    tol: float = 1e-5,
    frame_tol: float = FRAME_TOL,
    seed: int = 0,
) -> np.ndarray:
    """Magnitude `[F, T]` (F = n_fft // 2 + 1; centred frames `hop` apart) -> phase `[F, T]` (float64)
    in `torch.stft`'s convention (each frame's FFT starts `n_fft // 2` samples before its centre).

    Coefficients above `tol` times the loudest and `frame_tol` times their frame's loudest are
    integrated; the others get a uniform random phase from a generator seeded with `seed`."""
    mag = np.asarray(mag, dtype=np.float64)
    f, t = mag.shape
    if f != n_fft // 2 + 1:
        raise ValueError(f"magnitude has {f} bins, n_fft {n_fft} needs {n_fft // 2 + 1}")
    lam = HANN_LAMBDA * n_fft**2 if lam is None else lam
    phase = np.zeros((f, t))
    top = float(mag.max()) if mag.size else 0.0
    if top <= 0.0:
        return phase
    floor = tol * top
    s = np.log(np.maximum(mag, floor))  # [F, T]
    g_f = np.gradient(s, axis=0) if f > 1 else np.zeros_like(s)  # ds per bin
    g_t = np.gradient(s, axis=1) if t > 1 else np.zeros_like(s)  # ds per frame
    bins = np.arange(f)[:, None]
    step_t = hop * (2 * math.pi * bins / n_fft + n_fft * g_f / lam)  # [F, T] phase advance per frame
    step_f = -(lam / (n_fft * hop)) * g_t  # [F, T] phase advance per bin

    flat = s.ravel()  # node index = bin * T + frame
    valid = (mag > np.maximum(floor, frame_tol * mag.max(axis=0, keepdims=True))).ravel()
    n = f * t
    idx = np.arange(n).reshape(f, t)
    # edges between valid neighbours: along time (bin, frame) - (bin, frame + 1), along frequency
    a_t, b_t = idx[:, :-1].ravel(), idx[:, 1:].ravel()
    a_f, b_f = idx[:-1, :].ravel(), idx[1:, :].ravel()
    keep_t, keep_f = valid[a_t] & valid[b_t], valid[a_f] & valid[b_f]
    a = np.concatenate([a_t[keep_t], a_f[keep_f]])
    b = np.concatenate([b_t[keep_t], b_f[keep_f]])
    top_s = float(flat[valid].max())
    lo, hi = np.minimum(flat[a], flat[b]), np.maximum(flat[a], flat[b])
    weight = (top_s + 1.0 - lo) + TIE * (top_s + 1.0 - hi)  # > 0: zero would read as "no edge"
    grid = coo_matrix((weight, (a, b)), shape=(n, n)).tocsr()
    tree = minimum_spanning_tree(grid).tocoo()  # a forest: one tree per island of valid coefficients
    u, v = tree.row, tree.col
    # one root per island, its loudest coefficient (the first of equals), joined to a virtual root (index n)
    count, labels = connected_components(tree, directed=False)
    loud = np.where(valid, flat, -np.inf)
    best = np.full(count, -np.inf)
    np.maximum.at(best, labels, loud)
    tops = np.flatnonzero(valid & (loud == best[labels]))
    _, first = np.unique(labels[tops], return_index=True)
    roots = tops[first]
    # the trapezoidal step from u to v (v is u's next frame or next bin), both ways along the tree
    st, sf = step_t.ravel(), step_f.ravel()
    along_t = (np.abs(v - u) == 1) & (t > 1)  # time neighbours differ by 1, frequency ones by T
    step = np.where(along_t, st[u] + st[v], sf[u] + sf[v]) * np.where(v > u, 0.5, -0.5)
    # path sums by Dijkstra on the tree (the only path is the shortest): every edge weighs its
    # step plus a whole number of turns, large enough to be positive, which the phase does not see
    turn = 2 * math.pi * (math.floor(float(np.abs(step).max(initial=0.0)) / (2 * math.pi)) + 1)
    rows = np.concatenate([u, v, np.full(roots.size, n)])
    cols = np.concatenate([v, u, roots])
    vals = np.concatenate([turn + step, turn - step, np.full(roots.size, turn)])
    graph = csr_matrix((vals, (rows, cols)), shape=(n + 1, n + 1))
    dist = dijkstra(graph, directed=True, indices=n)[:n]  # [F * T]: phase + turns
    phase = np.random.default_rng(seed).uniform(0.0, 2 * math.pi, n)  # under the tolerances: random
    phase[valid] = np.mod(dist[valid], 2 * math.pi)
    phase = phase.reshape(f, t)
    return phase + math.pi * bins  # centred phase -> torch.stft's (frame starts n_fft // 2 earlier)


def interpolate_frames(mag: torch.Tensor, factor: int) -> torch.Tensor:
    """`[..., F, T]` -> `[..., F, (T - 1) * factor + 1]`: linear interpolation of the magnitude in time
    (frame k of the result sits at `k / factor` of the input's frames)."""
    if factor == 1 or mag.shape[-1] < 2:
        return mag
    t = mag.shape[-1]
    pos = torch.arange((t - 1) * factor + 1, dtype=torch.float64) / factor
    lo = pos.floor().long().clamp(max=t - 2)
    w = (pos - lo).to(mag.dtype)
    return mag[..., lo] * (1 - w) + mag[..., lo + 1] * w


def pghi(
    mag: torch.Tensor,
    n_fft: int,
    hop: int,
    length: int,
    upsample: int = 1,
    iters: int = 0,
    tol: float = 1e-5,
    momentum: float = 0.99,
) -> torch.Tensor:
    """`mag` `[..., F, T]` (centred Hann frames `hop` apart) -> waveform `[..., length]`.

    The magnitude is interpolated to `upsample` times as many frames (hop `hop / upsample`,
    which must be whole), phased by PGHI there and inverted; with `iters > 0` the PGHI phase,
    taken at the original frames, starts `iters` fast Griffin-Lim iterations at hop `hop`.
    """
    if mag.shape[-2] != n_fft // 2 + 1:
        raise ValueError(f"magnitude has {mag.shape[-2]} bins, n_fft {n_fft} needs {n_fft // 2 + 1}")
    if upsample < 1 or hop % upsample:
        raise ValueError(f"upsample must divide hop {hop}, got {upsample}")
    lead = mag.shape[:-2]
    mag = mag.reshape(-1, *mag.shape[-2:])  # [B, F, T]
    fine_hop = hop // upsample
    fine = interpolate_frames(mag, upsample)  # [B, F, T']
    window = torch.hann_window(n_fft, dtype=mag.dtype, device=mag.device)
    phases = np.stack([pghi_phase(m.detach().cpu().numpy(), n_fft, fine_hop, tol=tol) for m in fine])  # [B, F, T']
    phase = torch.from_numpy(phases).to(mag.device)
    if iters == 0:
        spec = torch.polar(fine, phase.to(fine.dtype))  # [B, F, T']
        wav = torch.istft(spec, n_fft, fine_hop, window=window, center=True, length=length)  # [B, length]
    else:
        coarse = phase[..., ::upsample].to(mag.dtype)  # [B, F, T]: the original frames
        wav = griffin_lim(mag, n_fft, hop, length, iters=iters, momentum=momentum, phase=coarse)
    return wav.reshape(*lead, length)
