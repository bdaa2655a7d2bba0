"""PosePrior: canonical 3D keypoint coordinates from the 2D scoremaps (TF scope ``PosePrior``).

conv_pose_{0,1,2}_{1,2} (32, 64, 128 channels; *_2 stride 2) -> 4x4x128 -> NHWC flatten (2048)
+ hand side one-hot (2) -> fc_rel0 (512), dropout 0.2, fc_rel1 (512), dropout 0.2, fc_xyz (63, linear).
"""
from __future__ import annotations

import torch

from ..skeleton import NUM_KEYPOINTS
from .layers import Dense
from .lifting import LiftingNet

TF_SCOPE = "PosePrior"


class PosePrior(LiftingNet):
    """Input: scoremap B x 21 x 32 x 32, hand side B x 2 ([1, 0] left). Output: B x 21 x 3
    coordinates in the canonical frame (a left hand)."""

    TF_SCOPE = TF_SCOPE
    LAYER_NAMES = tuple(f"conv_pose_{i}_{j}" for i in range(3) for j in (1, 2)) + (
        "fc_rel0", "fc_rel1", "fc_xyz")

    def __init__(self):
        super().__init__("conv_pose", (32, 64, 128), ("fc_rel0", "fc_rel1"), (512, 512), dropout=0.2)
        self.fc_xyz = Dense(self._head_in, NUM_KEYPOINTS * 3, act=False)

    def forward(self, scoremap: torch.Tensor, hand_side: torch.Tensor) -> torch.Tensor:
        x = self.fc_xyz(self.features(scoremap, hand_side))
        return x.reshape(x.shape[0], NUM_KEYPOINTS, 3)
