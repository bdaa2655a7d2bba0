"""PoseNet's training crops (:class:`HandCrops`), one per labelled hand of a :class:`training.mixed.Mixture`:
a square crop around the hand (side twice the keypoints' extent from the middle MCP, times a random scale;
centre noise; rotation), a share of them cut around a wrong box (:func:`jittered_box`: too large, too small,
off-centre, with the forearm), half the time cut from the frame shrunk to the network's frame size first (the
resolution the estimator crops from in its default mode), mirror, the photometric augmentations of
:mod:`training.mixed`; and the hand's 3D turned with its crop (:func:`crop_xyz`), for the lifting networks.
All randomness comes from the sample's seeded key (``training.data``), so ``--resume`` stays exact.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from handcam.skeleton import NUM_KEYPOINTS

from . import augment as A
from .errors import TrainingError
from .mixed import CENTER_KEYPOINT, Geometric, Hand, Mixture, apply_affine, photometric, seeded, similarity

#: The wrong boxes :func:`jittered_box` draws, with their shares.
BOX_ERRORS = {"large": 0.3, "small": 0.2, "off_centre": 0.2, "forearm": 0.3}


def jittered_box(rng: np.random.Generator, hand: Hand, centre, side: float) -> tuple[np.ndarray, float]:
    """A wrong crop box around ``hand`` (centre, side), like the ones a segmentation gives: too large
    (x1.3-2.2), too small (x0.6-0.85), off-centre (by 0.15-0.35 of the side), or the hand with its forearm
    (the keypoints' box grown towards the wrist by 1-3 palm lengths, the crop square around it)."""
    kind = rng.choice(list(BOX_ERRORS), p=list(BOX_ERRORS.values()))
    centre = np.asarray(centre, np.float64)
    if kind == "large":
        return centre, side * float(rng.uniform(1.3, 2.2))
    if kind == "small":
        return centre, side * float(rng.uniform(0.6, 0.85))
    if kind == "off_centre":
        a = rng.uniform(0, 2 * np.pi)
        return centre + side * float(rng.uniform(0.15, 0.35)) * np.array([np.cos(a), np.sin(a)]), side
    pts = hand.uv[hand.vis].astype(np.float64)
    palm = (hand.uv[0] - hand.uv[CENTER_KEYPOINT]).astype(np.float64)     # palm centre - middle MCP: towards the wrist
    length = 2.0 * float(np.linalg.norm(palm))                            # a palm length (wrist to middle MCP)
    if length < 1e-6:
        return centre, side * float(rng.uniform(1.3, 2.2))
    elbow = hand.uv[0] + palm / np.linalg.norm(palm) * length * float(rng.uniform(1.0, 3.0))
    box = np.vstack([pts, elbow[None]])
    lo, hi = box.min(0), box.max(0)
    return (lo + hi) / 2, float(max(hi - lo)) * float(rng.uniform(1.0, 1.3))


class HandCrops(Dataset):
    """PoseNet samples, one per labelled hand: ``{"image": 3 x S x S, "uv": 21 x 2 crop pixels, "vis": 21,
    "hand_side": 2, "xyz": 21 x 3, "has_xyz": bool}``. ``xyz`` is the hand's 3D (``Hand.xyz``, wrist at
    keypoint 0) turned with the crop: the crop's in-plane rotation becomes a rotation about the optical axis
    and its mirror a mirrored x (the side swaps with it), so it stays the 3D of the hand the crop shows;
    zeros with ``has_xyz`` False when the source has no 3D."""

    def __init__(self, mixture: Mixture, frame_width: int, size: int, geometric: Geometric = Geometric(),
                 center_noise: float = 0.1, low_res: float = 0.5, hue: float = 0.1, extras: A.Extras = A.Extras(),
                 box_jitter: float = 0.0):
        self.mixture, self.frame_width, self.size = mixture, frame_width, size
        self.geometric, self.center_noise, self.low_res, self.hue, self.extras = (
            geometric, center_noise, low_res, hue, extras)
        self.box_jitter = box_jitter
        self.items = [(k, j) for k, (s, i) in enumerate(mixture.items) for j in range(s.hand_count(i))]
        if not self.items:
            raise TrainingError(f"no labelled hands in {mixture.describe()}")

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, key):
        n, rng = seeded(key)
        k, j = self.items[n]
        source, i = self.mixture.items[k]
        hands = source.hands(i)
        while not hands:                    # a composite that came out with fewer hands than drawn: the next frame
            k = (k + 1) % len(self.mixture.items)
            source, i = self.mixture.items[k]
            hands = source.hands(i)
        hand = hands[j % len(hands)]
        image = source.image(i)
        h, w = image.shape[:2]
        pts = hand.uv[hand.vis]
        centre = hand.uv[CENTER_KEYPOINT] if hand.vis[CENTER_KEYPOINT] else pts.mean(0)
        side = 2.0 * float(np.max(np.abs(pts - centre))) if len(pts) else 100.0
        side = max(side, 8.0)
        s, deg, flip = self.geometric.draw(rng)
        side = side * s
        centre = centre + A.truncated_normal(rng, self.center_noise * side / 2, 2)
        if self.box_jitter > 0 and rng.random() < self.box_jitter:
            centre, side = jittered_box(rng, hand, centre, side)
        if rng.random() < self.low_res and w > self.frame_width:  # cut from the frame at the network's size
            f = self.frame_width / w
            image = cv2.resize(image, (self.frame_width, max(1, round(h * f))), interpolation=cv2.INTER_AREA)
            fx, fy = image.shape[1] / w, image.shape[0] / h
            # cv2.resize maps pixel centres: p' = (p + 0.5) f - 0.5 (as handcam.geometry.resize_points)
            uv_img = (hand.uv + 0.5) * [fx, fy] - 0.5
            centre, side = (centre + 0.5) * [fx, fy] - 0.5, side * fx
        else:
            uv_img = hand.uv
        m = similarity(centre, self.size / side, deg, (self.size / 2, self.size / 2))
        crop = cv2.warpAffine(image, m, (self.size, self.size), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=(128, 128, 128))
        uv = apply_affine(m, uv_img.astype(np.float64))
        xyz = crop_xyz(hand.xyz, m, flip)
        hand_side = hand.side
        if flip:
            crop = A.mirror_image(crop)
            uv[:, 0] = (self.size - 1) - uv[:, 0]
            hand_side = 1 - hand_side
        crop = photometric(rng, crop, self.hue, self.extras)
        return {"image": torch.from_numpy(A.normalize(crop)), "uv": torch.from_numpy(uv),
                "vis": torch.from_numpy(hand.vis.copy()),
                "hand_side": torch.from_numpy(np.eye(2, dtype=np.float32)[hand_side]),
                "xyz": torch.from_numpy(np.zeros((NUM_KEYPOINTS, 3), np.float32) if xyz is None else xyz),
                "has_xyz": torch.tensor(xyz is not None)}


def crop_xyz(xyz: np.ndarray | None, affine: np.ndarray, mirror: bool) -> np.ndarray | None:
    """A hand's 3D points (N x 3, camera axes) as seen in a crop cut with the 2 x 3 ``affine`` (a similarity)
    and then mirrored or not: the affine's rotation turns x and y (about the optical axis; image and camera
    share x right, y down), its scale and shift are left out (3D has no pixels), the mirror negates x.
    None stays None."""
    if xyz is None:
        return None
    lin = np.asarray(affine, np.float64)[:, :2]
    rot = lin / np.sqrt(abs(np.linalg.det(lin)))
    out = np.asarray(xyz, np.float64).copy()
    out[:, :2] = out[:, :2] @ rot.T
    if mirror:
        out[:, 0] = -out[:, 0]
    return out.astype(np.float32)
