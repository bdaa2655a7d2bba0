"""Training targets and losses of the three stages (batched torch, on whatever device the batch is).

Scoremap targets are computed on the training device from crop keypoints (21 x 256 x 256 floats per
sample would otherwise dominate the data pipeline).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from handcam.handsize import MEAN_BONE_LENGTHS
from handcam.models.layers import tf1_resize_bilinear
from handcam.skeleton import BONES


def _gaussian_factors(uv, valid, size, sigma):
    """The separable factors of the release's scoremaps: exp(-dy^2/s^2) (B,K,H), exp(-dx^2/s^2) (B,K,W)
    and the keep mask (B,K): valid and strictly inside (0 < c < size - 1) after truncation."""
    h, w = size
    c = torch.trunc(uv.float())
    inside = (c[..., 0] > 0) & (c[..., 0] < w - 1) & (c[..., 1] > 0) & (c[..., 1] < h - 1)
    keep = (valid.bool() & inside).float()
    ys = torch.arange(h, device=uv.device, dtype=torch.float32)
    xs = torch.arange(w, device=uv.device, dtype=torch.float32)
    gy = torch.exp(-((ys - c[..., 1, None]) ** 2) / (sigma * sigma))
    gx = torch.exp(-((xs - c[..., 0, None]) ** 2) / (sigma * sigma))
    return gy * keep[..., None], gx


def gaussian_scoremaps(uv: torch.Tensor, valid: torch.Tensor, size: tuple[int, int],
                       sigma: float = 25.0) -> torch.Tensor:
    """Keypoint scoremaps ``exp(-d^2 / sigma^2)`` as in the release.

    uv: (B, K, 2) pixel (x, y); valid: (B, K) bool. Coordinates are truncated to integers first and a
    map is all zero when its keypoint is not valid or not strictly inside (0 < c < size - 1), like the
    release. Returns (B, K, H, W). Computed as the outer product of the two 1D Gaussians.
    """
    gy, gx = _gaussian_factors(uv, valid, size, sigma)
    return gy[..., :, None] * gx[..., None, :]


def pooled_gaussian_scoremaps(uv: torch.Tensor, valid: torch.Tensor, size: tuple[int, int] = (256, 256),
                              sigma: float = 25.0, factor: int = 8) -> torch.Tensor:
    """``pooled_scoremaps(gaussian_scoremaps(...), factor)`` without building the full-size maps:
    the Gaussian and the average pooling are both separable, so pooling the 1D factors is exact."""
    gy, gx = _gaussian_factors(uv, valid, size, sigma)
    gy = gy.unflatten(-1, (-1, factor)).mean(-1)
    gx = gx.unflatten(-1, (-1, factor)).mean(-1)
    return gy[..., :, None] * gx[..., None, :]


def pooled_scoremaps(maps: torch.Tensor, factor: int = 8) -> torch.Tensor:
    """The lifting input: the crop-size target map average-pooled ``factor`` x ``factor``."""
    return F.avg_pool2d(maps, factor, factor)


#: Mask label of pixels that are not trained on (the band around a teacher-derived hand mask).
IGNORE_LABEL = 255


def segmentation_loss(logits: torch.Tensor, hand_mask: torch.Tensor) -> torch.Tensor:
    """Per-pixel softmax cross-entropy (2 classes: background / hand; 3: background / left / right), mean
    over the labelled pixels of the batch (``IGNORE_LABEL`` pixels do not count). logits (B, C, H, W)."""
    return F.cross_entropy(logits.float(), hand_mask.long(), ignore_index=IGNORE_LABEL)


def posenet_loss(stages: list[torch.Tensor], target: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
    """The release's PoseNet loss, summed over the stages.

    Each stage (B, 21, h, w) is resized (TF1 bilinear) to the target size (B, 21, H, W); per sample and
    keypoint ``sqrt(mean squared error)``, weighted by visibility, summed and divided by
    ``sum(vis) + 1e-3``.
    """
    vis = vis.float()
    norm = vis.sum() + 1e-3
    loss = target.new_zeros(())
    for s in stages:
        up = tf1_resize_bilinear(s.float(), tuple(target.shape[-2:]))
        rmse = (up - target).pow(2).mean(dim=(-2, -1)).clamp_min(1e-12).sqrt()
        loss = loss + (rmse * vis).sum() / norm
    return loss


def lifting_loss(coord_pred: torch.Tensor, rot_pred: torch.Tensor, coord_can: torch.Tensor,
                 rot_mat: torch.Tensor) -> torch.Tensor:
    """MSE of the canonical coordinates + MSE of the rotation matrix."""
    return F.mse_loss(coord_pred.float(), coord_can) + F.mse_loss(rot_pred.float(), rot_mat)


def bone_proportion_loss(xyz: torch.Tensor) -> torch.Tensor:
    """How far (B, 21, 3) hands' bone proportions are from a mean hand's: the mean squared difference of the
    log bone lengths (``skeleton.BONES`` order), each hand's and the mean hand's centred on their own mean
    (so the hand's size does not count). 0 for any scaled copy of the mean hand."""
    parents = [p for p, _ in BONES]
    children = [c for _, c in BONES]
    lengths = torch.linalg.vector_norm(xyz[:, children].float() - xyz[:, parents].float(), dim=-1)
    log_len = torch.log(lengths.clamp_min(1e-6))
    mean = torch.log(torch.tensor(np.array(MEAN_BONE_LENGTHS), dtype=log_len.dtype, device=log_len.device))
    diff = (log_len - log_len.mean(-1, keepdim=True)) - (mean - mean.mean())
    return (diff ** 2).mean()
