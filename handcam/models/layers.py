"""Building blocks shared by the paper's networks: TF-'SAME' convolutions with LeakyReLU(0.01).

TensorFlow's SAME padding puts the extra pixel *after* when the total padding is odd (for a stride-2
3x3 conv on an even input: 0 before, 1 after). PyTorch's symmetric ``padding=`` cannot express that,
so stride-2 layers pad explicitly from the input size.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

#: The negative slope of every hidden activation in the release.
LEAKY_SLOPE = 0.01


def tf_same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) padding of TF's SAME for one spatial dimension."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class Conv(nn.Module):
    """Conv2d + bias with TF SAME padding, followed by LeakyReLU(0.01) unless ``act=False``.

    Holds a single ``nn.Conv2d`` called ``conv`` so that parameter names read ``<layer>.conv.weight``.
    """

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, act: bool = True):
        super().__init__()
        self.kernel, self.stride, self.act = kernel, stride, act
        symmetric = stride == 1 and kernel % 2 == 1
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2 if symmetric else 0)
        self._explicit_pad = not symmetric

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._explicit_pad:
            top, bottom = tf_same_pads(x.shape[-2], self.kernel, self.stride)
            left, right = tf_same_pads(x.shape[-1], self.kernel, self.stride)
            x = F.pad(x, (left, right, top, bottom))
        x = self.conv(x)
        return F.leaky_relu(x, LEAKY_SLOPE) if self.act else x


class Dense(nn.Module):
    """Fully connected layer followed by LeakyReLU(0.01) unless ``act=False``."""

    def __init__(self, fin: int, fout: int, act: bool = True):
        super().__init__()
        self.fc = nn.Linear(fin, fout)
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.fc(x)
        return F.leaky_relu(x, LEAKY_SLOPE) if self.act else x


#: The VGG-style front both HandSegNet and PoseNet start with: (name, in, out, kernel, pool after).
VGG_FRONT = (
    ("conv1_1", 3, 64, 3, False), ("conv1_2", 64, 64, 3, True),
    ("conv2_1", 64, 128, 3, False), ("conv2_2", 128, 128, 3, True),
    ("conv3_1", 128, 256, 3, False), ("conv3_2", 256, 256, 3, False),
    ("conv3_3", 256, 256, 3, False), ("conv3_4", 256, 256, 3, True),
    ("conv4_1", 256, 512, 3, False), ("conv4_2", 512, 512, 3, False),
)


def max_pool(x: torch.Tensor) -> torch.Tensor:
    """2x2 max-pool, stride 2, VALID."""
    return F.max_pool2d(x, 2, 2)


def flatten_nhwc(x: torch.Tensor) -> torch.Tensor:
    """Flatten in TF's NHWC order, so that FC weights stored [in, out] by TF map by a transpose."""
    return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)
