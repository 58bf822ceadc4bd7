"""`mel-pitch`: a weight-free backbone of log-mel beside chroma, pitch salience and onset strength.

The `mel` backbone's k-means tokens carry timbre and energy but little pitch or onset
information (MERT, Li et al. 2023: MFCC-like targets are inadequate teachers for music; a
CQT/chroma target beside the acoustic one made the representation musical). This backbone
puts, per 50-Hz frame, up to five feature blocks side by side (the defaults keep mel, chroma and
onset; see `DEFAULT_WEIGHTS`):

- `mel` (n_mels): log-mel energies, from the `mel_front` front end (below);
- `delta` (n_mels): their first-order time differences;
- `chroma` (12): STFT power (a long window, `chroma_n_fft`, for pitch resolution) between
  `pitch_fmin` and `pitch_fmax` folded to pitch classes with triangular semitone weights
  (C = 0 ... A = 9), divided by the frame's total (a pitch-class distribution, ~0 in silence),
  square-rooted;
- `salience` (13): harmonic-sum pitch salience (the compressed magnitude at the first
  `harmonics` multiples of each semitone from C2 to C6, weights `0.8^(h-1)`) folded to pitch
  classes and normalised like chroma (12), plus a harmonicity value: log of the strongest
  pitch's salience over the mean salience (tonal frames high, noise and drums low);
- `onset` (2): `log1p` of the spectral-flux onset strength of `v2meow.signal.rhythm.onset_envelope`
  (100 Hz, positive log-mel rise), its maximum and mean over the frame's span.

`feature_weights()` gives a per-dimension multiplier applied after standardisation
(`fit_kmeans` folds it into the stored std): each block's total variance becomes
`weight^2 * n_mels`, so a 2-dim onset block counts as much as the 64-dim mel block at equal
weight, and k-means cannot ignore the small blocks. A block of weight 0 is left out.

`mel_front` picks the mel block's front end: `slaney` (the `mel` backbone's: power through
unit-area filters, each frame centred on its hop span) or `codec` (the mel codec's own
`LogMelFrames`: magnitude, frame t centred at `t * hop`, so the tokens cluster the very frames
the codec quantizes and the semantic sketch decodes).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from v2meow.errors import ConfigError
from v2meow.signal.rhythm import ENVELOPE_RATE, onset_envelope
from v2meow.tokenizers.semantic.backbone import WeightFreeBackbone
from v2meow.tokenizers.semantic.mel import mel_filterbank

BLOCKS = ("mel", "delta", "chroma", "salience", "onset")
# The measured compromise (docs/tokens.md, "Semantic tokens"): the codec's log-mel with a little chroma and onset
# strength; more pitch weight makes the codec's first level less predictable from the token at K = 256.
DEFAULT_WEIGHTS = {"mel": 1.0, "delta": 0.0, "chroma": 0.3, "salience": 0.0, "onset": 0.3}
_SILENCE = 1e-6  # power floor of the pitch-class normalisation (float audio in [-1, 1])


def chroma_filterbank(sample_rate: int, n_fft: int, fmin: float, fmax: float) -> torch.Tensor:
    """`[n_fft // 2 + 1, 12]`: triangular weights (1 at a semitone's centre, 0 a semitone away) of each
    bin between `fmin` and `fmax` on the pitch classes (C = 0, A = 9)."""
    freqs = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    fb = np.zeros((freqs.size, 12))
    ok = (freqs >= fmin) & (freqs <= fmax)
    midi = 69.0 + 12.0 * np.log2(freqs[ok] / 440.0)  # fractional MIDI pitch of each bin
    lo = np.floor(midi)
    frac = midi - lo
    idx = np.flatnonzero(ok)
    np.add.at(fb, (idx, lo.astype(int) % 12), 1.0 - frac)
    np.add.at(fb, (idx, (lo.astype(int) + 1) % 12), frac)
    return torch.from_numpy(fb.astype(np.float32))


def salience_filterbank(
    sample_rate: int, n_fft: int, midi_lo: int = 36, midi_hi: int = 84, harmonics: int = 5, decay: float = 0.8
) -> torch.Tensor:
    """`[n_fft // 2 + 1, P]`: harmonic-sum weights of each bin on the semitones `midi_lo..midi_hi`
    (a bin within half a semitone of the h-th harmonic counts `decay^(h-1)`, triangularly)."""
    freqs = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    pitches = np.arange(midi_lo, midi_hi + 1)
    f0 = 440.0 * 2.0 ** ((pitches - 69) / 12.0)  # [P]
    fb = np.zeros((freqs.size, pitches.size))
    with np.errstate(divide="ignore"):
        log_f = np.log2(np.maximum(freqs, 1e-9))[:, None]  # [F, 1]
    for h in range(1, harmonics + 1):
        target = h * f0
        keep = target < sample_rate / 2
        dist = np.abs(12.0 * (log_f - np.log2(target)[None]))  # [F, P] semitones from the h-th harmonic
        fb += np.where(keep[None], decay ** (h - 1) * np.clip(1.0 - 2.0 * dist, 0.0, None), 0.0)
    fb[0] = 0.0
    return torch.from_numpy(fb.astype(np.float32))


class PitchMelBackbone(WeightFreeBackbone):
    """Log-mel + deltas + chroma + pitch salience + onset strength on a fixed 50-Hz grid.

    Args:
        sample_rate: input rate (16000).
        hop_length: samples per frame (320 = 50 Hz at 16 kHz).
        n_fft: FFT/window length of the mel block.
        n_mels: mel bands (128 as the shipped mel codec).
        chroma_n_fft: FFT/window length of the chroma and salience blocks (4096: 3.9-Hz bins).
        pitch_fmin, pitch_fmax: the band folded into chroma, in Hz.
        harmonics: harmonics summed by the salience.
        log_floor: mel energies are clamped to this before the log.
        block_weights: per-block weights after standardisation (`BLOCKS`; missing ones default; 0 leaves
            a block out).
        mel_front: `slaney` or `codec` (see the module's docstring).
    """

    name = "mel-pitch"
    has_weights = False

    def __init__(
        self,
        sample_rate: int = 16000,
        hop_length: int = 320,
        n_fft: int = 1024,
        n_mels: int = 128,
        chroma_n_fft: int = 4096,
        pitch_fmin: float = 65.0,
        pitch_fmax: float = 4000.0,
        harmonics: int = 5,
        log_floor: float = 1e-5,
        block_weights: dict[str, float] | None = None,
        mel_front: str = "codec",
    ):
        if min(sample_rate, hop_length, n_fft, n_mels, chroma_n_fft, harmonics) <= 0 or log_floor <= 0:
            raise ConfigError("mel-pitch: rates, sizes, harmonics and log_floor must be positive")
        if min(n_fft, chroma_n_fft) < hop_length:
            raise ConfigError(f"mel-pitch: n_fft and chroma_n_fft must be at least hop_length ({hop_length})")
        if not 0 < pitch_fmin < pitch_fmax <= sample_rate / 2:
            raise ConfigError(f"mel-pitch: need 0 < pitch_fmin < pitch_fmax <= {sample_rate / 2}")
        weights = {**DEFAULT_WEIGHTS, **(block_weights or {})}
        unknown = sorted(set(weights) - set(BLOCKS))
        if unknown or any(not (math.isfinite(w) and w >= 0) for w in weights.values()):
            raise ConfigError(
                f"mel-pitch: block_weights are non-negative numbers for {', '.join(BLOCKS)} (got {weights})"
            )
        if not any(weights.values()):
            raise ConfigError("mel-pitch: every block has weight 0")
        if mel_front not in ("slaney", "codec"):
            raise ConfigError(f"mel-pitch: mel_front must be 'slaney' or 'codec', got {mel_front!r}")
        dims = {"mel": n_mels, "delta": n_mels, "chroma": 12, "salience": 13, "onset": 2}
        self.block_dims = {b: d for b, d in dims.items() if weights[b] > 0}
        super().__init__(sample_rate, hop_length, sum(self.block_dims.values()))
        self.n_fft, self.n_mels, self.chroma_n_fft = int(n_fft), int(n_mels), int(chroma_n_fft)
        self.pitch_fmin, self.pitch_fmax, self.harmonics = float(pitch_fmin), float(pitch_fmax), int(harmonics)
        self.log_floor, self.mel_front = float(log_floor), mel_front
        self.weights = {b: float(weights[b]) for b in BLOCKS}
        # Non-persistent: rebuilt from the spec, so the state dict of this backbone is empty.
        self.register_buffer("window", torch.hann_window(n_fft, periodic=True), persistent=False)
        self.register_buffer("long_window", torch.hann_window(chroma_n_fft, periodic=True), persistent=False)
        self.register_buffer("mel_fb", mel_filterbank(n_fft, n_mels, sample_rate), persistent=False)
        if mel_front == "codec":
            from v2meow.tokenizers.acoustic.vocos import LogMelFrames

            self.codec_mel = LogMelFrames(sample_rate, n_fft, hop_length, n_mels)
        self.register_buffer(
            "chroma_fb", chroma_filterbank(sample_rate, chroma_n_fft, pitch_fmin, pitch_fmax), persistent=False
        )
        self.register_buffer("salience_fb", salience_filterbank(sample_rate, chroma_n_fft, harmonics=harmonics),
                             persistent=False)  # fmt: skip

    @property
    def context_samples(self) -> int:
        # half of the longest window, the delta's neighbour frame and the onset envelope's frame
        longest = max(self.n_fft, self.chroma_n_fft)
        return self.hop_length * (math.ceil((longest - self.hop_length) / 2 / self.hop_length) + 2)

    def block_slices(self) -> dict[str, slice]:
        """Where each block sits in the feature vector."""
        out, start = {}, 0
        for b in self.block_dims:
            out[b] = slice(start, start + self.block_dims[b])
            start += self.block_dims[b]
        return out

    def feature_weights(self) -> np.ndarray:
        """`[dim]` multipliers after standardisation: block b's dims get `w_b * sqrt(n_mels / dim_b)`."""
        w = np.ones(self.dim, dtype=np.float32)
        for b, s in self.block_slices().items():
            w[s] = self.weights[b] * math.sqrt(self.n_mels / self.block_dims[b])
        return w

    def _stft(self, x: torch.Tensor, n_fft: int, window: torch.Tensor, n_frames: int) -> torch.Tensor:
        pad = n_fft - self.hop_length  # centres each window on its hop span
        x = F.pad(x, (pad // 2, pad - pad // 2))
        spec = torch.stft(x, n_fft, self.hop_length, window=window, center=False, return_complex=True)
        return spec[..., :n_frames].abs()  # [B, F, T]

    def forward(self, wav: torch.Tensor) -> torch.Tensor:  # [B, N] -> [B, N // hop, dim]
        wav = wav.float()
        n_frames = wav.shape[-1] // self.hop_length
        blocks: dict[str, torch.Tensor] = {}
        if "mel" in self.block_dims or "delta" in self.block_dims:
            if self.mel_front == "codec":
                logmel = self.codec_mel(wav[:, None]).transpose(1, 2)  # [B, T, M]
            else:
                mag = self._stft(wav, self.n_fft, self.window, n_frames)  # [B, F, T]
                logmel = (mag.square().transpose(1, 2) @ self.mel_fb).clamp_min(self.log_floor).log()  # [B, T, M]
            padded = F.pad(logmel.transpose(1, 2), (1, 1), mode="replicate").transpose(1, 2)  # [B, T + 2, M]
            blocks["mel"], blocks["delta"] = logmel, (padded[:, 2:] - padded[:, :-2]) / 2  # [B, T, M] each
        if "chroma" in self.block_dims or "salience" in self.block_dims:
            blocks.update(self._pitch(wav, n_frames))
        if "onset" in self.block_dims:
            blocks["onset"] = torch.stack([self._onset(w, n_frames) for w in wav]).to(wav.device)  # [B, T, 2]
        return torch.cat([blocks[b] for b in self.block_dims], dim=-1)

    def _pitch(self, wav: torch.Tensor, n_frames: int) -> dict[str, torch.Tensor]:
        """The chroma `[B, T, 12]` and salience `[B, T, 13]` blocks."""

        long_mag = self._stft(wav, self.chroma_n_fft, self.long_window, n_frames).transpose(1, 2)  # [B, T, F']
        power = long_mag.square() / (self.chroma_n_fft / 4)  # ~ per-sample power scale
        pc = power @ self.chroma_fb  # [B, T, 12]
        chroma = (pc / (pc.sum(-1, keepdim=True) + _SILENCE)).sqrt()  # [B, T, 12]
        compressed = (1.0 + 100.0 * long_mag / math.sqrt(self.chroma_n_fft)).log()  # [B, T, F']
        sal = compressed @ self.salience_fb  # [B, T, P]
        fold = torch.zeros(*sal.shape[:2], 12, dtype=sal.dtype, device=sal.device)
        fold.index_add_(2, (torch.arange(sal.shape[-1], device=sal.device) % 12), sal)  # MIDI 36 = C
        sal_pc = (fold / (fold.sum(-1, keepdim=True) + 1e-3)).sqrt()  # [B, T, 12]
        harmonicity = ((sal.amax(-1) + 1e-3) / (sal.mean(-1) + 1e-3)).log()[..., None]  # [B, T, 1]
        return {"chroma": chroma, "salience": torch.cat([sal_pc, harmonicity], dim=-1)}

    def _onset(self, wav: torch.Tensor, n_frames: int) -> torch.Tensor:
        """`[T, 2]`: log1p of the onset envelope's max and mean over each frame's span."""
        env = onset_envelope(wav.detach().cpu().numpy(), self.sample_rate)  # [E] at 100 Hz, frame k at k / 100 s
        per = ENVELOPE_RATE * self.hop_length / self.sample_rate  # envelope frames per backbone frame (2)
        # backbone frame t spans [t, t + 1) hops: envelope frames from ceil(t * per) to floor((t + 1) * per)
        starts = np.ceil(np.arange(n_frames) * per).astype(int)
        stops = np.maximum(np.floor((np.arange(n_frames) + 1) * per).astype(int) + 1, starts + 1)
        env = np.concatenate([env, np.zeros(max(0, int(stops.max(initial=0)) - env.size))])
        out = np.zeros((n_frames, 2), dtype=np.float32)
        for t, (a, b) in enumerate(zip(starts, stops)):
            seg = env[a:b]
            out[t] = (seg.max(), seg.mean())
        return torch.from_numpy(np.log1p(out))

    def spec(self) -> dict[str, Any]:
        return {
            "sample_rate": self.sample_rate,
            "hop_length": self.hop_length,
            "n_fft": self.n_fft,
            "n_mels": self.n_mels,
            "chroma_n_fft": self.chroma_n_fft,
            "pitch_fmin": self.pitch_fmin,
            "pitch_fmax": self.pitch_fmax,
            "harmonics": self.harmonics,
            "log_floor": self.log_floor,
            "block_weights": dict(self.weights),
            "mel_front": self.mel_front,
        }
