"""Stage 4, lift: PosePrior + ViewPoint on the scoremaps -> a normalised 3D hand.

PosePrior predicts the hand in a canonical frame, ViewPoint the rotation (axis-angle, Rodrigues as
the release computes it) from that frame to the camera; right hands are mirrored (z -> -z) before
the rotation. The result is root-relative with bone 12-11 of length 1 (``handcam.canonical``).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import geometry as G


@dataclass(frozen=True)
class Pose3D:
    """coord_can: B x 21 x 3 canonical coordinates; rot_mat: B x 3 x 3; keypoints: B x 21 x 3."""

    coord_can: torch.Tensor
    rot_mat: torch.Tensor
    keypoints: torch.Tensor


def lift_pose(poseprior, viewpoint, scoremap: torch.Tensor, hand_side: torch.Tensor) -> Pose3D:
    """Run the two lifting networks (callables: (scoremap B x 21 x s x s, hand side B x 2) -> canonical
    B x 21 x 3 / axis-angle B x 3) and combine them."""
    coord_can = poseprior(scoremap, hand_side).float()
    rot = G.rodrigues(viewpoint(scoremap, hand_side).float())
    return Pose3D(coord_can, rot, G.from_canonical(coord_can, rot, hand_side))
