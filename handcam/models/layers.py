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


# -- TF1 resize: HandSegNet's (and the lite family's) scoremap upsampling, part of the networks --
def _tf1_axis(n_in: int, n_out: int, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Source indices (lower, upper) and weights of TF1 resize_bilinear along one axis:
    src = dst * (n_in / n_out) (no half-pixel offset), upper clamped to the last pixel."""
    # built on the device (a host->device copy would wait for the queued GPU work); the 0-dim CPU
    # scale is passed to the kernel by value
    scale = torch.tensor(n_in / n_out, dtype=torch.float32)
    src = torch.arange(n_out, dtype=torch.float32, device=device) * scale
    lower = torch.floor(src)
    lerp = src - lower
    lower = lower.long()
    upper = torch.clamp(lower + 1, max=n_in - 1)
    return lower, upper, lerp


def tf1_resize_bilinear(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """TF1 ``tf.image.resize_images`` (bilinear, align_corners=False) of B x C x H x W to ``size``.

    Differs from PyTorch's ``interpolate(align_corners=False)``: the source coordinate is
    ``dst * in / out`` with no half-pixel shift, so the top-left pixel is copied exactly.
    Same arithmetic as TF: lerp along x at the top and bottom source rows, then along y. The x-lerp
    of a source row does not depend on the output row, so it is computed once per source row (on
    the smaller of the two grids) and the rows are gathered afterwards: the same numbers, bit for
    bit, at a fraction of the gathers.
    """
    h_out, w_out = int(size[0]), int(size[1])
    if torch.onnx.is_in_onnx_export():
        return _TF1Resize.apply(x, h_out, w_out)
    return _tf1_resize_eager(x, h_out, w_out)


def _tf1_resize_eager(x: torch.Tensor, h_out: int, w_out: int) -> torch.Tensor:
    h_in, w_in = x.shape[-2:]
    x = x.contiguous()
    y0, y1, wy = _tf1_axis(h_in, h_out, x.device)
    x0, x1, wx = _tf1_axis(w_in, w_out, x.device)
    wx = wx.to(x.dtype)
    wy = wy.to(x.dtype)[:, None]

    # (in-place steps on fresh buffers: the same operations and roundings, fewer allocations)
    def lerp_x(rows):
        left = rows.index_select(-1, x0)
        return rows.index_select(-1, x1).sub_(left).mul_(wx).add_(left)

    if h_in <= h_out:  # upsampling rows: x-lerp every source row once, then pick rows
        cols = lerp_x(x)
        top, bottom = cols.index_select(-2, y0), cols.index_select(-2, y1)
    else:
        top, bottom = lerp_x(x.index_select(-2, y0)), lerp_x(x.index_select(-2, y1))
    return bottom.sub_(top).mul_(wy).add_(top)


class _TF1Resize(torch.autograd.Function):
    """``tf1_resize_bilinear`` exported to ONNX as one native ``Resize`` (linear, "asymmetric" coordinates:
    the source coordinate is ``dst * in / out``, TF1's rule) instead of the gathers of the eager version.
    The same interpolation; ONNX Runtime rounds the coordinate arithmetic its own way (float32)."""

    @staticmethod
    def forward(ctx, x, h_out: int, w_out: int):
        return _tf1_resize_eager(x, h_out, w_out)

    @staticmethod
    def symbolic(g, x, h_out, w_out):
        shape = g.op("Shape", x)
        batch_channels = g.op("Slice", shape, g.op("Constant", value_t=torch.tensor([0])),
                              g.op("Constant", value_t=torch.tensor([2])))
        sizes = g.op("Concat", batch_channels, g.op("Constant", value_t=torch.tensor([h_out, w_out])), axis_i=0)
        empty = g.op("Constant", value_t=torch.tensor([], dtype=torch.float32))
        return g.op("Resize", x, empty, empty, sizes, coordinate_transformation_mode_s="asymmetric",
                    mode_s="linear", nearest_mode_s="floor")
