"""Stage 2, crop: a hand box -> the square crop PoseNet sees (the release's ``crop_and_resize``).

A box comes from the segmentation (the mask's bounding box, enlarged by the crop factor) or, in
tracking, from the previous frame's keypoints (``box_from_keypoints``): the two first stages the
crop can follow.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import geometry as G
from ..transform import CropTransform, FrameTransform

#: Tracking crops a box of this many times the previous keypoints' extent: the side PoseNet was
#: trained with (crops of 2 x the extent of the visible keypoints, see the training recipe).
TRACK_CROP_FACTOR = 2.0
#: Smallest keypoint extent (network-input pixels) a tracked crop is built from.
TRACK_MIN_EXTENT = 8.0


@dataclass(frozen=True)
class HandBox:
    """Where a hand is, in network-input pixels: box centre (B x 2, row/col), size (B) and the factor
    the crop enlarges it by."""

    center: torch.Tensor
    size: torch.Tensor
    factor: float


def box_from_keypoints(keypoints_rc: torch.Tensor) -> HandBox:
    """Keypoints B x 21 x 2 (row, col, network-input pixels) -> the box the next frame is cropped
    from in tracking: the keypoints' box middle and extent (at least ``TRACK_MIN_EXTENT``)."""
    lo = keypoints_rc.amin(dim=1)
    hi = keypoints_rc.amax(dim=1)
    extent = (hi - lo).amax(dim=1).clamp_min(TRACK_MIN_EXTENT)
    return HandBox(0.5 * (lo + hi), extent, TRACK_CROP_FACTOR)


@dataclass(frozen=True)
class Crop:
    """The crops of a batch.

    image:      B x 3 x S x S normalised crop
    network:    the crop in network-input pixels (its centre and scale)
    source:     the same crop in the pixels of the image it was cut from
    """

    image: torch.Tensor
    network: CropTransform
    source: CropTransform


def crop_scale(box: HandBox, crop_size: int) -> torch.Tensor:
    """Crop pixels per network-input pixel: the release's clipped ``256 / (size * factor)``; a crop of
    another size scales it (the same box)."""
    scale = G.crop_scale(box.size, box.factor)
    if crop_size != G.CROP_SIZE:
        scale = scale * (crop_size / G.CROP_SIZE)
    return scale


def crop_hands(source: torch.Tensor, box: HandBox, crop_size: int, transform: FrameTransform) -> Crop:
    """Cut ``crop_size`` crops around the boxes from ``source`` (the network input, or the frame when
    ``transform.crop_from_frame``), B x 3 x H x W normalised; outside the image is 0."""
    network = CropTransform(box.center, crop_scale(box, crop_size), crop_size)
    src = transform.crop_source(network)
    boxes = G.normalize_boxes(src.boxes(), source.shape[-2], source.shape[-1])
    return Crop(G.crop_and_resize(source, boxes, (crop_size, crop_size)), network, src)
