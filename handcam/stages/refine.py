"""Stage 3b, refine: a detected hand whose first keypoints disagree with the box it was cropped around
is cropped again around them, and PoseNet runs again on that crop.

The first crop follows the hand mask's box, which is far too large or off-centre when the mask covers a
bare forearm or merges with a face. The keypoints PoseNet finds in it give the box tracking would crop the
next frame from (``crop.box_from_keypoints``: PoseNet's training crop); where the two boxes' crops differ
in side by more than ``REFINE_SIDE_RATIO`` either way, or in centre by more than ``REFINE_CENTER_SHIFT`` of
the first crop's side, the hand is re-cropped (the same ``crop_hands``) and its keypoints and scoremaps are
replaced. One pass at most; the other hands keep their first crop.
"""
from __future__ import annotations

import numpy as np
import torch

from .. import geometry as G
from ..transform import CropTransform, FrameTransform
from .crop import Crop, HandBox, box_from_keypoints, crop_hands
from .keypoints import Keypoints2D, detect_keypoints

#: A hand is re-cropped when the side of its keypoint box's crop and the side of its first crop differ by
#: more than this ratio, either way (the larger over the smaller): a mask box twice the hand's is one.
REFINE_SIDE_RATIO = 1.35
#: ... or when the two crops' centres are further apart than this share of the first crop's side.
REFINE_CENTER_SHIFT = 0.2


def crop_side(box: HandBox, max_scale: float = G.SCALE_MAX) -> np.ndarray:
    """The side (network-input pixels, N) of the square crops ``crop_hands`` cuts around the boxes: the box
    size times its factor, within the scale limits (the same for every crop size)."""
    return G.CROP_SIZE / G.crop_scale(G.host_array(box.size), box.factor, max_scale=max_scale)


def box_disagreement(first: HandBox, second: HandBox,
                     max_scale: float = G.SCALE_MAX) -> tuple[np.ndarray, np.ndarray]:
    """How far apart the crops of two boxes of the same N hands are: (the ratio of their sides, larger
    over smaller, >= 1; the distance of their centres over the first crop's side), N each."""
    a, b = crop_side(first, max_scale), crop_side(second, max_scale)
    shift = np.linalg.norm(G.host_array(first.center) - G.host_array(second.center), axis=-1) / a
    return np.maximum(a / b, b / a), shift


def needs_refinement(first: HandBox, keypoint_box: HandBox, max_scale: float = G.SCALE_MAX) -> np.ndarray:
    """N bool: the hands whose first box and keypoint box disagree (``REFINE_SIDE_RATIO``,
    ``REFINE_CENTER_SHIFT``)."""
    ratio, shift = box_disagreement(first, keypoint_box, max_scale)
    return (ratio > REFINE_SIDE_RATIO) | (shift > REFINE_CENTER_SHIFT)


def refine_crops(posenet, source: torch.Tensor, box: HandBox, crop: Crop, keypoints: Keypoints2D,
                 crop_size: int, transform: FrameTransform, frame_index: np.ndarray,
                 subpixel: bool = False,
                 max_scale: float = G.SCALE_MAX) -> tuple[HandBox, Crop, Keypoints2D, np.ndarray]:
    """One refinement pass over N hands first cropped around ``box`` (``crop``, ``keypoints``: PoseNet's
    output on it) -> (box, crop, keypoints, refined): the hands that ``needs_refinement`` says disagree are
    cut again from ``source`` around their keypoint box (``crop_hands`` with the same ``transform``, hand i
    from frame ``frame_index[i]``) and PoseNet (``detect_keypoints``) runs on those crops only, as one
    batch; their box, crop and keypoints (scoremaps too) replace the first ones. The returned box holds the
    keypoint boxes re-expressed with the first box's factor (the same crops: one factor for all hands);
    ``refined`` is N bool, a host array. The first keypoints are copied to the host (the decision is made
    there, like the boxes); nothing else is copied when no hand disagrees."""
    keypoints_net = transform.crop_to_network(crop.source, G.host_array(keypoints.keypoints))
    tracked = box_from_keypoints(keypoints_net)
    refined = needs_refinement(box, tracked, max_scale)
    if not refined.any():
        return box, crop, keypoints, refined
    idx = np.flatnonzero(refined)
    center, size = G.host_array(box.center, None).copy(), G.host_array(box.size, None).copy()
    center[idx] = tracked.center[idx]
    size[idx] = tracked.size[idx] * np.float32(tracked.factor / box.factor)
    box = HandBox(center, size, box.factor)
    again = crop_hands(source, HandBox(center[idx], size[idx], box.factor), crop_size, transform,
                       G.host_array(frame_index, np.int64)[idx], max_scale)
    found = detect_keypoints(posenet, again.image, subpixel)
    crop = Crop(_merged(crop.image, idx, again.image), _merged_geometry(crop.network, idx, again.network),
                _merged_geometry(crop.source, idx, again.source))
    keypoints = Keypoints2D(tuple(_merged(a, idx, b) for a, b in zip(keypoints.scoremaps, found.scoremaps)),
                            _merged(keypoints.keypoints, idx, found.keypoints),
                            _merged(keypoints.scores, idx, found.scores))
    return box, crop, keypoints, refined


def _merged(first: torch.Tensor, idx: np.ndarray, again: torch.Tensor) -> torch.Tensor:
    """``first`` with rows ``idx`` replaced by ``again`` (a new tensor)."""
    return first.index_copy(0, torch.from_numpy(idx).to(first.device), again.to(first.device, first.dtype))


def _merged_geometry(first: CropTransform, idx: np.ndarray, again: CropTransform) -> CropTransform:
    """The crops ``first`` with crops ``idx`` replaced by ``again`` (host arrays)."""
    center, scale = G.host_array(first.center, None).copy(), G.host_array(first.scale, None).copy()
    center[idx], scale[idx] = G.host_array(again.center), G.host_array(again.scale)
    return CropTransform(center, scale, first.size)
