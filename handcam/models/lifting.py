"""The shared shape of the two lifting networks: six 3x3 convs (every second one stride 2) on the
32x32x21 scoremap, an NHWC flatten, the hand-side one-hot appended, then fully connected layers."""
from __future__ import annotations

import torch
from torch import nn

from ..skeleton import NUM_KEYPOINTS
from .layers import Conv, Dense, flatten_nhwc


class LiftingNet(nn.Module):
    """Base of PosePrior and ViewPoint: ``conv_names`` with widths, FC widths, dropout rate."""

    def __init__(self, prefix: str, widths: tuple[int, int, int], fc_names: tuple[str, ...],
                 fc_widths: tuple[int, ...], dropout: float):
        super().__init__()
        self._convs = []
        cin = NUM_KEYPOINTS
        for i, width in enumerate(widths):
            for j, stride in ((1, 1), (2, 2)):
                name = f"{prefix}_{i}_{j}"
                setattr(self, name, Conv(cin, width, 3, stride=stride))
                self._convs.append(name)
                cin = width
        fin = cin * 4 * 4 + 2
        self._fcs = []
        for name, width in zip(fc_names, fc_widths):
            setattr(self, name, Dense(fin, width))
            self._fcs.append(name)
            fin = width
        self.dropout = nn.Dropout(dropout)
        self._head_in = fin

    def features(self, scoremap: torch.Tensor, hand_side: torch.Tensor) -> torch.Tensor:
        x = scoremap
        for name in self._convs:
            x = getattr(self, name)(x)
        x = torch.cat([flatten_nhwc(x), hand_side.to(x.dtype)], dim=1)
        for name in self._fcs:
            x = self.dropout(getattr(self, name)(x))
        return x
