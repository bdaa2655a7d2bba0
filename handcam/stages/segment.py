"""Stage 1, segment: HandSegNet on the network-input image -> hand probability -> the single-object
mask -> where the hand is (its box, for the crop stage) and how sure the network is (presence).

The mask grows from a seed by repeated 21x21 dilations AND-ed with the thresholded map. Two exact
implementations of the same arithmetic:

- ``torch``: separable ``max_pool2d`` passes, on any device, with no host synchronisation (on a GPU
  all passes are queued; nothing waits for the result).
- ``opencv`` (the CPU default): ``cv2.dilate`` on uint8 images, with an early exit once a pass changes
  nothing (every further pass would then return the same mask). About 100x faster than the torch
  passes on a CPU, and bit-identical: both pad with "minus infinity" at the border and both compute
  the same box maximum of a 0/1 image.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .. import geometry as G
from ..settings import MASK_METHODS
from .crop import HandBox

log = logging.getLogger(__name__)

#: Side of the square neighbourhood the mask grows by per pass (the release's dilation filter).
GROW_FILTER = 21

try:  # OpenCV is a dependency of handcam; keep the torch path usable without it
    import cv2
except ImportError:  # pragma: no cover - exercised only on installs without OpenCV
    cv2 = None


def hand_probability(logits: torch.Tensor) -> torch.Tensor:
    """B x C x H x W logits -> B x H x W probability of a hand (float32, also for reduced-precision
    logits): class 1 of 2 (background, hand), or left + right of 3 (background, left, right) — in both
    cases one minus the background's softmax."""
    return _hand_share(torch.softmax(logits.float(), dim=1))


def _hand_share(p: torch.Tensor) -> torch.Tensor:
    """Class probabilities B x C x H x W -> B x H x W hand probability (``hand_probability``)."""
    return p[:, 1] if p.shape[1] == 2 else 1.0 - p[:, 0]


def right_share(p: torch.Tensor, mask: torch.Tensor) -> torch.Tensor | None:
    """How likely the masked hand is a right hand, B, from the class probabilities B x C x H x W (None for
    2 classes, which have no side): the right class's share of the hand probability summed over the mask's
    pixels (over the whole map where a mask is empty)."""
    if p.shape[1] != 3:
        return None
    weight = mask.to(p.dtype)
    empty = weight.flatten(1).sum(1) == 0
    weight = torch.where(empty[:, None, None], torch.ones_like(weight), weight)
    left = (p[:, 1] * weight).flatten(1).sum(1)
    right = (p[:, 2] * weight).flatten(1).sum(1)
    return right / (left + right).clamp_min(1e-12)


def _dilate(x: torch.Tensor, size: int) -> torch.Tensor:
    """size x size max filter (stride 1, SAME), done separably (a box max is separable)."""
    pad = size // 2
    x = F.max_pool2d(x, (size, 1), stride=1, padding=(pad, 0))
    return F.max_pool2d(x, (1, size), stride=1, padding=(0, pad))


def grow_passes(h: int, w: int) -> int:
    """The release's number of growth passes for an H x W map: ``max(H, W) // 10``."""
    return max(h, w) // (GROW_FILTER // 2)


def resolve_mask_method(method: str, device: torch.device) -> str:
    """'auto' -> 'opencv' for CPU tensors when OpenCV is importable, else 'torch'."""
    if method not in MASK_METHODS:
        raise ValueError(f"mask method must be one of {MASK_METHODS}, got {method!r}")
    if method == "auto":
        return "opencv" if (device.type == "cpu" and cv2 is not None) else "torch"
    if method == "opencv" and cv2 is None:
        raise ValueError("mask method 'opencv' needs OpenCV (pip install opencv-python-headless)")
    return method


def _grow_torch(seed_idx: torch.Tensor, binary: torch.Tensor, n: int) -> torch.Tensor:
    b, h, w = binary.shape
    binary = binary.to(torch.float32)[:, None]
    obj = torch.zeros(b, h * w, dtype=torch.float32, device=binary.device)
    obj.scatter_(1, seed_idx[:, None], 1.0)
    obj = obj.reshape(b, 1, h, w)
    for _ in range(n):
        obj = _dilate(obj, GROW_FILTER) * binary
    return obj[:, 0] > 0.5


def _grow_opencv(seed_idx: torch.Tensor, binary: torch.Tensor, n: int) -> torch.Tensor:
    b, h, w = binary.shape
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (GROW_FILTER, GROW_FILTER))
    bin_np = binary.cpu().numpy().astype(np.uint8)
    seeds = seed_idx.cpu().numpy()
    out = np.zeros((b, h, w), dtype=bool)
    for i in range(b):
        # Work inside the bounding box of the foreground pixels and the seed: outside it the mask is
        # 0 after every pass (it is AND-ed with the foreground), and cv2.dilate treats pixels beyond
        # the window as 0 too, so the window gives the same mask as the full map.
        seed_r, seed_c = divmod(int(seeds[i]), w)
        rows = np.flatnonzero(bin_np[i].any(axis=1))
        cols = np.flatnonzero(bin_np[i].any(axis=0))
        if rows.size == 0 or n == 0:
            out[i, seed_r, seed_c] = n == 0  # no passes: the seed; no foreground: empty
            continue
        r0, r1 = min(rows[0], seed_r), max(rows[-1], seed_r) + 1
        c0, c1 = min(cols[0], seed_c), max(cols[-1], seed_c) + 1
        fg = bin_np[i, r0:r1, c0:c1]
        obj = np.zeros_like(fg)
        obj[seed_r - r0, seed_c - c0] = 1
        for _ in range(n):
            new = cv2.dilate(obj, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
            np.bitwise_and(new, fg, out=new)
            if np.array_equal(new, obj):
                break  # a fixed point: the remaining passes cannot change it
            obj = new
        out[i, r0:r1, c0:c1] = obj.astype(bool)
    return torch.from_numpy(out).to(binary.device)


def single_object_mask(logits: torch.Tensor, threshold: float = 0.5, passes: int | None = None,
                       method: str = "auto") -> tuple[torch.Tensor, torch.Tensor]:
    """The release's ``single_obj_scoremap``, batched.

    The foreground map is thresholded (``p > threshold``; the release's ``round`` equals 0.5, ties
    to even). A single seed at the most confident pixel (first in row-major order) grows
    ``max(H, W) // 10`` times by a 21x21 dilation AND-ed with the thresholded map: the mask is the
    region of foreground pixels reachable from the seed in 21-px steps (at most that many steps).

    ``method``: 'torch', 'opencv' or 'auto' (OpenCV for CPU tensors); all give the same mask.
    Returns (mask B x H x W bool, foreground probability B x H x W).
    """
    prob = hand_probability(logits)
    return grow_object_mask(prob, threshold, passes, method), prob


def grow_object_mask(prob: torch.Tensor, threshold: float = 0.5, passes: int | None = None,
                     method: str = "auto") -> torch.Tensor:
    """``single_object_mask`` on a B x H x W hand probability map: the mask, B x H x W bool."""
    b, h, w = prob.shape
    binary = prob > threshold
    # The release seeds a 1 at the most confident pixel and multiplies by the binary map only
    # after each dilation, so the seed spreads even when it is not itself foreground.
    seed_idx = prob.reshape(b, -1).argmax(dim=1)
    n = grow_passes(h, w) if passes is None else passes
    if resolve_mask_method(method, prob.device) == "opencv":
        mask = _grow_opencv(seed_idx, binary, n)
    else:
        mask = _grow_torch(seed_idx, binary, n)
    return mask


@dataclass(frozen=True)
class Segmentation:
    """HandSegNet's result for a batch, in network-input pixels.

    logits:       B x C x h x w (background, hand) or (background, left hand, right hand)
    probability:  B x h x w hand probability
    mask:         B x h x w bool, the single-object mask
    presence:     B, how sure the network is that a hand is there: the peak hand probability (the mask's
                  seed), calibrated when the weights say how (``calibrated_presence``)
    right:        B, the probability that the masked hand is a right hand (``right_share``), or
                  None when the network does not predict sides
    """

    logits: torch.Tensor
    probability: torch.Tensor
    mask: torch.Tensor
    presence: torch.Tensor
    right: torch.Tensor | None = None

    def hand_side(self) -> torch.Tensor | None:
        """B x 2 one-hot (left, right) of the predicted sides, or None (no sides predicted)."""
        if self.right is None:
            return None
        r = (self.right > 0.5).to(torch.float32)
        return torch.stack([1.0 - r, r], dim=1)

    def hand_box(self, crop_factor: float) -> HandBox:
        """The mask's bounding box (the release's centre and size; an empty mask gives its fallback)."""
        center, size = G.mask_center_and_size(self.mask)
        return HandBox(center, size, crop_factor)


def calibrated_presence(peak: torch.Tensor, calibration: tuple[float, float] | None = None) -> torch.Tensor:
    """The presence score from the peak hand probability: the peak itself, or with a weights file's
    ``calibration`` (a, b) Platt's scaling ``sigmoid(a * logit(peak) + b)``, fitted so that the score is the
    frequency of a hand among photos of that score (``python -m training.calibrate``)."""
    if calibration is None:
        return peak
    a, b = calibration
    p = peak.clamp(1e-6, 1 - 1e-6)
    return torch.sigmoid(a * torch.log(p / (1 - p)) + b)


def segment(handsegnet, image: torch.Tensor, threshold: float = 0.5, mask_method: str = "auto",
            presence_calibration: tuple[float, float] | None = None) -> Segmentation:
    """Run HandSegNet (a callable: B x 3 x h x w normalised image -> B x C x h x w logits, C = 2 or 3) and
    keep the single most confident hand region (and its side, for 3 classes). The presence score is the
    peak hand probability, through ``calibrated_presence`` when the weights carry a calibration."""
    logits = handsegnet(image).float()
    classes = torch.softmax(logits, dim=1)          # once: the hand probability and the side share it
    prob = _hand_share(classes)
    mask = grow_object_mask(prob, threshold, method=mask_method)
    presence = calibrated_presence(prob.reshape(prob.shape[0], -1).amax(dim=1), presence_calibration)
    return Segmentation(logits, prob, mask, presence, right_share(classes, mask))
