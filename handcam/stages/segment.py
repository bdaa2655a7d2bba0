"""Stage 1, segment: HandSegNet on the network-input image -> hand probability -> the hands' regions
(``find_hands``: the release's single-object mask first, then every further hand region, split by side
where a left and a right hand touch) -> where each hand is (its box, for the crop stage), how sure the
network is (presence) and which hand it is (the side's share).

A region grows from a seed by repeated 21x21 dilations AND-ed with the thresholded map. Two exact
implementations of the same arithmetic:

- ``torch``: separable ``max_pool2d`` passes, on any device, with no host synchronisation (on a GPU
  all passes are queued; nothing waits for the result: ``single_object_mask``; ``find_hands`` works on
  the host, where the number of hands is decided).
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


def _hand_share(p):
    """Class probabilities B x C x H x W (a tensor or a host array) -> B x H x W hand probability
    (``hand_probability``)."""
    return p[:, 1] if p.shape[1] == 2 else 1.0 - p[:, 0]


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
    return torch.from_numpy(_grow_opencv_host(seed_idx.cpu().numpy(), binary.cpu().numpy(), n)).to(binary.device)


def _grow_opencv_host(seeds: np.ndarray, binary: np.ndarray, n: int) -> np.ndarray:
    """The OpenCV growth on host arrays: B seeds (flat index), B x H x W bool -> B x H x W bool."""
    b, h, w = binary.shape
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (GROW_FILTER, GROW_FILTER))
    bin_np = binary.view(np.uint8) if binary.dtype == bool else binary.astype(np.uint8)
    out = np.zeros((b, h, w), dtype=bool)
    for i in range(b):
        # Work inside the bounding box of the foreground pixels and the seed: outside it the mask is
        # 0 after every pass (it is AND-ed with the foreground), and cv2.dilate treats pixels beyond
        # the window as 0 too, so the window gives the same mask as the full map.
        seed_r, seed_c = divmod(int(seeds[i]), w)
        x, y, bw, bh = cv2.boundingRect(bin_np[i])
        if bw == 0 or n == 0:
            out[i, seed_r, seed_c] = n == 0  # no passes: the seed; no foreground: empty
            continue
        r0, r1 = min(y, seed_r), max(y + bh, seed_r + 1)
        c0, c1 = min(x, seed_c), max(x + bw, seed_c + 1)
        fg = bin_np[i, r0:r1, c0:c1]
        obj = np.zeros(fg.shape, np.uint8)
        obj[seed_r - r0, seed_c - c0] = 1
        count = -1
        for _ in range(n):
            obj = cv2.dilate(obj, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
            np.bitwise_and(obj, fg, out=obj)
            # from the first pass on the mask lies inside the foreground, and a dilation keeps it: each
            # pass adds pixels or none, so an unchanged count is a fixed point (further passes change nothing)
            grown = cv2.countNonZero(obj)
            if grown == count:
                break
            count = grown
        out[i, r0:r1, c0:c1] = obj.view(bool)
    return out


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
    return _grow(seed_idx, binary, grow_passes(h, w) if passes is None else passes, method)


def _grow(seed_idx: torch.Tensor, binary: torch.Tensor, n: int, method: str) -> torch.Tensor:
    """Grow each B seed (flat index) ``n`` passes within the B x H x W binary map, by ``method``."""
    if resolve_mask_method(method, binary.device) == "opencv":
        return _grow_opencv(seed_idx, binary, n)
    return _grow_torch(seed_idx, binary, n)


#: A hand region whose weaker side holds at least this share of its hand probability is two hands
#: (a left and a right hand touching), split by the side each pixel is more likely to be.
SPLIT_SHARE = 0.3
#: ... and only when each part's own side share is at least this (two hands, each sure of its side).
SPLIT_CONFIDENCE = 0.8
#: A further hand region needs at least this share of the pixels of the largest hand in its frame
#: (smaller regions are fragments: a finger cut off by a shadow, a stray blob).
MIN_AREA_SHARE = 0.15
#: A further hand whose box lies at least this much (share of its own box) inside the box of a hand
#: already found on the same side is the same hand again.
MAX_OVERLAP = 0.5


@dataclass(frozen=True)
class Segmentation:
    """HandSegNet's result for a batch of B frames holding N hands, in network-input pixels. The maps are
    tensors on the device; what ``find_hands`` made of them is on the host (numpy): the number of hands is
    decided there, and the next stages' boxes are worked out there.

    logits:       B x C x h x w (background, hand) or (background, left hand, right hand)
    probability:  B x h x w hand probability
    mask:         N x h x w bool, each hand's region (with the release's settings, one per frame: the
                  release's single-object mask)
    presence:     N float32, how sure the network is that each hand is there: the peak hand probability of
                  its region (the region's seed), calibrated when the weights say how (``calibrated_presence``)
    right:        N float32, the probability that each hand is a right hand (``right_share``), or None when
                  the network does not predict sides
    frame_index:  N int64, the frame each hand is in (ascending; a frame's hands in the order they were found)
    """

    logits: torch.Tensor
    probability: torch.Tensor
    mask: np.ndarray
    presence: np.ndarray
    right: np.ndarray | None = None
    frame_index: np.ndarray | None = None

    def __post_init__(self):
        if self.frame_index is None:      # one hand per frame
            object.__setattr__(self, "frame_index", np.arange(self.mask.shape[0]))

    def hand_side(self) -> np.ndarray | None:
        """N x 2 one-hot (left, right) of the predicted sides (float32), or None (no sides predicted)."""
        if self.right is None:
            return None
        r = (self.right > 0.5).astype(np.float32)
        return np.stack([1.0 - r, r], axis=1)

    def hand_box(self, crop_factor: float) -> HandBox:
        """Each mask's bounding box (the release's centre and size; an empty mask gives its fallback)."""
        center, size = G.mask_center_and_size(self.mask)
        return HandBox(center, size, crop_factor)


def _extents(masks: np.ndarray) -> list:
    """M x h x w bool -> per mask (row0, col0, row1, col1) inclusive bounds, or None for an empty mask."""
    out = []
    for m in masks:
        rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
        out.append(None if rows.size == 0 else (rows[0], cols[0], rows[-1], cols[-1]))
    return out


def _inside_share(a, b) -> float:
    """The share of box ``a`` (row0, col0, row1, col1, inclusive; None: empty) that lies inside box ``b``."""
    if a is None or b is None:
        return 0.0
    dr = min(a[2], b[2]) - max(a[0], b[0]) + 1
    dc = min(a[3], b[3]) - max(a[1], b[1]) + 1
    area = (a[2] - a[0] + 1) * (a[3] - a[1] + 1)
    return max(dr, 0) * max(dc, 0) / area


def _grow_host(seeds: np.ndarray, binary: np.ndarray, n: int, method: str) -> np.ndarray:
    """``_grow`` on host arrays (B seeds, B x h x w bool) -> B x h x w bool."""
    if method == "opencv":
        return _grow_opencv_host(seeds, binary, n)
    return _grow_torch(torch.from_numpy(seeds), torch.from_numpy(binary), n).numpy()


def find_hands(classes: torch.Tensor, threshold: float = 0.5, max_hands: int = 1, method: str = "auto",
               presence_calibration: tuple[float, float] | None = None, min_presence: float = 0.0,
               probability=None):
    """The hand regions of each frame from HandSegNet's class probabilities (B x C x h x w).

    The first region of a frame is the release's single-object mask (``grow_object_mask``: grown from the
    most confident pixel). Each further one grows the same way from the most confident hand pixel not yet
    in a region, over the pixels not yet taken, up to ``max_hands`` regions. With sides (C = 3), a region
    whose weaker side holds ``SPLIT_SHARE`` of its hand probability, with the two sides' pixels side by side
    (not mixed through each other: a hand of unsure side) and each part sure of its side
    (``SPLIT_CONFIDENCE``), is a left and a right hand touching: it is split by each pixel's likelier side.
    A hand is kept when its presence (``calibrated_presence`` of its region's peak) is at least
    ``min_presence``; a further hand also needs ``MIN_AREA_SHARE`` of the largest hand's pixels and may not
    lie mostly (``MAX_OVERLAP``) inside the box of a hand of its side already kept (no duplicates). With
    ``max_hands=1`` and ``min_presence=0`` this is the release.

    The regions are found on the host (how many hands there are sets the batch of the next stages: one
    copy of the small maps from the device; none on a CPU), each grown by ``method`` as for host arrays
    (``resolve_mask_method`` on the CPU: 'auto' is OpenCV when importable; the same mask either way).
    ``classes`` may be a tensor (any device) or a host array; ``probability``, their hand probability when the
    caller has it (``_hand_share``: B x h x w). Returns host arrays: (masks N x h x w bool, presence N float32,
    right share N float32 or None, frame index N int64).
    """
    c = G.host_array(classes)
    on_device = isinstance(probability, torch.Tensor) and probability.device.type != "cpu"
    prob = _hand_share(c) if probability is None or on_device else G.host_array(probability)  # one copy at most
    b, h, w = prob.shape
    grow_method = resolve_mask_method(method, torch.device("cpu"))
    binary = prob > threshold
    flat = prob.reshape(b, -1)
    n = grow_passes(h, w)
    masks, peaks = [], []
    taken = None
    for k in range(max_hands):
        if k == 0:
            allowed, seed = binary, flat.argmax(axis=1)
        else:
            allowed = binary & ~taken
            if not allowed.any():
                break
            seed = np.where(allowed.reshape(b, -1), flat, -1.0).argmax(axis=1)
        mask = _grow_host(seed, allowed, n, grow_method)
        if k > 0:    # an empty remainder grows nothing: mark the frame's candidate empty
            mask &= allowed.reshape(b, -1).any(axis=1)[:, None, None]
        masks.append(mask)
        peaks.append(flat[np.arange(b), seed])
        taken = mask if taken is None else taken | mask
    if len(masks) == 1:
        cand, peak, frame = masks[0], peaks[0], np.arange(b)
    else:
        cand = np.stack(masks, axis=1).reshape(-1, h, w)         # (B*K) x h x w, frame-major
        peak = np.stack(peaks, axis=1).reshape(-1)
        frame = np.repeat(np.arange(b), len(masks))
    parent = np.arange(len(cand))                                # split parts share a parent
    right = None
    if c.shape[1] == 3:
        right = right_share(c, cand, frame)
        if max_hands > 1:
            cand, frame, parent, peak, right = _split_touching(c, prob, cand, frame, parent, peak, right)
    presence = calibrated_presence(peak.astype(np.float32), presence_calibration)
    keep = _select_hands(cand, frame, parent, presence, right, max_hands, min_presence)
    if len(keep) == len(cand):         # every candidate (the release: one per frame): no copies
        return cand, presence, None if right is None else right.astype(np.float32), frame
    return cand[keep], presence[keep], None if right is None else right[keep].astype(np.float32), frame[keep]


def right_share(c: np.ndarray, masks: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """How likely each masked hand is a right hand, M, from the host class probabilities ``c`` (B x 3 x h x w)
    of its frame (``frame``, M) and its mask (M x h x w): the right class's share of the hand probability
    summed over the mask's pixels (over the whole map where a mask is empty)."""
    sides = np.empty((len(masks), 2))
    for i, (f, m) in enumerate(zip(frame.tolist(), masks)):    # a few hands: one matrix-vector product each
        lr = c[f, 1:3].reshape(2, -1)
        sides[i] = lr.sum(axis=1, dtype=np.float64) if not m.any() else lr @ m.reshape(-1).astype(np.float32)
    return sides[:, 1] / np.maximum(sides.sum(axis=1), 1e-12)


def _apart(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """M: whether the M x h x w masks ``a`` and ``b`` lie side by side (neither's box mostly, ``MAX_OVERLAP``,
    inside the other's) -- two hands touching -- rather than mixed through each other (one hand whose side
    the network is unsure of)."""
    return np.array([_inside_share(x, y) < MAX_OVERLAP and _inside_share(y, x) < MAX_OVERLAP
                     for x, y in zip(_extents(a), _extents(b))], dtype=bool)


def _split_touching(c, prob, cand, frame, parent, peak, right):
    """``find_hands``'s split of regions that hold a left and a right hand side by side: the candidates
    with each split region replaced by its two parts (in its place, the more confident part first)."""
    split = (np.minimum(right, 1 - right) >= SPLIT_SHARE) & cand.reshape(len(cand), -1).any(axis=1)
    idx = np.flatnonzero(split)
    if len(idx) == 0:
        return cand, frame, parent, peak, right
    is_right = c[frame[idx], 2] > c[frame[idx], 1]
    apart = _apart(cand[idx] & ~is_right, cand[idx] & is_right)
    idx, is_right = idx[apart], is_right[apart]
    if len(idx) == 0:
        return cand, frame, parent, peak, right
    # each part must be sure of its own side: one hand whose fingers and palm the network reads as
    # different sides gives two unsure parts
    m = len(idx)
    shares = right_share(c, np.concatenate([cand[idx] & ~is_right, cand[idx] & is_right]),
                             np.concatenate([frame[idx], frame[idx]]))
    sure = (1.0 - shares[:m] >= SPLIT_CONFIDENCE) & (shares[m:] >= SPLIT_CONFIDENCE)
    idx, is_right = idx[sure], is_right[sure]
    if len(idx) == 0:
        return cand, frame, parent, peak, right
    keep = np.setdiff1d(np.arange(len(cand)), idx)
    parts = np.concatenate([cand[idx] & ~is_right, cand[idx] & is_right])
    part_frame = np.concatenate([frame[idx], frame[idx]])
    part_peak = np.where(parts, prob[part_frame], -1.0).reshape(len(parts), -1).max(axis=1)
    left_first = (part_peak[:len(idx)] >= part_peak[len(idx):]).astype(int)
    order = np.argsort(np.concatenate([keep * 2, idx * 2 + 1 - left_first, idx * 2 + left_first]), kind="stable")
    return (np.concatenate([cand[keep], parts])[order], np.concatenate([frame[keep], part_frame])[order],
            np.concatenate([parent[keep], parent[idx], parent[idx]])[order],
            np.concatenate([peak[keep], part_peak])[order],
            np.concatenate([right[keep], right_share(c, parts, part_frame)])[order])


def _select_hands(cand, frame, parent, presence, right, max_hands: int, min_presence: float) -> list[int]:
    """Indices of the candidates kept as hands (``find_hands``'s rules)."""
    if max_hands == 1 and min_presence <= 0:      # the release: every frame's one candidate
        return list(range(len(cand)))
    extents = _extents(cand)
    area = cand.reshape(len(cand), -1).sum(axis=1).tolist()
    frame, parent, presence = frame.tolist(), parent.tolist(), presence.tolist()
    side = [None] * len(frame) if right is None else [r > 0.5 for r in right.tolist()]
    kept: list[int] = []
    for i in range(len(frame)):
        mine = [j for j in kept if frame[j] == frame[i]]
        if presence[i] < min_presence or len(mine) >= max_hands:
            continue
        if min_presence > 0 and area[i] == 0:     # no pixel above the mask threshold: no hand to crop
            continue
        if mine:          # a further hand of its frame: no fragments, no duplicates
            if area[i] == 0 or area[i] < MIN_AREA_SHARE * max(area[j] for j in mine):
                continue
            if any(parent[j] != parent[i] and side[j] == side[i]
                   and _inside_share(extents[i], extents[j]) >= MAX_OVERLAP for j in mine):
                continue
        kept.append(i)
    return kept


def calibrated_presence(peak, calibration: tuple[float, float] | None = None):
    """The presence score from the peak hand probability (a tensor or a host array; the result is of its
    type): the peak itself, or with a weights file's ``calibration`` (a, b) Platt's scaling
    ``sigmoid(a * logit(peak) + b)``, fitted so that the score is the frequency of a hand among photos of
    that score (``python -m training.calibrate``)."""
    if calibration is None:
        return peak
    a, b = calibration
    p = peak.clip(1e-6, 1 - 1e-6)
    if isinstance(p, torch.Tensor):
        return torch.sigmoid(a * torch.log(p / (1 - p)) + b)
    z = a * np.log(p / (1 - p)) + b
    return (1.0 / (1.0 + np.exp(-z))).astype(p.dtype)


def segment(handsegnet, image: torch.Tensor, threshold: float = 0.5, mask_method: str = "auto",
            presence_calibration: tuple[float, float] | None = None, max_hands: int = 1,
            min_presence: float = 0.0) -> Segmentation:
    """Run HandSegNet (a callable: B x 3 x h x w normalised image -> B x C x h x w logits, C = 2 or 3) and
    find the hands (``find_hands``: up to ``max_hands`` per frame with presence >= ``min_presence``; the
    defaults give the release's single most confident hand region per frame). The presence score is the
    peak hand probability, through ``calibrated_presence`` when the weights carry a calibration.

    The softmax runs in PyTorch also for an ONNX Runtime HandSegNet: ORT's softmax over the class axis of
    an N x C x H x W map (it transposes) measured about ten times slower than PyTorch's."""
    logits = handsegnet(image).float()
    classes = torch.softmax(logits, dim=1)          # once: the hand probability and the side share it
    probability = _hand_share(classes)
    mask, presence, right, frame = find_hands(classes, threshold, max_hands, mask_method, presence_calibration,
                                              min_presence, probability=probability)
    return Segmentation(logits, probability, mask, presence, right, frame)
