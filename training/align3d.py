"""Aligning an estimated 3D hand to a reference before measuring its error, as pure batched torch functions
(any device; float64 recommended): the least-squares scale of a root-relative hand, and the similarity
(Procrustes) alignment — rotation, scale and translation.

Both take row vectors, ``pred`` and ``target`` of shape (..., N, 3), and return the aligned prediction
with the fitted parameters; :func:`joint_errors` is the per-point distance after alignment.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["ScaleFit", "SimilarityFit", "fit_scale", "procrustes", "joint_errors"]


@dataclass(frozen=True)
class ScaleFit:
    """``aligned = scale * pred``; scale (...,)."""

    aligned: torch.Tensor
    scale: torch.Tensor


@dataclass(frozen=True)
class SimilarityFit:
    """``aligned = scale * pred @ rotation + translation`` (row vectors); rotation (..., 3, 3) with
    determinant +1, scale (...,), translation (..., 3)."""

    aligned: torch.Tensor
    rotation: torch.Tensor
    scale: torch.Tensor
    translation: torch.Tensor


def fit_scale(pred: torch.Tensor, target: torch.Tensor) -> ScaleFit:
    """The scalar ``s`` minimising ``sum |s pred - target|^2`` over the points: ``<pred, target> / <pred, pred>``
    (0 for an all-zero ``pred``). Meant for hands that are already root-relative (both roots at the origin):
    only the scale is fitted, not a translation or a rotation."""
    num = (pred * target).sum(dim=(-2, -1))
    den = (pred * pred).sum(dim=(-2, -1))
    scale = torch.where(den > 0, num / den.clamp_min(torch.finfo(den.dtype).tiny), torch.zeros_like(num))
    return ScaleFit(scale[..., None, None] * pred, scale)


def procrustes(pred: torch.Tensor, target: torch.Tensor) -> SimilarityFit:
    """The similarity transform (a proper rotation R, a scale s >= 0 and a translation t) minimising
    ``sum |s pred @ R + t - target|^2`` over the points (Umeyama 1991: the SVD of the centred
    cross-covariance, its smallest singular direction's sign flipped when the best orthogonal matrix would be
    a reflection, so a mirror-image hand is not aligned onto its reference)."""
    mu_p = pred.mean(dim=-2, keepdim=True)
    mu_t = target.mean(dim=-2, keepdim=True)
    p, q = pred - mu_p, target - mu_t
    u, sv, vh = torch.linalg.svd(p.transpose(-1, -2) @ q)         # p^T q = U S V^T (3 x 3)
    d = torch.sign(torch.linalg.det(u @ vh))
    d = torch.where(d == 0, torch.ones_like(d), d)
    signs = torch.ones_like(sv)
    signs[..., -1] = d
    rotation = u @ (signs[..., :, None] * vh)                      # U diag(1, 1, d) V^T: maximises tr(R^T p^T q)
    var = (p * p).sum(dim=(-2, -1))
    scale = torch.where(var > 0, (sv * signs).sum(-1) / var.clamp_min(torch.finfo(var.dtype).tiny),
                        torch.zeros_like(var))
    translation = mu_t[..., 0, :] - scale[..., None] * (mu_p @ rotation)[..., 0, :]
    aligned = scale[..., None, None] * pred @ rotation + translation[..., None, :]
    return SimilarityFit(aligned, rotation, scale, translation)


def joint_errors(aligned: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(..., N) Euclidean distances between corresponding points."""
    return torch.linalg.vector_norm(aligned - target, dim=-1)
