"""`clip`: CLIP image embeddings (open_clip ViT-L/14, 768-d, 1 Hz) as in V2Meow.

Only the image tower is built. Construction makes random weights; `from_pretrained`
loads a local file or a file already in the Hugging Face cache (never the network).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from v2meow.errors import ConfigError, MissingWeightsError, UnknownComponentError
from v2meow.features._time import bin_index, prepare_frames, reduce_bins, resolve_duration
from v2meow.features._weights import load_strict, read_state_dict
from v2meow.features.base import StoredShapeExtractor, num_output_steps

#: A tiny ViT for tests and the debug preset (random weights, 32-d, 32x32 input).
DEBUG_CLIP_ARCH: dict[str, Any] = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "head_width": 32, "patch_size": 8},
}


def _is_path(pretrained: str | os.PathLike | None) -> bool:
    if pretrained is None:
        return False
    s = str(pretrained)
    return isinstance(pretrained, os.PathLike) or os.sep in s or s.endswith((".safetensors", ".bin", ".pt", ".pth"))


class ClipExtractor(StoredShapeExtractor):
    """Per output step, the CLIP image embedding of the step's frame(s).

    Frames are resized (whole frame, aspect not kept) to the model's input size and
    normalised with the CLIP mean/std of the pretrained tag. When several frames fall in
    one step their embeddings are averaged.

    Args:
        model_name: an open_clip architecture name (`open_clip.list_models()`), or any
            label when `arch` is given.
        pretrained: open_clip pretrained tag (e.g. "openai"), a local weight file, or
            None. Sets QuickGELU and mean/std for known tags; loading is `from_pretrained`.
        arch: an open_clip model config dict (`embed_dim`, `vision_cfg`, optional
            `quick_gelu`); default: open_clip's config for `model_name`.
        rate: output steps per second.
        frame_rate: input frames per second (default `rate`).
        batch_size: frames per forward pass.
        normalize: L2-normalise the embeddings (as CLIP does before similarities).
        quick_gelu: override the activation choice (OpenAI weights need True).
    """

    name = "clip"

    def __init__(
        self,
        model_name: str = "ViT-L-14",
        pretrained: str | os.PathLike | None = "openai",
        arch: dict[str, Any] | None = None,
        rate: float = 1.0,
        frame_rate: float | None = None,
        batch_size: int = 32,
        normalize: bool = True,
        quick_gelu: bool | None = None,
    ):
        super().__init__()
        import open_clip

        if arch is None:
            arch = open_clip.get_model_config(model_name)
            if arch is None:
                known = ", ".join(open_clip.list_models())
                raise UnknownComponentError(f"unknown open_clip model {model_name!r}; known: {known}")
        arch = copy.deepcopy(arch)
        tag_cfg = (
            {}
            if pretrained is None or _is_path(pretrained)
            else open_clip.get_pretrained_cfg(model_name, str(pretrained))
        )
        if quick_gelu is None:
            quick_gelu = bool(arch.get("quick_gelu", tag_cfg.get("quick_gelu", False)))
        if rate <= 0:
            raise ConfigError(f"clip rate must be positive, got {rate}")

        self.model_name = model_name
        self.pretrained = None if pretrained is None else str(pretrained)
        self.arch = arch
        self.quick_gelu = quick_gelu
        self.batch_size = int(batch_size)
        self.normalize = normalize
        self._rate = float(rate)
        self._frame_rate = float(frame_rate or rate)
        self._dim = int(arch["embed_dim"])
        size = arch["vision_cfg"].get("image_size", 224)
        self._size = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))

        from open_clip.model import _build_vision_tower

        self.visual = _build_vision_tower(self._dim, arch["vision_cfg"], quick_gelu)
        mean = tag_cfg.get("mean", open_clip.OPENAI_DATASET_MEAN)
        std = tag_cfg.get("std", open_clip.OPENAI_DATASET_STD)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self.eval()

    @property
    def id(self) -> str:
        weights = Path(self.pretrained).name if _is_path(self.pretrained) else (self.pretrained or "random")
        raw = "" if self.normalize else "-raw"
        return f"clip-{self.model_name}-{weights}-r{self._rate:g}{raw}"

    @classmethod
    def from_pretrained(
        cls,
        pretrained: str | os.PathLike = "openai",
        model_name: str = "ViT-L-14",
        cache_dir: str | os.PathLike | None = None,
        trust_pickle: bool = False,
        **kwargs: Any,
    ) -> ClipExtractor:
        """Build and load weights from a local file or the local Hugging Face cache.

        Args:
            pretrained: an open_clip tag for `model_name` or a path to a weight file
                (open_clip `.safetensors`/`.bin`, or OpenAI's TorchScript `.pt`).
            cache_dir: Hugging Face hub cache to look in (default: `HF_HUB_CACHE`).
            trust_pickle: allow OpenAI's TorchScript `.pt` (loading it runs code from the
                file) and pickles the weights-only reader refuses (`--trust-pickle`).
            **kwargs: other constructor arguments.

        Raises:
            MissingWeightsError: the file is not available locally; says what to fetch.
        """
        path = pretrained if _is_path(pretrained) else find_clip_weights(model_name, str(pretrained), cache_dir)
        state = read_state_dict(path, trust_pickle=trust_pickle)  # before the (slow) build: a bad file fails fast
        ext = cls(model_name=model_name, pretrained=pretrained, **kwargs)
        ext.load_state(state, path)
        return ext

    def load_weights(self, path: str | os.PathLike, trust_pickle: bool = False) -> None:
        """Load the image tower from an open_clip/OpenAI checkpoint or a saved `state_dict()`."""
        self.load_state(read_state_dict(path, trust_pickle=trust_pickle), path)

    def load_state(self, state: dict[str, torch.Tensor], path: str | os.PathLike) -> None:
        """Load the image tower from a state dict read from `path`."""
        visual = {k[len("visual.") :]: v for k, v in state.items() if k.startswith("visual.")}
        if not visual:
            raise ConfigError(f"{path} holds no CLIP image tower weights (no 'visual.*' keys)")
        load_strict(self.visual, visual, str(path))

    @torch.inference_mode()
    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """CLIP image embeddings of `frames [T, 3, H, W]` (uint8) -> `[T, dim]` float32."""
        param = next(self.visual.parameters())
        out = []
        for start in range(0, frames.shape[0], self.batch_size):
            x = prepare_frames(frames[start : start + self.batch_size], self._size)  # [B, 3, h, w]
            x = x.to(device=param.device, dtype=torch.float32)
            x = ((x - self.mean) / self.std).to(param.dtype)
            out.append(self.visual(x).float().cpu())  # [B, dim]
        return torch.cat(out)

    def extract(self, frames: torch.Tensor, times: torch.Tensor, duration: float | None = None) -> torch.Tensor:
        duration = resolve_duration(times, self.frame_rate, duration)
        n_out = num_output_steps(duration, self._rate)
        if frames.shape[0] == 0 or frames.shape[0] != times.shape[0]:
            raise ConfigError(f"need matching non-empty frames and times, got {frames.shape[0]} and {times.shape[0]}")
        emb = self.embed(frames)  # [T_in, dim]
        out = reduce_bins(emb, bin_index(times, self._rate, n_out), n_out, "mean")  # [T_out, dim]
        return F.normalize(out, dim=-1) if self.normalize else out


def find_clip_weights(model_name: str, tag: str, cache_dir: str | os.PathLike | None = None) -> str:
    """Path of the cached weight file for an open_clip `(model_name, tag)`, without network.

    Looks in the Hugging Face hub cache for the tag's `hf_hub` file (safetensors first),
    then in open_clip's URL cache (`~/.cache/clip`) for the tag's `url` file.

    Raises:
        UnknownComponentError: the tag is not known for `model_name`.
        MissingWeightsError: no local copy; the message names what to download and where.
    """
    import open_clip
    from huggingface_hub import try_to_load_from_cache

    cfg = open_clip.get_pretrained_cfg(model_name, tag)
    if not cfg:
        tags = ", ".join(open_clip.list_pretrained_tags_by_model(model_name)) or "none"
        raise UnknownComponentError(f"unknown pretrained tag {tag!r} for open_clip model {model_name!r}; known: {tags}")
    hints = []
    if cfg.get("hf_hub"):
        repo, filename = os.path.split(cfg["hf_hub"])
        names = [filename] if filename else ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
        if filename.endswith((".bin", ".pth")):
            names.insert(0, filename[:-4] + ".safetensors")
        for name in names:
            found = try_to_load_from_cache(repo, name, cache_dir=cache_dir)
            if isinstance(found, str) and os.path.isfile(found):
                return found
        hints.append(f"`hf download {repo} {names[0]}` (https://huggingface.co/{repo}) into the Hugging Face cache")
    if cfg.get("url"):
        url = cfg["url"]
        local = Path(os.path.expanduser("~/.cache/clip")) / os.path.basename(url)
        if local.is_file():
            return str(local)
        hints.append(f"{url} saved as {local}")
    raise MissingWeightsError(
        f"CLIP weights for {model_name} ({tag}) are not available locally and v2meow never downloads. "
        f"Fetch them with {' or '.join(hints)}, or pass a local file as pretrained='/path/to/weights'."
    )
