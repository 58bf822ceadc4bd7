"""VGGish (Hershey et al. 2017), the embedding network of the original FAD, in torch.

The architecture is built here; the weights come from a file the user gives, in the
layout of the torchvggish port (keys `features.{0,3,6,8,11,13}.*` for the six 3x3
convolutions and `embeddings.{0,2,4}.*` for the three fully connected layers; `pproc.*`
PCA keys are ignored). The front end follows VGGish's: 16 kHz mono, 25-ms periodic-Hann
frames every 10 ms, |FFT| over 512 points, 64 HTK-mel bands from 125 to 7500 Hz,
`log(mel + 0.01)`, cut into 0.96-s examples of 96 frames. Embeddings are the 128-d output
of the last layer before its ReLU and without the PCA/quantisation post-processor, as
FAD implementations use them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from v2meow.errors import ConfigError, MissingWeightsError
from v2meow.signal.dsp import log_mel_spectrogram

VGGISH_URL = "https://github.com/harritaylor/torchvggish/releases/download/v0.1/vggish-10086976.pth"
SAMPLE_RATE = 16_000
EXAMPLE_FRAMES = 96  # 0.96 s of 10-ms frames
MEL_BANDS = 64
EMBEDDING_DIM = 128
_CONV_PLAN = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M")


class VGGish(nn.Module):
    """The VGGish network: `[B, 1, 96, 64]` log-mel examples in, `[B, 128]` embeddings out.

    Args:
        final_relu: keep the ReLU after the last layer (torchvggish does; FAD does not).
    """

    def __init__(self, final_relu: bool = False):
        super().__init__()
        layers: list[nn.Module] = []
        channels = 1
        for item in _CONV_PLAN:
            if item == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(channels, int(item), kernel_size=3, padding=1), nn.ReLU(inplace=True)]
                channels = int(item)
        self.features = nn.Sequential(*layers)
        head: list[nn.Module] = [
            nn.Linear(512 * 6 * 4, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, EMBEDDING_DIM),
        ]  # fmt: skip
        if final_relu:
            head.append(nn.ReLU(inplace=True))
        self.embeddings = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)  # [B, 512, 6, 4]
        x = x.permute(0, 2, 3, 1).flatten(1)  # [B, 6 * 4 * 512], the TF (NHWC) flattening order
        return self.embeddings(x)  # [B, 128]

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, final_relu: bool = False, trust_pickle: bool = False) -> VGGish:
        """Load torchvggish-layout weights from a `.pth`/`.pt` state dict or a `.safetensors` file.

        Raises:
            MissingWeightsError: no file at `path` (the message says where to get it).
            ConfigError: the file is not a VGGish state dict.
        """
        path = Path(path).expanduser()
        if not path.is_file():
            raise MissingWeightsError(
                f"VGGish weights not found at {path}; download {VGGISH_URL} (torchvggish) "
                "on a machine with network and pass its path with --weights"
            )
        state = _read_state_dict(path, trust_pickle)
        state = {k.removeprefix("module."): v for k, v in state.items()}
        state = {k: v for k, v in state.items() if k.startswith(("features.", "embeddings."))}
        model = cls(final_relu=final_relu)
        try:
            missing, unexpected = model.load_state_dict(state, strict=False)
        except RuntimeError as e:  # shape mismatches
            raise ConfigError(
                f"{path}: not a torchvggish VGGish state dict ({str(e).splitlines()[-1].strip()[:200]})"
            ) from None
        if missing or unexpected:
            detail = f"missing {sorted(missing)[:4]}" if missing else f"unexpected {sorted(unexpected)[:4]}"
            raise ConfigError(f"{path}: not a torchvggish VGGish state dict ({detail})")
        return model.eval()


def _read_state_dict(path: Path, trust_pickle: bool = False) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except Exception as e:
            raise ConfigError(
                f"{path}: cannot read weights ({type(e).__name__}: {str(e).splitlines()[0][:200]})"
            ) from None
    else:
        from v2meow.safety.safeload import load_torch

        state = load_torch(path, trust_pickle=trust_pickle)  # weights only unless trusted; TorchScript refused
        if isinstance(state, torch.nn.Module):
            state = state.state_dict()
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConfigError(f"{path}: not a state dict of tensors")
    return state


def vggish_examples(wav: np.ndarray) -> np.ndarray:
    """VGGish input examples of `wav [N]` (16 kHz mono), `[E, 96, 64]` float32.

    Audio shorter than one example is padded with silence to one.
    """
    logmel = log_mel_spectrogram(
        wav,
        SAMPLE_RATE,
        n_fft=512,
        hop=160,
        n_mels=MEL_BANDS,
        fmin=125.0,
        fmax=7500.0,
        win_length=400,
        power=1.0,
        log_offset=0.01,
        center=False,
    )  # [F, 64]
    if logmel.shape[0] < EXAMPLE_FRAMES:
        pad = np.full((EXAMPLE_FRAMES - logmel.shape[0], MEL_BANDS), np.log(0.01))
        logmel = np.concatenate([logmel, pad])
    n = logmel.shape[0] // EXAMPLE_FRAMES
    return logmel[: n * EXAMPLE_FRAMES].reshape(n, EXAMPLE_FRAMES, MEL_BANDS).astype(np.float32)
