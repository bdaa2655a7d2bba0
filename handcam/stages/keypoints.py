"""Stage 3, keypoints: PoseNet on the crop -> 21 scoremaps per stage -> 2D keypoints in the crop.

As in the release, the last stage's scoremaps are upsampled to the crop size with TF1 bilinear
resizing and each keypoint is the argmax of its map (ties: the first pixel in row-major order);
its score is the peak value. With ``subpixel`` (the lite family, ``Architecture.subpixel_keypoints``)
the peak is found on the maps' own grid and refined below a map pixel instead (``geometry.scoremap_peaks``):
the same peaks without the 4-pixel quantisation, and no 21 upsampled maps.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import geometry as G
from ..models.layers import tf1_resize_bilinear


@dataclass(frozen=True)
class Keypoints2D:
    """scoremaps: PoseNet's stages, each B x 21 x s x s float32 (the last is the prediction);
    keypoints: B x 21 x 2 (row, col) in crop pixels; scores: B x 21 peak values."""

    scoremaps: tuple
    keypoints: torch.Tensor
    scores: torch.Tensor

    @property
    def scoremap(self) -> torch.Tensor:
        """The prediction: the last stage's maps."""
        return self.scoremaps[-1]


def detect_keypoints(posenet, crop: torch.Tensor, subpixel: bool = False) -> Keypoints2D:
    """Run PoseNet (a callable: B x 3 x S x S -> list of stages) on normalised crops; ``subpixel``: peaks
    refined on the maps' own grid instead of the release's argmax of the upsampled maps (on a CPU in numpy:
    a few operations on 21 small maps per hand)."""
    stages = tuple(s.float() for s in posenet(crop))
    side = crop.shape[-1]
    if subpixel:
        keypoints, scores = G.host_math(G.scoremap_peaks, stages[-1], (side, side))
    else:
        keypoints, scores = G.scoremap_argmax(tf1_resize_bilinear(stages[-1], (side, side)))
    return Keypoints2D(stages, keypoints, scores)
