"""Reader of the Rendered Hand Pose Dataset (RHD) in its native layout, and per-sample hand selection.

The on-disk format (layout, labels, depth codec, annotation pickle) is :mod:`training.rhd_format`'s.

:func:`select_hand` turns one annotation (+ mask) into the 21-keypoint sample the networks train on,
exactly as the authors' reader does: the dominant hand is the one with more mask pixels (ties go to the
right hand), keypoint 0 becomes the palm centre (midpoint of wrist 0 and middle MCP 12, visible if
either is), the pixel coordinates are truncated to integers (the release stores them as int32), and the
lifting targets come from :func:`handcam.canonical.canonical_transform`.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from handcam.canonical import canonical_transform, normalize_xyz
from handcam.skeleton import NUM_KEYPOINTS, PALM_FROM

from .errors import DatasetNotFoundError
from .rhd_format import LEFT_LABELS, RIGHT_LABELS, SPLITS, decode_depth, load_annotations, sample_paths

log = logging.getLogger(__name__)


def hand_pixel_counts(mask: np.ndarray) -> tuple[int, int]:
    """Number of left-hand and right-hand pixels of an RHD label mask."""
    hist = np.bincount(mask.ravel(), minlength=256)
    return int(hist[LEFT_LABELS[0] : LEFT_LABELS[1] + 1].sum()), int(hist[RIGHT_LABELS[0] : RIGHT_LABELS[1] + 1].sum())


def dominant_side(mask: np.ndarray) -> int:
    """0 (left) if the left hand has strictly more mask pixels, else 1 (right), like the release."""
    left, right = hand_pixel_counts(mask)
    return 0 if left > right else 1


@dataclass
class HandSample:
    """The dominant hand of one RHD frame, 21 keypoints in RHD order (float32 unless noted).

    side:      0 left, 1 right;  hand_side: (2,) one-hot
    uv:        (21, 2) pixel (u = x, v = y) in the frame;  vis: (21,) bool
    xyz:       (21, 3) metres, camera frame (kp 0 = palm centre unless use_wrist)
    scale:     bone length |kp12 - kp11| in metres
    xyz_norm:  (21, 3) root-relative / scale
    coord_can: (21, 3) canonical coordinates (PosePrior target);  rot_mat: (3, 3) (ViewPoint target)
    K:         (3, 3) intrinsics
    """

    side: int
    hand_side: np.ndarray
    uv: np.ndarray
    vis: np.ndarray
    xyz: np.ndarray
    scale: float
    xyz_norm: np.ndarray
    coord_can: np.ndarray
    rot_mat: np.ndarray
    K: np.ndarray


def _palm(a: np.ndarray) -> np.ndarray:
    i, j = PALM_FROM
    return 0.5 * (a[i] + a[j])


def select_hand(anno: dict, side: int, use_wrist: bool = False, truncate_uv: bool = True,
                mirror_width: int | None = None) -> HandSample:
    """Build the 21-keypoint sample of hand ``side`` (0 left, 1 right) from one RHD annotation.

    use_wrist:    keep RHD's wrist as keypoint 0 (the release's buggy 2D evaluation) instead of the palm.
    truncate_uv:  truncate pixel coordinates to integers, as the release's binary database does.
    mirror_width: if given, mirror the sample horizontally (image of this width): u -> W - 1 - u,
                  x -> -x, and the hand side swaps (a mirrored left hand is a right hand).
    """
    off = NUM_KEYPOINTS * side
    xyz = np.asarray(anno["xyz"], np.float64)[off : off + NUM_KEYPOINTS].copy()
    uv_vis = np.asarray(anno["uv_vis"], np.float64)[off : off + NUM_KEYPOINTS]
    uv = uv_vis[:, :2].copy()
    if truncate_uv:
        uv = np.trunc(uv)
    vis = uv_vis[:, 2] > 0.5
    if not use_wrist:
        xyz[0] = _palm(xyz)
        uv[0] = _palm(uv)
        vis[0] = vis[PALM_FROM[0]] or vis[PALM_FROM[1]]
    if mirror_width is not None:
        uv[:, 0] = (mirror_width - 1) - uv[:, 0]
        xyz[:, 0] = -xyz[:, 0]
        side = 1 - side
    hand_side = np.eye(2, dtype=np.float32)[side]
    xyz_t = torch.from_numpy(xyz)[None]
    xyz_norm, scale = normalize_xyz(xyz_t)
    coord_can, rot = canonical_transform(xyz_norm, torch.from_numpy(hand_side).double()[None])
    return HandSample(
        side=side,
        hand_side=hand_side,
        uv=uv.astype(np.float32),
        vis=vis,
        xyz=xyz.astype(np.float32),
        scale=float(scale[0]),
        xyz_norm=xyz_norm[0].numpy().astype(np.float32),
        coord_can=coord_can[0].numpy().astype(np.float32),
        rot_mat=rot[0].numpy().astype(np.float32),
        K=np.asarray(anno["K"], np.float32),
    )


class RHD:
    """One split of RHD in the native layout. Decodes lazily; only what a caller asks for."""

    def __init__(self, root: str | os.PathLike, split: str = "training"):
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        self.root = Path(root)
        self.split = split
        self.dir = self.root / split
        anno_path = self.dir / f"anno_{split}.pickle"
        if not anno_path.is_file():
            raise DatasetNotFoundError(
                f"{anno_path} not found: --data must point at RHD's top folder (RHD_published_v2) that "
                f"contains {split}/color, {split}/mask and {split}/anno_{split}.pickle"
            )
        self.anno = load_annotations(anno_path)
        self.ids = sorted(int(k) for k in self.anno)
        log.info("RHD %s: %d samples in %s", split, len(self.ids), self.dir)

    def __len__(self) -> int:
        return len(self.ids)

    def _path(self, kind: str, i: int) -> str:
        return str(sample_paths(self.root, self.split, self.ids[i])[kind])

    @staticmethod
    def _read(path: str, flags: int) -> np.ndarray:
        img = cv2.imread(path, flags)
        if img is None:
            raise FileNotFoundError(f"cannot read {path}")
        return img

    def color(self, i: int) -> np.ndarray:
        """(H, W, 3) uint8 RGB."""
        return cv2.cvtColor(self._read(self._path("color", i), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)

    def mask(self, i: int) -> np.ndarray:
        """(H, W) uint8 labels."""
        m = self._read(self._path("mask", i), cv2.IMREAD_UNCHANGED)
        return m if m.ndim == 2 else m[..., 0]

    def depth(self, i: int) -> np.ndarray:
        """(H, W) float32 metres."""
        return decode_depth(self._read(self._path("depth", i), cv2.IMREAD_COLOR))

    def annotation(self, i: int) -> dict:
        return self.anno[self.ids[i]]

    def hand(self, i: int, mask: np.ndarray | None = None, **kw) -> HandSample:
        """The dominant hand of sample ``i`` (reads the mask if not given)."""
        if mask is None:
            mask = self.mask(i)
        return select_hand(self.annotation(i), dominant_side(mask), **kw)
