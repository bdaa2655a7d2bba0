"""The one mapping between the three coordinate systems of the pipeline, each with forward/inverse:

    frame pixels  <-- FrameTransform -->  network-input pixels  <-- CropTransform -->  crop pixels

Points are (row, col), batched (B x K x 2). In 'faithful' mode the crop is cut from the network
input (the squashed frame, like the release) unless the family crops from the frame
(``Architecture.crop_from_frame``, the lite family); in 'aspect' mode from the full-resolution frame.
The ``CropTransform`` of a crop is expressed in the pixels of the image it was cut from. Points, centres
and scales are torch tensors or numpy arrays alike (``handcam.geometry``); the pipeline keeps them on
the host.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from . import geometry as G
from .settings import PipelineSettings


def network_input_size(frame_hw: tuple[int, int], settings: PipelineSettings,
                       default_size: tuple[int, int] = (240, 320)) -> tuple[int, int]:
    """(H, W) HandSegNet sees for a frame: the fixed input size (``settings.input_size``, else
    ``default_size``) in 'faithful' mode; in 'aspect' mode the frame's aspect ratio with the longer
    side at max(input size), both multiples of 8."""
    size = tuple(settings.input_size or default_size)
    if settings.resize_mode == "faithful":
        return size
    h, w = frame_hw
    s = max(size) / max(h, w)
    return max(8, int(round(h * s / 8)) * 8), max(8, int(round(w * s / 8)) * 8)


@dataclass(frozen=True)
class CropTransform:
    """Square crops of side ``size`` around ``center`` (B x 2) at ``scale`` (B, crop pixels per source
    pixel) of a source image (the network input or the frame); arrays or tensors."""

    center: object
    scale: object
    size: int

    def forward(self, points):
        """Source-image points -> crop points."""
        return G.image_to_crop(points, self.center, self.scale, self.size)

    def inverse(self, points):
        """Crop points -> source-image points: ``(p - size / 2) / scale + centre``."""
        return G.crop_to_image(points, self.center, self.scale, self.size)

    def boxes(self):
        """B x 4 (y1, x1, y2, x2) of the crops in source pixels, with the release's rounding."""
        return G.crop_boxes(self.center, self.scale, self.size)


@dataclass(frozen=True)
class FrameTransform:
    """Frame pixels <-> network-input pixels (half-pixel centres, per axis)."""

    frame_hw: tuple[int, int]
    net_hw: tuple[int, int]
    crop_from_frame: bool = False

    @classmethod
    def for_frame(cls, frame_hw, settings: PipelineSettings, default_size=(240, 320),
                  crop_from_frame: bool = False) -> "FrameTransform":
        """The transform for a frame: crops come from the frame in 'aspect' mode or when
        ``crop_from_frame`` (a family's choice, ``Architecture.crop_from_frame``)."""
        return cls(tuple(frame_hw), network_input_size(frame_hw, settings, default_size),
                   settings.resize_mode == "aspect" or crop_from_frame)

    @property
    def identity(self) -> bool:
        return tuple(self.frame_hw) == tuple(self.net_hw)

    def forward(self, points):
        """Frame points -> network-input points."""
        return G.resize_points(points, self.frame_hw, self.net_hw)

    def inverse(self, points):
        """Network-input points -> frame points."""
        return G.resize_points(points, self.net_hw, self.frame_hw)

    @functools.cached_property
    def _frame_per_net(self) -> float:
        h, w = self.frame_hw
        return float(np.array([h / self.net_hw[0], w / self.net_hw[1]], np.float32).mean())

    def frame_per_net(self) -> float:
        """Frame pixels per network-input pixel: the mean of the two axis ratios, in float32 (a
        scalar, no host->device copy)."""
        return self._frame_per_net

    def crop_source(self, crop: CropTransform) -> CropTransform:
        """A crop defined in network-input pixels, expressed in the pixels of the image it is cut
        from: itself when cut from the network input, else in frame pixels (``crop_from_frame``)."""
        if not self.crop_from_frame:
            return crop
        return CropTransform(self.inverse(crop.center[:, None])[:, 0], crop.scale / self.frame_per_net(), crop.size)

    def crop_to_frame(self, crop: CropTransform, points):
        """Crop points -> frame points, for a crop in its source's pixels (``crop_source``)."""
        src = crop.inverse(points)
        return src if self.crop_from_frame else self.inverse(src)

    def crop_points(self, crop: CropTransform, points):
        """Crop points -> (frame points, network-input points), for a crop in its source's pixels
        (``crop_source``), with one inverse of the crop: what ``crop_to_frame`` and ``crop_to_network`` give."""
        src = crop.inverse(points)
        return (src, self.forward(src)) if self.crop_from_frame else (self.inverse(src), src)

    def crop_to_network(self, crop: CropTransform, points):
        """Crop points -> network-input points, for a crop in its source's pixels (``crop_source``): a crop
        from the frame maps through the frame's points (per axis)."""
        src = crop.inverse(points)
        return self.forward(src) if self.crop_from_frame else src

    def box_in_frame(self, crop: CropTransform):
        """B x 4 (y1, x1, y2, x2) frame pixels of a crop in its source's pixels."""
        boxes = crop.boxes()
        if self.crop_from_frame:
            return boxes
        return self.inverse(boxes.reshape(-1, 2, 2)).reshape(-1, 4)
