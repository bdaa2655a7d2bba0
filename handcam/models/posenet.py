"""PoseNet: 2D keypoint scoremaps from the 256x256 hand crop (TF scope ``PoseNet2D``).

An encoder (conv1_1 .. conv4_7, 32x32x128 'encoding') and three stages: stage 1 (conv5_1, conv5_2)
predicts 21 scoremaps; stages 2 and 3 (conv6_*, conv7_*) take concat([previous scoremaps, encoding])
(scoremaps first, 149 channels) through five 7x7 convs, a 1x1 conv (128) and a linear 1x1 conv (21).
"""
from __future__ import annotations

import torch
from torch import nn

from ..skeleton import NUM_KEYPOINTS
from .layers import VGG_FRONT, Conv, max_pool

TF_SCOPE = "PoseNet2D"

_ENCODER = VGG_FRONT + (
    ("conv4_3", 512, 256, 3, False), ("conv4_4", 256, 256, 3, False),
    ("conv4_5", 256, 256, 3, False), ("conv4_6", 256, 256, 3, False),
    ("conv4_7", 256, 128, 3, False),
)
ENCODING_CHANNELS = 128


def _stage_layers(block: int):
    """Layers of a refinement stage (block 6 or 7)."""
    cin = NUM_KEYPOINTS + ENCODING_CHANNELS
    layers = [(f"conv{block}_1", cin, 128, 7)]
    layers += [(f"conv{block}_{i}", 128, 128, 7) for i in range(2, 6)]
    layers += [(f"conv{block}_6", 128, 128, 1), (f"conv{block}_7", 128, NUM_KEYPOINTS, 1)]
    return tuple(layers)


_STAGES = (
    (("conv5_1", ENCODING_CHANNELS, 512, 1), ("conv5_2", 512, NUM_KEYPOINTS, 1)),
    _stage_layers(6),
    _stage_layers(7),
)


class PoseNet(nn.Module):
    """Input: B x 3 x 256 x 256 normalised crop. Output: list of the three stages' scoremaps,
    each B x 21 x 32 x 32 (the last one is the prediction)."""

    ARCHITECTURE = "paper"
    TF_SCOPE = TF_SCOPE
    LAYER_NAMES = tuple(n for n, *_ in _ENCODER) + tuple(n for stage in _STAGES for n, *_ in stage)

    def __init__(self):
        super().__init__()
        self._encoder = tuple(name for name, *_ in _ENCODER)
        self._pool_after = {name for name, *_, pool in _ENCODER if pool}
        for name, cin, cout, k, _ in _ENCODER:
            setattr(self, name, Conv(cin, cout, k))
        self._stages = []
        for stage in _STAGES:
            for i, (name, cin, cout, k) in enumerate(stage):
                setattr(self, name, Conv(cin, cout, k, act=i < len(stage) - 1))
            self._stages.append(tuple(name for name, *_ in stage))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        for name in self._encoder:
            x = getattr(self, name)(x)
            if name in self._pool_after:
                x = max_pool(x)
        return x

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        encoding = self.encode(x)
        scoremaps = []
        x = encoding
        for stage in self._stages:
            for name in stage:
                x = getattr(self, name)(x)
            scoremaps.append(x)
            x = torch.cat([x, encoding], dim=1)
        return scoremaps
