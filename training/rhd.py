"""Reader of the Rendered Hand Pose Dataset (RHD) in its native layout, and per-sample hand selection.

Layout (``RHD_published_v2/``)::

    <root>/<split>/color/%05d.png     320x320 RGB
    <root>/<split>/mask/%05d.png      uint8 labels: 0 background, 1 person, 2-17 left hand, 18-33 right hand
    <root>/<split>/depth/%05d.png     depth = (R * 256 + G) / (2**16 - 1) * 5 metres
    <root>/<split>/anno_<split>.pickle  {id: {'xyz': (42, 3) m, 'uv_vis': (42, 3), 'K': (3, 3)}}

with split ``training`` or ``evaluation``; keypoints 0-20 are the left hand, 21-41 the right hand.

:func:`select_hand` turns one annotation (+ mask) into the 21-keypoint sample the networks train on,
exactly as the authors' reader does: the dominant hand is the one with more mask pixels (ties go to the
right hand), keypoint 0 becomes the palm centre (midpoint of wrist 0 and middle MCP 12, visible if
either is), the pixel coordinates are truncated to integers (the release stores them as int32), and the
lifting targets come from :func:`handcam.canonical.canonical_transform`.
"""
from __future__ import annotations

import io
import logging
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from handcam.canonical import canonical_transform, normalize_xyz
from handcam.skeleton import NUM_KEYPOINTS, PALM_FROM

log = logging.getLogger(__name__)

SPLITS = ("training", "evaluation")
#: Mask labels of the left and right hand (inclusive ranges).
LEFT_LABELS = (2, 17)
RIGHT_LABELS = (18, 33)
DEPTH_MAX_M = 5.0


class _AnnotationUnpickler(pickle.Unpickler):
    """Unpickles RHD's annotation file while refusing anything but numpy arrays and builtins."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from an RHD annotation file")


def load_annotations(path: str | os.PathLike) -> dict:
    """Load ``anno_<split>.pickle`` safely (only numpy arrays, numbers, dicts)."""
    with open(path, "rb") as f:
        data = f.read()
    return _AnnotationUnpickler(io.BytesIO(data), encoding="latin1").load()


def save_annotations(path: str | os.PathLike, anno: dict) -> None:
    with open(path, "wb") as f:
        pickle.dump(anno, f, protocol=2)


def decode_depth(bgr: np.ndarray) -> np.ndarray:
    """RHD depth PNG (as OpenCV reads it, BGR uint8) -> float32 metres."""
    r = bgr[..., 2].astype(np.float32)
    g = bgr[..., 1].astype(np.float32)
    return (r * 256.0 + g) / (2**16 - 1) * DEPTH_MAX_M


def encode_depth(depth_m: np.ndarray) -> np.ndarray:
    """Inverse of :func:`decode_depth` (for writing test data): metres -> BGR uint8."""
    v = np.clip(np.round(depth_m / DEPTH_MAX_M * (2**16 - 1)), 0, 2**16 - 1).astype(np.int64)
    out = np.zeros(depth_m.shape + (3,), np.uint8)
    out[..., 2] = v // 256
    out[..., 1] = v % 256
    return out


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
            raise FileNotFoundError(
                f"{anno_path} not found: --data must point at RHD's top folder (RHD_published_v2) that "
                f"contains {split}/color, {split}/mask and {split}/anno_{split}.pickle"
            )
        self.anno = load_annotations(anno_path)
        self.ids = sorted(int(k) for k in self.anno)
        log.info("RHD %s: %d samples in %s", split, len(self.ids), self.dir)

    def __len__(self) -> int:
        return len(self.ids)

    def _path(self, kind: str, i: int) -> str:
        return str(self.dir / kind / f"{self.ids[i]:05d}.png")

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


def write_rhd_sample(root: str | os.PathLike, split: str, sample_id: int, color_rgb: np.ndarray,
                     mask: np.ndarray, depth_m: np.ndarray | None = None) -> None:
    """Write one frame's PNGs in RHD's native layout (for tests and generated data)."""
    d = Path(root) / split
    for kind in ("color", "mask", "depth"):
        (d / kind).mkdir(parents=True, exist_ok=True)
    name = f"{sample_id:05d}.png"
    cv2.imwrite(str(d / "color" / name), cv2.cvtColor(color_rgb, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(d / "mask" / name), mask.astype(np.uint8))
    if depth_m is None:
        depth_m = np.full(mask.shape, 1.0, np.float32)
    cv2.imwrite(str(d / "depth" / name), encode_depth(depth_m))
