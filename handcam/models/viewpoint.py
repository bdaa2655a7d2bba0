"""ViewPoint: the rotation from the canonical frame to the camera (TF scope ``ViewpointNet``).

conv_vp_{0,1,2}_{1,2} (64, 128, 256 channels; *_2 stride 2) -> 4x4x256 -> NHWC flatten (4096)
+ hand side (2) -> fc_vp0 (256), dropout 0.25, fc_vp1 (128), dropout 0.25, and three linear heads
fc_vp_ux, fc_vp_uy, fc_vp_uz (1 each): an axis-angle vector; ``geometry.rodrigues`` makes it a matrix.
"""
from __future__ import annotations

import torch

from .layers import Dense
from .lifting import LiftingNet

TF_SCOPE = "ViewpointNet"


class ViewPoint(LiftingNet):
    """Input: scoremap B x 21 x 32 x 32, hand side B x 2. Output: B x 3 axis-angle (ux, uy, uz)."""

    TF_SCOPE = TF_SCOPE
    LAYER_NAMES = tuple(f"conv_vp_{i}_{j}" for i in range(3) for j in (1, 2)) + (
        "fc_vp0", "fc_vp1", "fc_vp_ux", "fc_vp_uy", "fc_vp_uz")

    def __init__(self):
        super().__init__("conv_vp", (64, 128, 256), ("fc_vp0", "fc_vp1"), (256, 128), dropout=0.25)
        self.fc_vp_ux = Dense(self._head_in, 1, act=False)
        self.fc_vp_uy = Dense(self._head_in, 1, act=False)
        self.fc_vp_uz = Dense(self._head_in, 1, act=False)

    def forward(self, scoremap: torch.Tensor, hand_side: torch.Tensor) -> torch.Tensor:
        x = self.features(scoremap, hand_side)
        return torch.cat([self.fc_vp_ux(x), self.fc_vp_uy(x), self.fc_vp_uz(x)], dim=1)
