"""Stage 2, crop: a hand box -> the square crop PoseNet sees (the release's ``crop_and_resize``).

A box comes from the segmentation (the mask's bounding box, enlarged by the crop factor) or, in
tracking, from the previous frame's keypoints (``box_from_keypoints``): the two first stages the
crop can follow.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .. import geometry as G
from ..transform import CropTransform, FrameTransform

try:  # OpenCV is a dependency of handcam; keep the torch path usable without it
    import cv2
except ImportError:  # pragma: no cover - exercised only on installs without OpenCV
    cv2 = None

#: The keypoint a tracked crop is centred on: the middle finger's MCP, as PoseNet's training crops are.
TRACK_CENTER = 12
#: A tracked crop is PoseNet's training crop around the previous keypoints (side twice the largest
#: per-axis distance of a keypoint from the middle MCP), enlarged by this factor: predicted keypoints
#: fall slightly inside the true ones, so an exact crop would shrink from frame to frame (measured on
#: still photos: 1.0 shrinks to the smallest crop, 1.1 holds its size, and twice the keypoints' box -- an
#: earlier rule -- grows until the hand is lost).
TRACK_CROP_FACTOR = 1.1
#: Smallest side (network-input pixels) a tracked crop's box is built from.
TRACK_MIN_EXTENT = 8.0


@dataclass(frozen=True)
class HandBox:
    """Where a hand is, in network-input pixels: box centre (N x 2, row/col), size (N) and the factor
    the crop enlarges it by. The pipeline's boxes are host arrays (float32): they are born on the host
    (``segment.find_hands``' regions, the previous frame's keypoints) and are a few numbers each."""

    center: np.ndarray
    size: np.ndarray
    factor: float


def box_from_keypoints(keypoints_rc) -> HandBox:
    """Keypoints N x 21 x 2 (row, col, network-input pixels; an array or a tensor) -> the box the next frame
    is cropped from in tracking: centred on the middle MCP (``TRACK_CENTER``), side twice the largest
    per-axis distance of a keypoint from it (at least ``TRACK_MIN_EXTENT``) -- the crop PoseNet was trained
    on -- and ``TRACK_CROP_FACTOR`` to enlarge it by."""
    keypoints_rc = G.host_array(keypoints_rc)
    centre = keypoints_rc[:, TRACK_CENTER]
    side = 2.0 * np.abs(keypoints_rc - centre[:, None]).max(axis=(1, 2))
    return HandBox(centre, np.maximum(side, np.float32(TRACK_MIN_EXTENT)), TRACK_CROP_FACTOR)


@dataclass(frozen=True)
class Crop:
    """The crops of a batch.

    image:      N x 3 x S x S normalised crop (a tensor on the device)
    network:    the crop in network-input pixels (its centre and scale, host arrays)
    source:     the same crop in the pixels of the image it was cut from
    """

    image: torch.Tensor
    network: CropTransform
    source: CropTransform


def crop_scale(box: HandBox, crop_size: int, max_scale: float = G.SCALE_MAX):
    """Crop pixels per network-input pixel: the release's clipped ``256 / (size * factor)`` (at most
    ``max_scale``, ``Architecture.max_crop_scale``); a crop of another size scales it (the same box)."""
    scale = G.crop_scale(box.size, box.factor, max_scale=max_scale)
    if crop_size != G.CROP_SIZE:
        scale = scale * (crop_size / G.CROP_SIZE)
    return scale


def crop_hands(source: torch.Tensor, box: HandBox, crop_size: int, transform: FrameTransform,
               frame_index=None, max_scale: float = G.SCALE_MAX) -> Crop:
    """Cut ``crop_size`` crops around the N boxes from ``source`` (the network input, or the frame when
    ``transform.crop_from_frame``), B x 3 x H x W normalised, or uint8 RGB (the crop's samples are then
    normalised like ``geometry.normalize_image``); outside the image is 0 (normalised). Box i is cut from
    image ``frame_index[i]`` (default: box i from image i). The boxes' geometry is worked out on the host
    (``box`` may hold tensors: they are copied there); only the N x 4 crop boxes go to a device source.
    ``max_scale``: the family's crop scale limit (``Architecture.max_crop_scale``)."""
    box = HandBox(G.host_array(box.center), G.host_array(box.size), box.factor)
    network = CropTransform(box.center, crop_scale(box, crop_size, max_scale), crop_size)
    src = transform.crop_source(network)
    boxes = G.normalize_boxes(src.boxes(), source.shape[-2], source.shape[-1])
    if frame_index is not None and in_frame_order(G.host_array(frame_index, np.int64), source.shape[0]):
        frame_index = None                               # one hand per frame, in order
    if source.is_floating_point():
        image = G.crop_and_resize(source, boxes, (crop_size, crop_size), box_indices=frame_index)
    elif source.device.type == "cpu" and cv2 is not None:
        image = crop_uint8_opencv(source, boxes, crop_size, frame_index)
    else:
        image = G.crop_and_resize(source, boxes, (crop_size, crop_size), normalize=True, box_indices=frame_index)
    return Crop(image, network, src)


def in_frame_order(frame_index: np.ndarray, frames: int) -> bool:
    """Whether the hands of ``frame_index`` are one per frame of ``frames``, in frame order (hand i in frame i)."""
    return len(frame_index) == frames and bool((frame_index == np.arange(frames)).all())


def crop_uint8_opencv(frames: torch.Tensor, boxes, size: int, frame_index=None) -> torch.Tensor:
    """``geometry.crop_and_resize(frames, boxes, (size, size), normalize=True, box_indices=frame_index)``
    of CPU uint8 frames (B x 3 x H x W, typically a view of B x H x W x 3 memory; boxes and indices host
    arrays or tensors) by ``cv2.warpAffine``: the same sample positions (``geometry.crop_sample_positions``)
    and bilinear weights, in OpenCV's fixed point (1/32 pixel) with the crop rounded to uint8 before it is
    normalised; samples outside the frame are 0 (normalised) as in TF. Much cheaper on a CPU than gathering
    the four neighbours of every sample; the geometry is numpy on the host."""
    _, c, h, w = frames.shape
    pixels = frames.permute(0, 2, 3, 1).numpy()          # B x H x W x 3 (no copy for a permuted frame)
    boxes = G.host_array(boxes)
    b = boxes.shape[0]
    which = range(b) if frame_index is None else G.host_array(frame_index, np.int64).tolist()
    hw = np.array([h, w], np.float32)
    start, step, positions = G.crop_sample_positions(boxes[:, :2], boxes[:, 2:], hw, size)   # both axes at once
    (ay, ax), (sy, sx) = start.T, step.T
    outside = (positions < 0) | (positions > (hw - 1)[:, None])         # N x 2 x S: rows / columns off the frame
    out = np.empty((size, size, c), np.uint8)
    image = np.empty((b, c, size, size), np.float32)
    for i, f in enumerate(which):                        # one warp per hand (a batch holds a few)
        warp = np.array([[sx[i], 0.0, ax[i]], [0.0, sy[i], ay[i]]], np.float64)
        cv2.warpAffine(np.ascontiguousarray(pixels[f]), warp, (size, size), dst=out,
                       flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
        image[i] = cv2.LUT(out, G.NORMALIZED_UINT8).transpose(2, 0, 1)     # normalised by one lookup, then C x S x S
    for i in np.flatnonzero(outside.any(axis=(1, 2))).tolist():
        image[i][:, outside[i, 0]] = 0.0
        image[i][:, :, outside[i, 1]] = 0.0
    return torch.from_numpy(image)
