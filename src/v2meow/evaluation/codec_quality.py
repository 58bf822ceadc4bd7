"""How much music survives a codec round trip: spectral, harmonic and rhythmic measures.

All measures compare a reconstruction with its original, both mono `[N]` float at the same
rate (STFT: Hann window `n_fft = 1024`, hop 256):

- `log_spectral_distance`: per frame `sqrt(mean_f (log10 P_ref - log10 P_est)^2)` (P the power
  spectrum floored 80 dB below the original's peak), averaged over frames; lower is better;
- `spectral_flatness`: per frame geometric / arithmetic mean of the magnitude spectrum
  (floored at 1e-5), averaged over frames
  (noise -> 1, harmonic music -> small): a codec that smears harmonics into noise raises it;
- `chroma_similarity`: mean over frames (with energy) of the cosine between 12-bin pitch-class
  profiles (STFT power of 55 Hz - 5 kHz folded to pitch classes); 1 is identical harmony;
- `multiscale_mel_distance`: the codec training loss `MultiScaleMelLoss` (6 scales, L1 of mel and log mel);
- `tempo_deviation`: octave-folded `|log2(est / true) - round(log2(est / true))|` of the tempi
  that `v2meow.evaluation.beats.music_rhythm` estimates (0: same tempo or an octave off).

`mel_griffin_lim` is the weight-free reference: an 80-band mel spectrogram inverted by
a pseudo-inverse clipped at zero and 48 iterations of fast Griffin-Lim (momentum 0.99).
"""

from __future__ import annotations

import numpy as np
import torch

from v2meow.signal.griffin_lim import griffin_lim
from v2meow.tokenizers.acoustic.losses import MultiScaleMelLoss, mel_filterbank

N_FFT, HOP = 1024, 256


def _power(wav: torch.Tensor, n_fft: int = N_FFT, hop: int = HOP) -> torch.Tensor:
    """`[N]` -> `[F, T]` power spectrum."""
    spec = torch.stft(wav.float(), n_fft, hop, window=torch.hann_window(n_fft), center=True, return_complex=True)
    return spec.abs().pow(2)


def log_spectral_distance(ref: torch.Tensor, est: torch.Tensor) -> float:
    pr, pe = _power(ref), _power(est)  # [F, T]
    floor = 1e-8 * float(pr.max()) + 1e-20  # 80 dB below the original's peak
    a, b = torch.log10(pr.clamp(min=floor)), torch.log10(pe.clamp(min=floor))
    return float((a - b).pow(2).mean(dim=0).sqrt().mean())


def spectral_flatness(wav: torch.Tensor) -> float:
    p = _power(wav).double().sqrt().clamp(min=1e-5)  # [F, T] magnitude
    return float((p.log().mean(dim=0).exp() / p.mean(dim=0)).mean())


def chroma_filters(sample_rate: int, n_fft: int = N_FFT, fmin: float = 55.0, fmax: float = 5000.0) -> torch.Tensor:
    """`[12, F]`: 1 where an STFT bin's centre frequency (in [fmin, fmax]) falls in a pitch class."""
    freqs = torch.arange(n_fft // 2 + 1) * sample_rate / n_fft
    fb = torch.zeros(12, freqs.numel())
    ok = (freqs >= fmin) & (freqs <= fmax)
    pc = (torch.round(12 * torch.log2(freqs[ok] / 440.0)).long() + 9) % 12  # A = 9 (C = 0)
    fb[pc, torch.nonzero(ok).squeeze(1)] = 1.0
    return fb


def chroma_similarity(ref: torch.Tensor, est: torch.Tensor, sample_rate: int) -> float:
    fb = chroma_filters(sample_rate)
    a, b = fb @ _power(ref), fb @ _power(est)  # [12, T]
    energy = a.sum(0)
    keep = energy > 1e-3 * energy.max()  # frames with sound in the original
    cos = torch.nn.functional.cosine_similarity(a[:, keep], b[:, keep], dim=0, eps=1e-12)
    return float(cos.mean()) if keep.any() else float("nan")


def tempo_deviation(ref_tempo: float | None, est_tempo: float | None) -> float:
    """Octave-folded tempo deviation of `est_tempo` from `ref_tempo` (`signal.rhythm.octave_deviation`)."""
    from v2meow.signal.rhythm import octave_deviation

    return octave_deviation(est_tempo, ref_tempo)


def estimate_tempo(wav: torch.Tensor, sample_rate: int) -> float | None:
    from v2meow.evaluation.beats import music_rhythm

    return music_rhythm(wav.numpy().astype(np.float32), sample_rate).tempo


def mel_griffin_lim(
    wav: torch.Tensor, sample_rate: int, n_mels: int = 80, iters: int = 48, seed: int = 0
) -> torch.Tensor:
    """The weight-free reference: `[N]` -> 80-band mel magnitude -> pseudo-inverse -> Griffin-Lim -> `[N]`."""
    fb = mel_filterbank(sample_rate, N_FFT, n_mels).double()  # [M, F]
    window = torch.hann_window(N_FFT, dtype=torch.float64)
    spec = torch.stft(wav.double(), N_FFT, HOP, window=window, center=True, return_complex=True)  # [F, T]
    mel = fb @ spec.abs()  # [M, T]: what the reference keeps
    mag = (torch.linalg.pinv(fb) @ mel).clamp(min=0.0)  # [F, T]
    return griffin_lim(mag, N_FFT, HOP, wav.shape[-1], iters=iters, seed=seed).float()


class QualityMeter:
    """Measures reconstructions against originals at one `sample_rate`; keeps per-clip rows."""

    def __init__(self, sample_rate: int):
        self.sample_rate = sample_rate
        self.mel = MultiScaleMelLoss(sample_rate)
        self._tempo_cache: dict[int, float | None] = {}

    def measure(self, ref: torch.Tensor, est: torch.Tensor) -> dict[str, float]:
        """`ref`, `est`: `[N]` float at `sample_rate` (est is trimmed/padded to ref's length)."""
        n = ref.shape[-1]
        est = torch.nn.functional.pad(est[:n], (0, max(0, n - est.shape[-1])))
        key = id(ref)
        if key not in self._tempo_cache:
            self._tempo_cache[key] = estimate_tempo(ref, self.sample_rate)
        f_ref, f_est = spectral_flatness(ref), spectral_flatness(est)
        with torch.no_grad():
            mel = float(self.mel(est[None, None], ref[None, None]))
        return {
            "lsd": log_spectral_distance(ref, est),
            "flatness": f_est,
            "flatness_original": f_ref,
            "flatness_gap": abs(f_est - f_ref),
            "chroma": chroma_similarity(ref, est, self.sample_rate),
            "mel_distance": mel,
            "tempo_deviation": tempo_deviation(self._tempo_cache[key], estimate_tempo(est, self.sample_rate)),
        }


def summarize(rows: list[dict[str, float]]) -> dict[str, float]:
    """Means over clips (tempo deviation: median, as the target is stated)."""
    out = {k: float(np.nanmean([r[k] for r in rows])) for k in rows[0] if k != "tempo_deviation"}
    out["tempo_deviation_median"] = float(np.nanmedian([r["tempo_deviation"] for r in rows]))
    return out
