"""Stage 3, keypoints: PoseNet on the crop -> 21 scoremaps per stage -> 2D keypoints in the crop.

As in the release, the last stage's scoremaps are upsampled to the crop size with TF1 bilinear
resizing and each keypoint is the argmax of its map (ties: the first pixel in row-major order);
its score is the peak value.
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


def detect_keypoints(posenet, crop: torch.Tensor) -> Keypoints2D:
    """Run PoseNet (a callable: B x 3 x S x S -> list of stages) on normalised crops."""
    stages = tuple(s.float() for s in posenet(crop))
    side = crop.shape[-1]
    keypoints, scores = G.scoremap_argmax(tf1_resize_bilinear(stages[-1], (side, side)))
    return Keypoints2D(stages, keypoints, scores)
