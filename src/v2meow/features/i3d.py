"""`i3d`: I3D-R50 clip embeddings (pytorchvideo, Kinetics-400), 2048-d at 1 Hz.

Each output step is described by an 8-frame clip centred on it, read at 4 Hz (a 2-s
span, close to Kinetics' 8x8 sampling at 30 fps). The embedding is the global average
of the last ResNet stage: the head's pooled input, before its classifier.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from v2meow.errors import ConfigError, MissingWeightsError
from v2meow.features._time import prepare_frames, resolve_duration, sample_frames_at
from v2meow.features._weights import load_strict, read_state_dict
from v2meow.features.base import StoredShapeExtractor, num_output_steps

I3D_URL = "https://dl.fbaipublicfiles.com/pytorchvideo/model_zoo/kinetics/I3D_8x8_R50.pyth"
I3D_FILENAME = "I3D_8x8_R50.pyth"
KINETICS_MEAN = (0.45, 0.45, 0.45)
KINETICS_STD = (0.225, 0.225, 0.225)

#: Overrides of pytorchvideo's `i3d_r50` settings for a tiny random model (64-d).
DEBUG_I3D_ARCH: dict[str, Any] = {"stem_dim_out": 2}


def default_weights_path(hub_dir: str | os.PathLike | None = None) -> Path:
    """Where torch hub keeps the pytorchvideo checkpoint: `<hub_dir>/checkpoints/I3D_8x8_R50.pyth`."""
    return Path(hub_dir or torch.hub.get_dir()) / "checkpoints" / I3D_FILENAME


class I3DExtractor(StoredShapeExtractor):
    """Per output step, the I3D-R50 embedding of a short clip centred on the step.

    Args:
        rate: output steps per second.
        frame_rate: rate of the frames in each clip (and of `extract`'s input).
        num_frames: frames per clip (the pretrained model uses 8).
        size: (height, width) of the frames (whole frame resized, aspect not kept).
        arch: keyword overrides for pytorchvideo's `i3d_r50` builder (e.g.
            `{"stem_dim_out": 2}` for a tiny model); the pretrained weights need none.
        batch_size: clips per forward pass.
    """

    name = "i3d"

    def __init__(
        self,
        rate: float = 1.0,
        frame_rate: float = 4.0,
        num_frames: int = 8,
        size: tuple[int, int] = (224, 224),
        arch: dict[str, Any] | None = None,
        batch_size: int = 8,
    ):
        super().__init__()
        from pytorchvideo.models.hub.resnet import i3d_r50  # models only: never pytorchvideo.transforms

        if rate <= 0 or frame_rate <= 0 or num_frames < 1:
            raise ConfigError(
                f"i3d needs positive rate, frame_rate and num_frames, got {rate}, {frame_rate}, {num_frames}"
            )
        self.arch = dict(arch or {})
        self._rate = float(rate)
        self._frame_rate = float(frame_rate)
        self.num_frames = int(num_frames)
        self._size = (int(size[0]), int(size[1]))
        self.batch_size = int(batch_size)
        self.weights: str | None = None  # name of the loaded weight file, for `id`

        self.backbone = i3d_r50(pretrained=False, **self.arch)
        self.backbone.blocks[-1] = nn.Identity()  # drop the classification head
        convs = [m for m in self.backbone.modules() if isinstance(m, nn.Conv3d)]
        self._dim = int(convs[-1].out_channels)
        self.register_buffer("mean", torch.tensor(KINETICS_MEAN).view(1, 3, 1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(KINETICS_STD).view(1, 3, 1, 1, 1), persistent=False)
        self.eval()

    @property
    def id(self) -> str:
        arch = "r50" if not self.arch else "custom"
        return f"i3d-{arch}-{self.weights or 'random'}-r{self._rate:g}-{self.num_frames}x{self._frame_rate:g}Hz"

    @classmethod
    def from_pretrained(
        cls,
        path: str | os.PathLike | None = None,
        hub_dir: str | os.PathLike | None = None,
        trust_pickle: bool = False,
        **kwargs: Any,
    ) -> I3DExtractor:
        """Build and load the Kinetics-400 I3D-R50 weights from a local file (no network).

        Args:
            path: the `I3D_8x8_R50.pyth` checkpoint (or a saved `state_dict()`); default:
                the torch hub cache, `default_weights_path(hub_dir)`.
            hub_dir: torch hub directory (default `torch.hub.get_dir()`).
            trust_pickle: allow a pickle the weights-only reader refuses, or TorchScript (`--trust-pickle`).
            **kwargs: other constructor arguments.

        Raises:
            MissingWeightsError: no such file; the message names the URL and target path.
        """
        target = Path(path) if path is not None else default_weights_path(hub_dir)
        if not target.is_file():
            raise MissingWeightsError(
                f"I3D weights not found at {target} and v2meow never downloads. Download {I3D_URL} "
                f"to {default_weights_path(hub_dir)} (or anywhere, and pass that path)."
            )
        state = read_state_dict(target, trust_pickle=trust_pickle)  # before the (slow) build: a bad file fails fast
        ext = cls(**kwargs)
        ext.load_state(state, target)
        return ext

    def load_weights(self, path: str | os.PathLike, trust_pickle: bool = False) -> None:
        """Load a pytorchvideo checkpoint (`model_state`) or a saved `state_dict()`; the head is ignored."""
        self.load_state(read_state_dict(path, trust_pickle=trust_pickle), path)

    def load_state(self, state: dict[str, torch.Tensor], path: str | os.PathLike) -> None:
        """Load the backbone from a state dict read from `path`."""
        if any(k.startswith("backbone.") for k in state):
            state = {k[len("backbone.") :]: v for k, v in state.items() if k.startswith("backbone.")}
        head = f"blocks.{len(self.backbone.blocks) - 1}."
        state = {k: v for k, v in state.items() if not k.startswith(head)}
        load_strict(self.backbone, state, str(path))
        self.weights = Path(path).stem

    def clip_indices(self, times: torch.Tensor, n_out: int) -> torch.Tensor:
        """Frame index of each clip frame, `[n_out, num_frames]`: nearest to the clip's times."""
        centres = (torch.arange(n_out, dtype=torch.float64) + 0.5) / self._rate  # [N]
        offsets = (torch.arange(self.num_frames, dtype=torch.float64) - (self.num_frames - 1) / 2) / self._frame_rate
        targets = centres[:, None] + offsets[None, :]  # [N, F]
        return sample_frames_at(times, targets.flatten()).view(n_out, self.num_frames)

    @torch.inference_mode()
    def embed_clips(self, clips: torch.Tensor) -> torch.Tensor:
        """Embeddings of uint8 clips `[B, F, 3, H, W]` -> `[B, dim]` float32."""
        param = next(self.backbone.parameters())
        b, f = clips.shape[:2]
        x = prepare_frames(clips.flatten(0, 1), self._size)  # [B*F, 3, h, w]
        x = x.view(b, f, 3, *self._size).transpose(1, 2).to(param.device)  # [B, 3, F, h, w]
        x = ((x - self.mean) / self.std).to(param.dtype)
        feats = self.backbone(x)  # [B, dim, t, h', w']
        return feats.mean(dim=(2, 3, 4)).float().cpu()  # [B, dim]

    def extract(self, frames: torch.Tensor, times: torch.Tensor, duration: float | None = None) -> torch.Tensor:
        duration = resolve_duration(times, self.frame_rate, duration)
        n_out = num_output_steps(duration, self._rate)
        if frames.shape[0] == 0 or frames.shape[0] != times.shape[0]:
            raise ConfigError(f"need matching non-empty frames and times, got {frames.shape[0]} and {times.shape[0]}")
        idx = self.clip_indices(times, n_out)  # [N, F]
        out = [self.embed_clips(frames[idx[s : s + self.batch_size]]) for s in range(0, n_out, self.batch_size)]
        return torch.cat(out)  # [N, dim]
