"""Stage 4, lift: PosePrior + ViewPoint on the scoremaps -> a normalised 3D hand.

PosePrior predicts the hand in a canonical frame, ViewPoint the rotation (axis-angle, Rodrigues as
the release computes it) from that frame to the camera; right hands are mirrored (z -> -z) before
the rotation. The result is root-relative with bone 12-11 of length 1 (``handcam.canonical``).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .. import geometry as G
from ..models.layers import tf1_resize_bilinear


@dataclass(frozen=True)
class Pose3D:
    """coord_can: B x 21 x 3 canonical coordinates; rot_mat: B x 3 x 3; keypoints: B x 21 x 3."""

    coord_can: torch.Tensor
    rot_mat: torch.Tensor
    keypoints: torch.Tensor


def lift_pose(poseprior, viewpoint, scoremap: torch.Tensor, hand_side: torch.Tensor,
              size: int | None = None) -> Pose3D:
    """Run the two lifting networks (callables: (scoremap B x 21 x s x s, hand side B x 2) -> canonical
    B x 21 x 3 / axis-angle B x 3) and combine them (``pose_from``). ``size``: the side the lifting networks
    were trained on (``Architecture.scoremap_size``); maps of another side are resized to it first (TF1
    bilinear: the same relative positions)."""
    return pose_from(*_run_networks(poseprior, viewpoint, scoremap, hand_side, size), hand_side)


def lifting_input(scoremap: torch.Tensor, size: int | None) -> torch.Tensor:
    """PoseNet's maps (B x 21 x s x s) as the lifting networks take them: resized to ``size`` (TF1 bilinear)
    when their side differs; ``size`` None leaves them as they are."""
    if size is not None and tuple(scoremap.shape[-2:]) != (size, size):
        scoremap = tf1_resize_bilinear(scoremap, (size, size))
    return scoremap


def _run_networks(poseprior, viewpoint, scoremap, hand_side, size):
    scoremap = lifting_input(scoremap, size)
    return poseprior(scoremap, hand_side), viewpoint(scoremap, hand_side)


def pose_from(coord_can: torch.Tensor, axis_angle: torch.Tensor, hand_side: torch.Tensor) -> Pose3D:
    """The networks' canonical hand (B x 21 x 3) and viewpoint (axis-angle B x 3) -> the Pose3D: Rodrigues as
    the release computes it and the inverse canonical transform (on a CPU in numpy: a few operations on
    21 points per hand)."""
    coord_can, axis_angle, hand_side = coord_can.float(), axis_angle.float(), hand_side.float()
    rot = G.host_math(G.rodrigues, axis_angle)
    return Pose3D(coord_can, rot, G.host_math(G.from_canonical, coord_can, rot, hand_side))


class LiftModule(nn.Module):
    """The lift stage's networks (the resize to ``size`` and both networks) as one module, so that a backend
    can run them as one graph (ONNX Runtime: one call instead of two networks and a resize).
    (scoremap, hand side) -> (coord_can, axis-angle), what ``pose_from`` takes."""

    def __init__(self, poseprior, viewpoint, size: int | None = None):
        super().__init__()
        self.poseprior, self.viewpoint, self.size = poseprior, viewpoint, size

    def forward(self, scoremap: torch.Tensor, hand_side: torch.Tensor):
        return _run_networks(self.poseprior, self.viewpoint, scoremap, hand_side, self.size)
