"""HandSegNet: the paper's hand segmentation network (TF scope ``HandSegNet``).

VGG-like: 2x conv64, pool, 2x conv128, pool, 4x conv256, pool, 4x conv512, conv5_1 (512),
conv5_2 (128), conv6_1 (1x1, 512), conv6_2 (1x1, 2, linear). The 2-channel scoremap at 1/8 resolution
is bilinearly upsampled to the input size with TF1 ``resize_images`` semantics.
"""
from __future__ import annotations

import torch
from torch import nn

from .layers import VGG_FRONT, Conv, max_pool, tf1_resize_bilinear

TF_SCOPE = "HandSegNet"

# (layer name, in, out, kernel, pool after); every layer is LeakyReLU except the last.
_LAYERS = VGG_FRONT + (
    ("conv4_3", 512, 512, 3, False), ("conv4_4", 512, 512, 3, False),
    ("conv5_1", 512, 512, 3, False), ("conv5_2", 512, 128, 3, False),
    ("conv6_1", 128, 512, 1, False), ("conv6_2", 512, 2, 1, False),
)


class HandSegNet(nn.Module):
    """Input: B x 3 x H x W, normalised RGB (``rgb / 255 - 0.5``), H and W multiples of 8.
    Output: B x 2 x H x W logits (background, hand), upsampled to the input size."""

    ARCHITECTURE = "paper"
    TF_SCOPE = TF_SCOPE
    LAYER_NAMES = tuple(name for name, *_ in _LAYERS)

    def __init__(self):
        super().__init__()
        self._pool_after = []
        for name, cin, cout, k, pool in _LAYERS:
            setattr(self, name, Conv(cin, cout, k, act=name != "conv6_2"))
            if pool:
                self._pool_after.append(name)

    def forward(self, x: torch.Tensor, upsample: bool = True) -> torch.Tensor:
        size = x.shape[-2:]
        for name in self.LAYER_NAMES:
            x = getattr(self, name)(x)
            if name in self._pool_after:
                x = max_pool(x)
        return tf1_resize_bilinear(x, size) if upsample else x
