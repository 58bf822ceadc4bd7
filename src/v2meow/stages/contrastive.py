"""VMAs' global video-music contrastive objective (VMAs section 4.4, Eq. 2).

The music side is the *expected* token embedding under the decoder's output
distribution, `M = softmax(logits) @ E`, mean-pooled over the valid targets; the video
side is the encoder's visual states, mean-pooled over the valid frames. InfoNCE over the
batch with cosine similarity: video i must pick its own music among the batch's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def masked_mean(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of `x` `[B, T, D]` over the positions where `mask` `[B, T]` is True -> `[B, D]`."""
    if mask is None:
        return x.mean(1)
    w = mask.to(x.dtype)[..., None]  # [B, T, 1]
    return (x * w).sum(1) / w.sum(1).clamp_min(1.0)


def expected_embedding(logits: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """`softmax(logits) @ table`: logits `[B, T, V]`, table `[V, D]` -> `[B, T, D]` (float32).

    The table is detached: it stands for a fixed codebook embedding (VMAs uses EnCodec's),
    so this loss moves the predicted distribution and the video side, not the table.
    """
    return torch.softmax(logits.float(), dim=-1) @ table.detach().float()


def info_nce(video: torch.Tensor, music: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Eq. 2: `-mean_i log softmax_j(cos(video_i, music_j) / temperature)[i]`.

    Args:
        video, music: `[B, D]` pooled representations, row i of each from the same clip.
        temperature: 1.0 is the paper's plain cosine similarity.
    """
    v = F.normalize(video.float(), dim=-1)
    m = F.normalize(music.float(), dim=-1)
    sim = v @ m.T / temperature  # [B, B]
    return F.cross_entropy(sim, torch.arange(sim.shape[0], device=sim.device))


def video_music_loss(
    video_states: torch.Tensor,  # [B, T_v, D] encoder states at the visual positions
    video_mask: torch.Tensor | None,  # [B, T_v] bool
    logits: torch.Tensor,  # [B, T, V] decoder logits over the music vocabulary
    table: torch.Tensor,  # [V, D] token embeddings of that vocabulary
    target_mask: torch.Tensor | None,  # [B, T] bool
    temperature: float = 1.0,
    rows: torch.Tensor | None = None,  # [B] bool: rows that take part (e.g. video not dropped)
) -> torch.Tensor:
    """The contrastive loss of one batch; 0 when fewer than two rows take part."""
    video = masked_mean(video_states.float(), video_mask)  # [B, D]
    music = masked_mean(expected_embedding(logits, table), target_mask)  # [B, D]
    keep = torch.ones(video.shape[0], dtype=torch.bool, device=video.device) if rows is None else rows.clone()
    if video_mask is not None:
        keep &= video_mask.any(1)
    if target_mask is not None:
        keep &= target_mask.any(1)
    if int(keep.sum()) < 2:
        return video.new_zeros(())
    return info_nce(video[keep], music[keep], temperature)
