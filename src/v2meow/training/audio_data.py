"""Random audio crops from a folder of music files, for codec training.

Files are found recursively by extension and probed once (in `setup`, not in a
constructor); an unreadable file is skipped with one log line. Each training item is a
crop of `crop_seconds` from a file drawn with probability proportional to its duration,
decoded, resampled and channel-mixed by `v2meow.media.read_audio`. Validation crops are
fixed (the same for every run). With `preload: true` every file is decoded once, in
`setup`, into memory (16-bit, at the codec's rate): crops are then slices, which keeps a
GPU fed from a compact folder of FLAC excerpts (dataloader workers share the memory).
WAV and FLAC files are read with soundfile (libsndfile) and resampled with soxr, which is
faster than a PyAV decode and needs no FFmpeg; anything else, or a file soundfile rejects,
goes through `read_audio`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from v2meow.errors import ConfigError, MediaError
from v2meow.media import fit_length, probe, read_audio, resample

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac")
SOUNDFILE_EXTENSIONS = (".wav", ".flac")


def audio_duration(path: str | Path) -> float | None:
    """Seconds of audio in `path` (None: no audio stream); soundfile for WAV/FLAC, else PyAV's probe."""
    if Path(path).suffix.lower() in SOUNDFILE_EXTENSIONS:
        import soundfile as sf

        try:
            info = sf.info(str(path))
            return info.frames / info.samplerate
        except (RuntimeError, sf.LibsndfileError):  # not really a WAV/FLAC: let PyAV say what it is
            pass
    info = probe(path)
    return info.duration if info.has_audio else None


def read_excerpt(
    path: str | Path, sample_rate: int, channels: int, start: float = 0.0, duration: float | None = None
) -> torch.Tensor:
    """`[channels, N]` float32 at `sample_rate` from `start` seconds (WAV/FLAC via soundfile, else `read_audio`)."""
    if Path(path).suffix.lower() in SOUNDFILE_EXTENSIONS:
        import soundfile as sf

        try:
            with sf.SoundFile(str(path)) as f:
                f.seek(min(round(start * f.samplerate), f.frames))
                frames = -1 if duration is None else round(duration * f.samplerate)
                data, src = f.read(frames, dtype="float32", always_2d=True).T, f.samplerate  # [C, n]
        except (RuntimeError, sf.LibsndfileError):
            data = None
        if data is not None and data.shape[1] > 0:
            if channels == 1:
                data = data.mean(axis=0, keepdims=True)
            elif data.shape[0] == 1:
                data = data.repeat(channels, axis=0)
            else:
                data = data[:channels]
            return torch.from_numpy(resample(data, src, sample_rate) if src != sample_rate else data)
    wav, _ = read_audio(path, sample_rate=sample_rate, channels=channels, start=start, duration=duration)
    return wav


@dataclass
class AudioDataConfig:
    """The `data:` section of `configs/codec.yaml`."""

    audio_dir: str = "data/music"  # searched recursively
    val_dir: str | None = None  # None: no validation
    crop_seconds: float = 1.0
    batch_size: int = 8
    num_workers: int = 2
    samples_per_epoch: int = 4000  # crops per (virtual) epoch
    val_crops: int = 32
    min_seconds: float = 0.1  # shorter files are skipped
    preload: bool = False  # decode every file once into memory (int16): fast crops, ~2 bytes per sample

    def __post_init__(self) -> None:
        if self.crop_seconds <= 0 or self.batch_size <= 0 or self.samples_per_epoch <= 0:
            raise ConfigError("data: crop_seconds, batch_size and samples_per_epoch must be positive")
        if self.samples_per_epoch < self.batch_size:
            raise ConfigError(f"data: samples_per_epoch ({self.samples_per_epoch}) < batch_size ({self.batch_size})")


def scan_audio(folder: str | Path, min_seconds: float = 0.1) -> list[tuple[str, float]]:
    """`(path, duration)` of every usable audio file under `folder`, sorted by path."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"{folder}: audio directory not found")
    items = []
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file()):
        try:
            duration = audio_duration(path)
        except MediaError as e:
            log.warning("skipping %s", e)
            continue
        if duration is None or duration < min_seconds:
            log.warning("skipping %s: %s", path, "no audio stream" if duration is None else f"only {duration:.2f}s")
            continue
        items.append((str(path), float(duration)))
    if not items:
        raise ConfigError(f"{folder}: no usable audio files ({', '.join(AUDIO_EXTENSIONS)})")
    return items


class AudioCropDataset(Dataset):
    """Crops `[C, crop_samples]` float32 at `sample_rate`.

    Args:
        items: `(path, duration)` pairs, e.g. from `scan_audio`.
        random_crops: True draws a file (weighted by duration) and an offset from torch's
            global RNG for every item; False gives fixed crops (file `i % n`, successive
            windows), for validation.
    """

    def __init__(
        self,
        items: list[tuple[str, float]],
        sample_rate: int,
        channels: int,
        crop_seconds: float,
        length: int,
        random_crops: bool = True,
        preload: bool = False,
    ):
        self.items = items
        self.sample_rate, self.channels = sample_rate, channels
        self.crop_seconds = crop_seconds
        self.crop_samples = round(crop_seconds * sample_rate)
        self.length = length
        self.random_crops = random_crops
        self.weights = torch.tensor([d for _, d in items], dtype=torch.float64)
        self.cache: list[torch.Tensor] | None = None
        self._index = {path: i for i, (path, _) in enumerate(items)}
        if preload:
            self.cache = [self._decode_whole(path) for path, _ in items]  # [C, N] int16 each

    def _decode_whole(self, path: str) -> torch.Tensor:
        try:
            wav = read_excerpt(path, self.sample_rate, self.channels)  # [C, N]
        except MediaError as e:
            log.warning("preload of %s failed (%s); using silence", path, e)
            wav = torch.zeros(self.channels, self.crop_samples)
        return (wav.clamp(-1, 1) * 32767).round().to(torch.int16)

    def __len__(self) -> int:
        return self.length

    def _pick(self, index: int) -> tuple[str, float]:
        if self.random_crops:
            k = int(torch.multinomial(self.weights, 1).item())
            path, duration = self.items[k]
            return path, float(torch.rand(()).item()) * max(0.0, duration - self.crop_seconds)
        path, duration = self.items[index % len(self.items)]
        window = index // len(self.items)
        return path, min(window * self.crop_seconds, max(0.0, duration - self.crop_seconds))

    def __getitem__(self, index: int) -> torch.Tensor:
        path, start = self._pick(index)
        if self.cache is not None:
            audio = self.cache[self._index[path]]
            i = round(start * self.sample_rate)
            return fit_length(
                audio[:, i : i + self.crop_samples].float() / 32767, self.crop_samples
            )  # [C, crop_samples]
        try:
            wav = read_excerpt(path, self.sample_rate, self.channels, start, self.crop_seconds)  # [C, n]
        except MediaError as e:  # a file that probed fine but fails to decode here: use silence, say so
            log.warning("crop of %s at %.2fs failed (%s); using silence", path, start, e)
            wav = torch.zeros(self.channels, self.crop_samples)
        return fit_length(wav, self.crop_samples)  # [C, crop_samples]


class AudioDataModule(L.LightningDataModule):
    """Train (random crops) and optional validation (fixed crops) loaders of `[B, C, N]` audio."""

    def __init__(self, config: AudioDataConfig, sample_rate: int, channels: int):
        super().__init__()
        self.config, self.sample_rate, self.channels = config, sample_rate, channels
        self.train_set: AudioCropDataset | None = None
        self.val_set: AudioCropDataset | None = None

    def setup(self, stage: str | None = None) -> None:
        c = self.config
        if self.train_set is None:
            items = scan_audio(c.audio_dir, c.min_seconds)
            if c.preload:
                log.info("preloading %d audio files (%.0f s) into memory", len(items), sum(d for _, d in items))
            self.train_set = AudioCropDataset(
                items, self.sample_rate, self.channels, c.crop_seconds, c.samples_per_epoch, preload=c.preload
            )
        if c.val_dir and self.val_set is None:
            items = scan_audio(c.val_dir, c.min_seconds)
            self.val_set = AudioCropDataset(items, self.sample_rate, self.channels, c.crop_seconds, c.val_crops, False)

    def _loader(self, dataset: Dataset, train: bool) -> DataLoader:
        c = self.config
        return DataLoader(
            dataset,
            batch_size=c.batch_size,
            shuffle=False,
            drop_last=train,
            num_workers=c.num_workers,
            persistent_workers=c.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        assert self.train_set is not None, "call setup() first"
        return self._loader(self.train_set, train=True)

    def val_dataloader(self) -> DataLoader | list:
        return self._loader(self.val_set, train=False) if self.val_set is not None else []
