"""Benchmark: how much harmony a token budget can keep — residual k-means on 80-band log-mel
frames (62.5 Hz), inverted by Griffin-Lim, on held-out clips with a steady tempo.

A mel-codec (fixed log-mel encoder + RVQ + a vocoder) can do no better than its quantized mel
allows; this measures that ceiling for several codebook budgets, against the unquantized mel.
Needs the demo data (make demo-data). Run: `.venv/bin/python bench/codec_bound.py` (a few minutes).
"""

import glob
import math
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: recipes/
from sklearn.cluster import MiniBatchKMeans

from recipes.ladder import held_out_excerpts
from v2meow import media
from v2meow.evaluation.codec_quality import HOP, N_FFT, chroma_similarity, log_spectral_distance, mel_filterbank

torch.set_num_threads(1)
SR = 16000
fb = mel_filterbank(SR, N_FFT, 80).double()
win = torch.hann_window(N_FFT, dtype=torch.float64)


def logmel(w):
    spec = torch.stft(w.double(), N_FFT, HOP, window=win, center=True, return_complex=True)
    return torch.log(fb @ spec.abs() + 1e-5).T.numpy()  # [T, 80]


def gl(logm, n, iters=48):
    mag = (torch.linalg.pinv(fb) @ (torch.from_numpy(logm.T).exp() - 1e-5).clamp(min=0)).clamp(min=0)
    g = torch.Generator().manual_seed(0)
    ang = torch.exp(2j * math.pi * torch.rand(mag.shape, generator=g, dtype=torch.float64))
    prev = torch.zeros_like(ang)
    for _ in range(iters):
        y = torch.istft(mag * ang, N_FFT, HOP, window=win, center=True, length=n)
        r = torch.stft(y, N_FFT, HOP, window=win, center=True, return_complex=True)
        ang = r - (0.99 / 1.99) * prev
        prev = r
        ang = ang / ang.abs().clamp(min=1e-16)
    return torch.istft(mag * ang, N_FFT, HOP, window=win, center=True, length=n).float()


train = []
for f in (
    sorted(glob.glob("data/demo/clips/wesnoth-1.16-music/*.wav"))[::2]
    + sorted(glob.glob("data/demo/clips/warzone2100-music/*.wav"))[::2]
):
    w, _ = media.read_audio(f, SR, channels=1)
    train.append(logmel(w[0]))
X = np.concatenate(train)
rng = np.random.default_rng(0)
X = X[rng.choice(len(X), min(40000, len(X)), replace=False)]
ex = held_out_excerpts(Path("data/demo"), 6, 10.0)
refs = [media.resample(w.numpy(), sr, SR)[0] for _, w, sr in ex]
refs = [torch.from_numpy(r) for r in refs]
base = [
    (chroma_similarity(r, gl(logmel(r), len(r)), SR), log_spectral_distance(r, gl(logmel(r), len(r)))) for r in refs
]
chroma, lsd = np.mean(base, 0)
print(f"unquantized mel+GL: chroma {chroma:.3f} lsd {lsd:.3f}", flush=True)
for levels, size in [(6, 256), (8, 1024), (12, 1024)]:
    resid = X.copy()
    books = []
    for level in range(levels):
        km = MiniBatchKMeans(size, random_state=level, batch_size=4096, n_init=1, max_iter=50).fit(resid)
        books.append(km)
        resid = resid - km.cluster_centers_[km.predict(resid)]
    scores = []
    for r in refs:
        m = logmel(r)
        q = np.zeros_like(m)
        res = m.copy()
        for km in books:
            c = km.cluster_centers_[km.predict(res)]
            q += c
            res -= c
        y = gl(q, len(r))
        scores.append((chroma_similarity(r, y, SR), log_spectral_distance(r, y)))
    chroma, lsd = np.mean(scores, 0)
    print(
        f"{levels} x {size}: chroma {chroma:.3f} lsd {lsd:.3f} (bits/s at 62.5 Hz: {int(levels * math.log2(size) * 62.5)})",
        flush=True,
    )
