"""Loudness normalisation: integrated loudness (BS.1770) on target, true peak under the ceiling."""

import math

import numpy as np
import pytest

from v2meow.signal.loudness import integrated_loudness, normalize_loudness, true_peak

SR = 16000
T = np.arange(5 * SR) / SR
RNG = np.random.default_rng(0)


def _music_like() -> np.ndarray:
    """A chord with sharp clicks, peaking at 0 dBFS around -18 LUFS (like the generated outputs)."""
    x = 0.08 * (np.sin(2 * np.pi * 220 * T) + np.sin(2 * np.pi * 277 * T) + np.sin(2 * np.pi * 330 * T))
    clicks = np.zeros_like(x)
    for k in range(0, x.size - 400, SR // 2):
        clicks[k : k + 400] = RNG.standard_normal(400) * np.exp(-np.arange(400) / 60)
    x = x + clicks
    return x / np.abs(x).max()


SIGNALS = {
    "loud clipped square": np.clip(4.0 * np.sign(np.sin(2 * np.pi * 110 * T)), -1, 1),
    "quiet sine": 0.003 * np.sin(2 * np.pi * 440 * T),
    "noise": 0.5 * RNG.standard_normal(T.size),
    "music-like, clipping": _music_like(),
    "stereo": np.stack([0.9 * np.sin(2 * np.pi * 300 * T), 0.4 * RNG.standard_normal(T.size)]),
}


def test_bs1770_reference_values():
    t = np.arange(48000 * 3) / 48000
    assert integrated_loudness(np.sin(2 * np.pi * 997 * t), 48000) == pytest.approx(
        -3.01, abs=0.05
    )  # BS.1770 calibration
    quarter = np.sin(2 * np.pi * 0.25 * np.arange(4000) + np.pi / 4)  # samples at +-0.707 of a full-scale sine
    assert 20 * np.log10(np.abs(quarter).max()) == pytest.approx(-3.01, abs=0.01)
    assert true_peak(quarter) == pytest.approx(0.0, abs=0.2)  # the 4x-oversampled peak finds the real one
    assert integrated_loudness(np.zeros(SR), SR) == -math.inf and true_peak(np.zeros(10)) == -math.inf


@pytest.mark.parametrize("name", list(SIGNALS))
@pytest.mark.parametrize("target", [-14.0, -20.0])
def test_normalised_to_target_with_true_peak_under_ceiling(name, target):
    x = SIGNALS[name]
    y, info = normalize_loudness(x, SR, target=target)
    assert y.shape == x.shape and y.dtype == np.float32 and np.isfinite(y).all()
    assert abs(integrated_loudness(y, SR) - target) <= 1.0, name
    assert true_peak(y) <= -1.0 and info.true_peak <= -1.0


def test_clipping_input_is_limited_not_just_turned_down():
    y, info = normalize_loudness(SIGNALS["music-like, clipping"], SR)
    assert info.limited and info.before < -14.5 and info.gain_db > 0  # it had to get louder and still fit under -1 dBTP


@pytest.mark.parametrize("x", [np.zeros(3 * SR), 1e-7 * RNG.standard_normal(3 * SR), np.zeros(0)])
def test_silence_and_near_silence_are_left_alone(x):
    y, info = normalize_loudness(x, SR)
    assert np.array_equal(y, x.astype(np.float32)) and info.gain_db == 0.0 and not np.isnan(y).any()


def test_short_clip_and_nan_input():
    y, info = normalize_loudness(0.5 * np.sin(2 * np.pi * 440 * T[:1600]), SR)  # 0.1 s: shorter than a 400-ms block
    assert info.after == pytest.approx(-14.0, abs=0.5)
    bad = SIGNALS["noise"].copy()
    bad[100] = np.nan
    y, _ = normalize_loudness(bad, SR)
    assert np.isfinite(y).all()


# -- the numpy meter against the references it replaces at run time (pyloudnorm, scipy) -------------------


@pytest.mark.parametrize("rate", [8000, 11025, 16000, 44100, 48000])
@pytest.mark.parametrize("seconds", [0.05, 0.45, 3.37, 31.3])  # shorter than a block, partial last blocks
def test_integrated_loudness_equals_pyloudnorm(rate, seconds):
    pyloudnorm = pytest.importorskip("pyloudnorm")
    rng = np.random.default_rng(round(seconds * rate))
    n = round(seconds * rate)
    t = np.arange(n) / rate
    gate = (t % 1.0) < 0.4  # bursts: blocks under the relative gate
    stereo = np.stack(
        [0.3 * np.sin(2 * np.pi * 60 * t) + 0.1 * rng.standard_normal(n) * gate, 0.02 * rng.standard_normal(n)]
    )
    for wav in (stereo[0], stereo):
        ours = integrated_loudness(wav, rate)
        x = wav.T if wav.ndim == 2 else wav
        need = math.ceil(0.4 * rate) + 1
        if x.shape[0] < need:  # integrated_loudness measures a clip shorter than a block looped
            x = np.tile(x, (math.ceil(need / x.shape[0]),) + (1,) * (x.ndim - 1))
        assert ours == pytest.approx(pyloudnorm.Meter(rate).integrated_loudness(x), abs=1e-6)


def test_true_peak_and_limiter_filters_equal_scipys():
    signal, ndimage = pytest.importorskip("scipy.signal"), pytest.importorskip("scipy.ndimage")
    from v2meow.signal.loudness import _moving_mean, _moving_min, _oversampled

    rng = np.random.default_rng(0)
    for n in (2, 3, 21, 4001):
        x = rng.standard_normal((2, n))
        for up in (2, 4):
            np.testing.assert_allclose(_oversampled(x, up), signal.resample_poly(x, up, 1, axis=-1), atol=1e-12)
        for w in (1, 3, 81):
            v = rng.random(n)
            assert np.array_equal(_moving_min(v, w), ndimage.minimum_filter1d(v, w, mode="nearest"))
            np.testing.assert_allclose(_moving_mean(v, w), ndimage.uniform_filter1d(v, w, mode="nearest"), atol=1e-12)


def test_pieces_give_the_whole_signals_peak_and_limiter(monkeypatch):
    """The true peak and the limiter work piece by piece (bounded memory for an hour of audio); their
    margins make the result the whole signal's, here with pieces of 997 samples against one piece."""
    from v2meow.signal import loudness

    x = 3.0 * SIGNALS["music-like, clipping"][: 3 * SR]  # peaks far over the ceiling: the limiter works everywhere
    stereo = np.stack([x, -0.5 * x])
    whole = [loudness.true_peak(x), loudness.limit(x, SR), loudness.limit(stereo, SR)]
    monkeypatch.setattr(loudness, "PIECE", 997)
    pieces = [loudness.true_peak(x), loudness.limit(x, SR), loudness.limit(stereo, SR)]
    assert pieces[0] == whole[0]
    for a, b in zip(pieces[1:], whole[1:]):
        assert a.shape == b.shape and np.abs(a).max() < 0.5 * np.abs(x).max()  # the limiter acted
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)  # the moving mean's running sums start elsewhere
