"""Output loudness: integrated loudness (ITU-R BS.1770), true peak, and normalisation to a target.

    out, info = normalize_loudness(wav, sample_rate)   # -14 LUFS, true peak <= -1 dBTP
    info.before, info.after, info.true_peak            # LUFS, LUFS, dBTP

- Integrated loudness: BS.1770-4's K-weighting (a high shelf, +4 dB above ~1.5 kHz, then a
  38-Hz high pass: the two biquads of the audio-EQ cookbook that pyloudnorm also designs for any
  sample rate), 400-ms blocks every 100 ms, -70 LUFS absolute and -10 LU relative gates. A clip
  shorter than one block is measured looped. The filters are applied in the frequency domain
  (numpy FFT, overlap-add with a 1-s tail, so the result is the IIR filter's to ~1e-9) and the
  blocks vectorised. Measured reason for not calling pyloudnorm at run time: importing it (it
  imports scipy.signal) took 0.7-1.4 s of every generation's start-up on this 2-core machine,
  and its per-block Python loop grows with length; `tests/signal/test_loudness.py` holds this
  version to pyloudnorm's figures.
- True peak: BS.1770-4 annex 2, the largest magnitude of the signal oversampled 4x by a
  polyphase FIR interpolator (a Kaiser-windowed sinc, the design of `scipy.signal.resample_poly`
  written with numpy for the same start-up reason), in dB relative to full scale.
- Normalisation: one gain to the target, then, where the true peak would pass the ceiling,
  a look-ahead limiter: the gain each sample needs is spread (sliding minimum, then a moving
  average over the same window, which never exceeds the minimum it averages) so that it falls
  smoothly before a peak and recovers after it. The limiter costs loudness, so gain and
  limiter are repeated a few times; a last plain gain guarantees the ceiling. Near-silent
  audio (below the -70 LUFS gate) is returned unchanged.

The default target (-14 LUFS) is what the large streaming services play music at; -1 dBTP
leaves headroom for lossy encoders (AES TD1004, EBU R128 s1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

TARGET_LUFS = -14.0
CEILING_DBTP = -1.0
GATE_LUFS = -70.0  # BS.1770's absolute gate: below it nothing is measured, so nothing is normalised
MIN_LUFS, MAX_LUFS = -70.0, 0.0  # accepted targets
_BLOCK = 0.4  # seconds, BS.1770 gating block


@dataclass
class LoudnessInfo:
    before: float  # LUFS (-inf: silence)
    after: float  # LUFS
    true_peak: float  # dBTP after
    gain_db: float  # overall gain applied (before limiting)
    limited: bool  # whether the limiter acted


def _channels_last(wav: np.ndarray) -> np.ndarray:
    x = np.asarray(wav)
    x = x if x.dtype.kind == "f" else x.astype(np.float64)
    return x[:, None] if x.ndim == 1 else x.T  # [N, C], a view: pieces become float64 where they are filtered


K_SHELF = (1500.0, 4.0, 1 / math.sqrt(2))  # K-weighting stage 1: high shelf (Hz, dB, Q)
K_HIGHPASS = (38.0, 0.5)  # stage 2: high pass (Hz, Q)
_CHANNEL_GAINS = (1.0, 1.0, 1.0, 1.41, 1.41)  # BS.1770: L, R, C, then the surrounds


def _biquads(sample_rate: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(b, a) of the two K-weighting biquads at `sample_rate` (audio-EQ cookbook formulas)."""
    f0, gain_db, q = K_SHELF
    amp, w0 = 10 ** (gain_db / 40), 2 * math.pi * f0 / sample_rate
    alpha, cos = math.sin(w0) / (2 * q), math.cos(w0)
    root = 2 * math.sqrt(amp) * alpha
    shelf = (
        np.array([amp * ((amp + 1) + (amp - 1) * cos + root), -2 * amp * ((amp - 1) + (amp + 1) * cos),
                  amp * ((amp + 1) + (amp - 1) * cos - root)]),
        np.array([(amp + 1) - (amp - 1) * cos + root, 2 * ((amp - 1) - (amp + 1) * cos),
                  (amp + 1) - (amp - 1) * cos - root]),
    )  # fmt: skip
    f0, q = K_HIGHPASS
    w0 = 2 * math.pi * f0 / sample_rate
    alpha, cos = math.sin(w0) / (2 * q), math.cos(w0)
    highpass = (np.array([(1 + cos) / 2, -(1 + cos), (1 + cos) / 2]), np.array([1 + alpha, -2 * cos, 1 - alpha]))
    return [shelf, highpass]


def k_weighted(x: np.ndarray, sample_rate: int, chunk: int = 1 << 16):
    """`x` `[N, C]` through the K-weighting filters, as consecutive pieces `[L, C]` float64 covering the N
    samples in order (FFT overlap-add in chunks of `chunk` samples with a 1-s tail, by which the filters'
    impulse response has died away; memory stays O(chunk), and FFTs this size are the fastest here)."""
    n, tail = x.shape[0], int(sample_rate)
    size = 1 << math.ceil(math.log2(min(chunk, n) + tail))  # FFT length
    z = np.exp(-1j * np.linspace(0, math.pi, size // 2 + 1))  # e^{-jw} on the rfft grid
    response = np.ones_like(z)
    for b, a in _biquads(sample_rate):
        response *= (b[0] + z * (b[1] + z * b[2])) / (a[0] + z * (a[1] + z * a[2]))
    step, carry = size - tail, np.zeros((tail, x.shape[1]))
    for start in range(0, n, step):
        piece = np.asarray(x[start : start + step], np.float64)  # [L, C]
        y = np.fft.irfft(np.fft.rfft(piece, size, axis=0) * response[:, None], size, axis=0)
        y[:tail] += carry  # [size, C] this piece plus the tail of the one before
        length = min(step, n - start)
        yield y[:length]
        carry = y[length : length + tail]


def block_energies(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mean square of the K-weighted `x` `[N, C]` over 400-ms blocks every 100 ms -> `[J, C]`. There are
    `round((N / rate - 0.4) / 0.1) + 1` blocks, pyloudnorm's count: a last block may run past the end
    and counts the missing samples as silence."""
    n, block, hop = x.shape[0], round(_BLOCK * sample_rate), _BLOCK / 4 * sample_rate
    count = int(np.round((n - block) / hop)) + 1
    starts = (np.arange(count) * hop).astype(np.int64)  # [J] int(), as pyloudnorm's bounds
    ends = np.minimum(starts + block, n)
    marks = np.unique(np.concatenate([starts, ends]))  # sample indices where the running energy is read
    at = np.zeros((marks.size, x.shape[1]))  # running energy before each mark
    total, done, i = np.zeros(x.shape[1]), 0, int(np.searchsorted(marks, 0, side="right"))
    for y in k_weighted(x, sample_rate):
        run = np.cumsum(y**2, axis=0) + total  # [L, C] energy up to and including each sample
        j = int(np.searchsorted(marks, done + y.shape[0], side="right"))
        at[i:j] = run[marks[i:j] - done - 1]
        total, done, i = run[-1], done + y.shape[0], j
    energy = dict(zip(marks.tolist(), at))
    return np.stack([energy[e] - energy[s] for s, e in zip(starts.tolist(), ends.tolist())]) / block  # [J, C]


def integrated_loudness(wav: np.ndarray, sample_rate: int) -> float:
    """BS.1770-4 integrated loudness of `wav` (`[N]` or `[C, N]`) in LUFS; -inf for silence."""
    x = _channels_last(wav)  # [N, C]
    if x.shape[0] == 0 or not np.any(x):
        return -math.inf
    need = math.ceil(_BLOCK * sample_rate) + 1
    if x.shape[0] < need:  # shorter than one gating block: measure it looped
        x = np.tile(x, (math.ceil(need / x.shape[0]), 1))
    z = block_energies(x, sample_rate)  # [J, C]
    gains = np.asarray(_CHANNEL_GAINS[: x.shape[1]] + (1.0,) * max(0, x.shape[1] - 5))  # [C]
    with np.errstate(divide="ignore"):
        loud = -0.691 + 10 * np.log10(z @ gains)  # [J] LUFS per block
        keep = loud >= GATE_LUFS
        if not keep.any():
            return -math.inf
        relative = -0.691 + 10 * np.log10(z[keep].mean(0) @ gains) - 10.0
        keep &= loud > relative
        value = -0.691 + 10 * np.log10(z[keep].mean(0) @ gains) if keep.any() else -math.inf
    return float(value) if math.isfinite(value) else -math.inf


PIECE = 1 << 18  # samples per piece of the true-peak and limiter passes: memory O(piece), not O(length)


def _pieces(n: int, margin: int):
    """(lo, a, b, hi) for consecutive pieces [a, b) of [0, n), each read with `margin` samples of context [lo, hi)."""
    piece = PIECE
    for a in range(0, n, piece):
        b = min(n, a + piece)
        yield max(0, a - margin), a, b, min(n, b + margin)


def true_peak(wav: np.ndarray, sample_rate: int | None = None, oversample: int = 4) -> float:
    """True peak of `wav` (`[N]` or `[C, N]`) in dBTP: the largest magnitude of the signal
    oversampled `oversample` times (BS.1770-4 annex 2), never below the sample peak; -inf for silence.
    `sample_rate` is accepted for symmetry (the 4x rule of BS.1770 applies below 176.4 kHz)."""
    peak = _true_peak_linear(np.asarray(wav), oversample)
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf


def _true_peak_linear(x: np.ndarray, oversample: int = 4) -> float:
    """The largest oversampled magnitude of `x` `[N]` or `[C, N]`, piece by piece (an oversampled value
    depends on the 10 input samples either side: a 16-sample margin gives the whole signal's values)."""
    x2 = np.atleast_2d(x)  # [C, N]
    peak = 0.0
    for lo, a, b, hi in _pieces(x2.shape[-1], 16):
        up = _oversampled(x2[:, lo:hi], oversample)[:, (a - lo) * oversample : (b - lo) * oversample]
        peak = max(peak, float(np.abs(up).max(initial=0.0)), float(np.abs(x2[:, a:b]).max(initial=0.0)))
    return peak


def _interpolator(up: int) -> np.ndarray:
    """The `up`x interpolation filter `[20 * up + 1]`: a low-pass at the original Nyquist, a sinc under a
    Kaiser window (beta 5), unit gain at DC times `up` (`scipy.signal.resample_poly`'s design)."""
    taps = 20 * up + 1
    m = np.arange(taps) - (taps - 1) / 2
    h = np.sinc(m / up) / up * np.kaiser(taps, 5.0)
    return h / h.sum() * up


def _oversampled(x: np.ndarray, oversample: int) -> np.ndarray:
    """`x` `[N]` or `[C, N]` oversampled -> `[C, N * oversample]`, the samples of `resample_poly(x, up, 1)`:
    output `up * m + p` is phase `p`'s sub-filter (every `up`-th tap) run over the input."""
    x2 = np.atleast_2d(np.asarray(x, np.float64))  # [C, N]
    if x2.shape[-1] < 2:
        return x2
    h, n, half = _interpolator(oversample), x2.shape[-1], 10  # half: the filter's delay in input samples
    out = np.empty((x2.shape[0], n * oversample))
    for p in range(oversample):
        g = h[p::oversample]  # [<= 2 * half + 1]
        for c in range(x2.shape[0]):
            out[c, p::oversample] = np.convolve(x2[c], g)[half : half + n]
    return out  # [C, N * oversample]


def _peak_envelope(x: np.ndarray, oversample: int) -> np.ndarray:
    """`[N]`: per sample, the largest oversampled magnitude over all channels within that sample's span."""
    x2 = np.atleast_2d(x)
    n = x2.shape[-1]
    up = np.abs(_oversampled(x2, oversample)).max(0)  # [N * oversample]
    up = np.pad(up, (0, max(0, n * oversample - up.size)))[: n * oversample].reshape(n, oversample).max(1)
    # the true peak between samples k and k + 1 belongs to both
    return np.maximum(np.maximum(up, np.abs(x2).max(0)), np.concatenate([up[1:], up[-1:]]))


def _moving_min(x: np.ndarray, w: int) -> np.ndarray:
    """Minimum of `x` `[N]` over the centred odd window `w`, edges repeated (van Herk / Gil-Werman: the
    minimum of a suffix and a prefix of two neighbouring blocks of `w`, O(N))."""
    n, half = x.size, w // 2
    padded = np.pad(x, (half, half + (-(n + 2 * half)) % w), mode="edge").reshape(-1, w)  # [B, w]
    prefix = np.minimum.accumulate(padded, axis=1).ravel()
    suffix = np.minimum.accumulate(padded[:, ::-1], axis=1)[:, ::-1].ravel()
    return np.minimum(suffix[:n], prefix[w - 1 : w - 1 + n])


def _moving_mean(x: np.ndarray, w: int) -> np.ndarray:
    """Mean of `x` `[N]` over the centred odd window `w`, edges repeated."""
    half = w // 2
    run = np.concatenate([[0.0], np.cumsum(np.pad(x, half, mode="edge"))])
    return (run[w:] - run[:-w]) / w


def _envelope(x: np.ndarray) -> np.ndarray:
    """`_peak_envelope(x, 4)` of `x` `[C, N]` piece by piece -> `[N]` float32 (an oversampled value depends on
    10 input samples either side, the envelope on one more: a 16-sample margin gives the whole signal's)."""
    env = np.empty(x.shape[-1], np.float32)
    for lo, a, b, hi in _pieces(x.shape[-1], 16):
        env[a:b] = _peak_envelope(x[:, lo:hi], 4)[a - lo : b - lo]
    return env


def _limited(x: np.ndarray, gain: float, env: np.ndarray, sample_rate: int, ceiling_db: float, lookahead: float):
    """`x * gain` (`x` `[C, N]`, `env` its `_envelope`, which scales with the gain) under `limit`'s smooth
    gain, piece by piece with a margin wider than the moving filters -> `[C, N]` float32."""
    ceiling = 10.0 ** (ceiling_db / 20.0)
    w = 2 * max(1, round(lookahead * sample_rate)) + 1
    out = np.empty(x.shape, np.float32)
    for lo, a, b, hi in _pieces(x.shape[-1], w + 1):
        need = np.minimum(1.0, ceiling / np.maximum(gain * env[lo:hi].astype(np.float64), 1e-12))  # [hi - lo]
        if need.min() >= 1.0:
            out[:, a:b] = x[:, a:b] * np.float32(gain)
            continue
        smooth = np.minimum(_moving_mean(_moving_min(need, w), w), need)[a - lo : b - lo]
        out[:, a:b] = x[:, a:b] * (gain * smooth)
    return out


def limit(x: np.ndarray, sample_rate: int, ceiling_db: float = CEILING_DBTP, lookahead: float = 0.005) -> np.ndarray:
    """`x` (`[N]` or `[C, N]`) with a smooth gain (<= 1) so that its true peak stays below `ceiling_db`.

    The gain each sample needs is spread over +-`lookahead` seconds: a sliding minimum, then a
    moving average of the same width, so the applied gain is at most the needed one everywhere.
    Piece by piece, each read with a margin wider than everything a sample's gain depends on, so
    memory stays bounded and the result is the whole signal's.
    """
    x2 = np.atleast_2d(x)  # [C, N]
    return _limited(x2, 1.0, _envelope(x2), sample_rate, ceiling_db, lookahead).reshape(np.shape(x))


def normalize_loudness(
    wav: np.ndarray,
    sample_rate: int,
    target: float = TARGET_LUFS,
    ceiling_db: float = CEILING_DBTP,
    rounds: int = 4,
) -> tuple[np.ndarray, LoudnessInfo]:
    """`wav` (`[N]` or `[C, N]`, float) brought to `target` LUFS with its true peak <= `ceiling_db` dBTP.

    Returns:
        the new audio (float32, the input's shape) and a `LoudnessInfo`. Audio below the
        -70 LUFS gate (silence, near-silence) comes back unchanged, with `gain_db` 0.
    """
    x = np.asarray(wav, np.float32)  # float32 throughout: an hour of audio is 0.23 GB a copy (the meter and the
    # true peak work in float64 piece by piece)
    if not np.isfinite(x).all():
        x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
    before = integrated_loudness(x, sample_rate)
    peak_x = _true_peak_linear(x)  # the true peak and the peak envelope scale with a gain: measured once
    if not before > GATE_LUFS:
        return x.copy(), LoudnessInfo(before, before, _db(peak_x), 0.0, False)
    x2 = np.atleast_2d(x)  # [C, N]
    gain_db, limited, env, y = target - before, False, None, x
    ceiling = 10.0 ** (ceiling_db / 20.0)
    for _ in range(rounds):
        gain = 10.0 ** (gain_db / 20.0)
        if peak_x * gain > ceiling:
            env = _envelope(x2) if env is None else env
            y, limited = _limited(x2, gain, env, sample_rate, ceiling_db - 0.05, 0.005).reshape(x.shape), True
        else:
            y = x * np.float32(gain)
        now = integrated_loudness(y, sample_rate)
        if not limited or not math.isfinite(now) or abs(target - now) < 0.05:
            break
        gain_db += min(target - now, 12.0)  # make up what the limiter took, within reason
    peak = _true_peak_linear(y) if limited else peak_x * 10.0 ** (gain_db / 20.0)
    if peak > ceiling:  # the limiter's gain moves a little between samples: a last plain gain guarantees the ceiling
        scale = ceiling / peak * (1.0 - 1e-5)
        y, peak = y * np.float32(scale), peak * scale
    after = integrated_loudness(y, sample_rate)
    return y, LoudnessInfo(before, after, _db(peak), target - before, limited)


def _db(peak: float) -> float:
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf
