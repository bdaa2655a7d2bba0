"""Training frames from several sources at once: renders (or RHD), teacher-labelled real photos and
hand-free photos, with the augmentations real webcam frames need.

Every source answers the same three questions per frame (:class:`FrameSource`):

- ``image(i)``:     uint8 H x W x 3 RGB;
- ``side_mask(i)``: uint8 H x W, 0 background, 1 left hand, 2 right hand, 255 unknown (not trained on);
- ``hands(i)``:     the labelled hands (:class:`Hand`: 21 keypoints in handcam's order, keypoint 0 the
  palm centre, visibility, side).

Sources: :class:`RenderFrames` (an RHD-layout folder: our renders or RHD itself; RHD's part labels
2-17 / 18-33 become left / right), :class:`TeacherFrames` (``python -m training.teacher --masks``
JSONL: the teacher's keypoints with the wrist converted to the palm centre, its derived masks with
their 255 band) and :class:`HandFreeFrames` (a folder of photos without hands, every pixel background:
what teaches HandSegNet that faces, walls and skin-coloured things are not hands).

:class:`Mixture` concatenates sources with a repeat count each (so a small real set can weigh as much
as a large rendered one). The datasets draw all randomness from the seed they are given (see
:mod:`training.data`), so ``--resume`` stays exact:

- :class:`SegmentationFrames` (HandSegNet): the frame scaled so that its width is the network's frame
  width (what inference sees), then a random similarity (scale, rotation, shift), an ``S x S`` window,
  mirror with the side labels swapped, hue / colour / blur / noise. Outside the frame: mid-grey, label
  background.
- :class:`training.crops.HandCrops` (PoseNet): one item per labelled hand, a square crop around it, with
  the same photometric augmentations (``photometric``).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from handcam.skeleton import NUM_KEYPOINTS
from handcam.sources import image_files

from . import augment as A
from .errors import TrainingError
from .labels import boxes_for, read_labels, resolve_image, teacher_to_palm
from .rhd import RHD, select_hand
from .rhd_format import LEFT_LABELS, RIGHT_LABELS

log = logging.getLogger(__name__)

#: The side mask's labels.
BACKGROUND, LEFT, RIGHT, IGNORE = 0, 1, 2, 255
#: A rendered hand becomes a PoseNet sample when at least this many keypoints are visible.
MIN_VISIBLE = 6
#: The keypoint crops are centred on (the middle finger's MCP, as in the release).
CENTER_KEYPOINT = 12

_RHD_TO_SIDE = np.zeros(256, np.uint8)
_RHD_TO_SIDE[LEFT_LABELS[0] : LEFT_LABELS[1] + 1] = LEFT
_RHD_TO_SIDE[RIGHT_LABELS[0] : RIGHT_LABELS[1] + 1] = RIGHT
_SWAP_SIDES = np.arange(256, dtype=np.uint8)
_SWAP_SIDES[LEFT], _SWAP_SIDES[RIGHT] = RIGHT, LEFT


@dataclass(frozen=True)
class Hand:
    """One labelled hand: uv (21, 2) float32 pixels (x, y), keypoint 0 the palm centre; vis (21,) bool;
    side 0 left, 1 right; xyz (21, 3) float32 3D points in camera axes (x right, y down, z away), keypoint 0
    the *wrist*, any unit and origin (the renders' camera coordinates, the teacher's world landmarks), or
    None when the source has no 3D."""

    uv: np.ndarray
    vis: np.ndarray
    side: int
    xyz: np.ndarray | None = None


def _read_rgb(path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise TrainingError(f"cannot read the image {path} (missing or not an image)")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


class FrameSource:
    """What every source has (see the module docstring)."""

    name: str

    def __len__(self) -> int:
        raise NotImplementedError

    def image(self, i: int) -> np.ndarray:
        raise NotImplementedError

    def side_mask(self, i: int) -> np.ndarray:
        raise NotImplementedError

    def hands(self, i: int) -> list[Hand]:
        raise NotImplementedError

    def hand_count(self, i: int) -> int:
        """How many hands ``hands(i)`` holds (a source whose frames are costly to make may say it without
        making them; :class:`training.crops.HandCrops` then copes with a frame that holds fewer)."""
        return len(self.hands(i))


class RenderFrames(FrameSource):
    """An RHD-layout folder (``python -m training.synth`` renders, or RHD)."""

    def __init__(self, root, split: str = "training"):
        self.rhd = RHD(root, split)
        self.name = f"{root}:{split}"

    def __len__(self) -> int:
        return len(self.rhd)

    def image(self, i):
        return self.rhd.color(i)

    def side_mask(self, i):
        return _RHD_TO_SIDE[self.rhd.mask(i)]

    def hands(self, i):
        anno = self.rhd.annotation(i)
        out = []
        for side in (0, 1):
            h = select_hand(anno, side, truncate_uv=False)
            if int(h.vis.sum()) >= MIN_VISIBLE:
                wrist_xyz = np.asarray(anno["xyz"], np.float32)[NUM_KEYPOINTS * side : NUM_KEYPOINTS * (side + 1)]
                out.append(Hand(h.uv, h.vis, side, wrist_xyz.copy()))
        return out


def missed_boxes(record: dict, boxes: dict[str, list]) -> list[tuple[int, int, int, int]]:
    """The human boxes of ``record``'s photo that hold no teacher hand's keypoint centre (hands the teacher
    missed), as integer pixel windows (x0, y0, x1, y1) grown by a tenth of their size."""
    out = []
    centres = [np.asarray(h["keypoints_2d"], np.float64).mean(0) for h in record["hands"]]
    for x0, y0, x1, y1 in boxes_for(record["image"], boxes) or []:
        if any(x0 <= c[0] <= x1 and y0 <= c[1] <= y1 for c in centres):
            continue
        mx, my = 0.1 * (x1 - x0), 0.1 * (y1 - y0)
        out.append((max(0, int(x0 - mx)), max(0, int(y0 - my)), int(np.ceil(x1 + mx)), int(np.ceil(y1 + my))))
    return out


def _world(hand: dict) -> np.ndarray | None:
    world = hand.get("keypoints_world")
    return None if world is None else np.asarray(world, np.float32)


class TeacherFrames(FrameSource):
    """Real photos labelled by ``python -m training.teacher --masks`` (keypoints, sides, derived masks)."""

    def __init__(self, labels, boxes: dict[str, list] | None = None):
        """``boxes``: human hand boxes (``training.labels.read_boxes``) of the same photos: a box that holds
        no teacher hand is a hand the teacher missed, and its pixels are not trained on (255)."""
        self.path = Path(labels)
        self.name = str(labels)
        try:
            self.records = read_labels(self.path)
        except ValueError as e:
            raise TrainingError(str(e)) from None
        if not any(r.get("mask") for r in self.records):
            raise TrainingError(f"{labels} has no masks: label the photos with python -m training.teacher --masks")
        # a photo where the teacher found no hand is not known to be hand-free (the teacher misses hands), and
        # two hands of one side mean one side is wrong: both are left out
        keep = [r for r in self.records if r.get("mask") and r["hands"]
                and len({h["side"] for h in r["hands"]}) == len(r["hands"])]
        if len(keep) < len(self.records):
            log.info("%s: %d photos without a teacher hand or with two hands of one side left out", labels,
                     len(self.records) - len(keep))
        self.records = keep
        sides = {"left": 0, "right": 1}
        odd = next((h["side"] for r in self.records for h in r["hands"] if h["side"] not in sides), None)
        if odd is not None:
            raise TrainingError(f"{labels}: a hand's side is {odd!r}; the teacher writes 'left' or 'right'")
        self._hands = [[Hand(teacher_to_palm(h["keypoints_2d"]).astype(np.float32), np.ones(NUM_KEYPOINTS, bool),
                             sides[h["side"]], _world(h)) for h in r["hands"]] for r in self.records]
        self._missed = [missed_boxes(r, boxes) if boxes else [] for r in self.records]

    def __len__(self) -> int:
        return len(self.records)

    def image(self, i):
        return _read_rgb(resolve_image(self.records[i]["image"], self.path))

    def side_mask(self, i):
        path = resolve_image(self.records[i]["mask"], self.path)
        m = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if m is None:
            raise TrainingError(f"cannot read the mask {path}")
        for x0, y0, x1, y1 in self._missed[i]:
            window = m[y0:y1, x0:x1]
            window[window == BACKGROUND] = IGNORE
        return m

    def hands(self, i):
        return self._hands[i]


class HandFreeFrames(FrameSource):
    """A folder of photos without hands (searched recursively): every pixel is background."""

    def __init__(self, folder):
        self.paths = image_files(Path(folder), recursive=True)
        self.name = str(folder)
        self._last_shape: tuple[int, tuple[int, int]] | None = None
        if not self.paths:
            raise TrainingError(f"no images in {folder} (hand-free photos: python -m training.handfree makes them)")

    def __len__(self) -> int:
        return len(self.paths)

    def image(self, i):
        img = _read_rgb(self.paths[i])
        self._last_shape = (i, img.shape[:2])   # the mask asked for next needs only the size
        return img

    def side_mask(self, i):
        last = self._last_shape
        shape = last[1] if last is not None and last[0] == i else self.image(i).shape[:2]
        return np.zeros(shape, np.uint8)

    def hands(self, i):
        return []


class Mixture:
    """Sources concatenated, each repeated ``repeat`` times: ``items[k] = (source, frame index)``."""

    def __init__(self, sources: list[tuple[FrameSource, int]]):
        if not sources:
            raise TrainingError("no training sources")
        self.sources = [s for s, _ in sources]
        self.items = [(s, i) for s, r in sources for _ in range(r) for i in range(len(s))]
        if not self.items:
            raise TrainingError("the training sources hold no frames")

    def __len__(self) -> int:
        return len(self.items)

    def describe(self) -> str:
        return ", ".join(f"{s.name} ({len(s)})" for s in self.sources)


@dataclass(frozen=True)
class Geometric:
    """Random similarity of the training views: scale factor in [1/(1+scale), 1+scale] (log-uniform),
    rotation in +-rotate degrees, mirror probability."""

    scale: float = 0.25
    rotate: float = 20.0
    flip: float = 0.5

    def draw(self, rng: np.random.Generator) -> tuple[float, float, bool]:
        s = float(np.exp(rng.uniform(-np.log1p(self.scale), np.log1p(self.scale)))) if self.scale > 0 else 1.0
        r = float(rng.uniform(-self.rotate, self.rotate)) if self.rotate > 0 else 0.0
        return s, r, bool(self.flip > 0 and rng.random() < self.flip)


def similarity(center_xy, scale: float, degrees: float, out_center_xy) -> np.ndarray:
    """2 x 3 affine: rotate by ``degrees`` (counter-clockwise on screen) and scale about ``center_xy``,
    which lands on ``out_center_xy``."""
    m = cv2.getRotationMatrix2D((float(center_xy[0]), float(center_xy[1])), degrees, scale)
    m[:, 2] += np.asarray(out_center_xy, np.float64) - np.asarray(center_xy, np.float64)
    return m


def apply_affine(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    return (points @ m[:, :2].T + m[:, 2]).astype(np.float32)


def photometric(rng, image, hue: float, extras: A.Extras) -> np.ndarray:
    if hue > 0:
        image = A.shift_hue(image, float(rng.uniform(-hue, hue)))
    return extras.apply_photometric(rng, image)


def seeded(key) -> tuple[int, np.random.Generator]:
    if isinstance(key, tuple):
        idx, seed = key
        return int(idx), np.random.default_rng(list(seed))
    return int(key), np.random.default_rng(0)


class SegmentationFrames(Dataset):
    """HandSegNet samples: ``{"image": 3 x S x S, "hand_mask": S x S int64}``; labels 0/1/2/255 with
    ``classes=3``, 0/1/255 (hand = either side) with ``classes=2``."""

    def __init__(self, mixture: Mixture, frame_width: int, size: int, classes: int = 3,
                 geometric: Geometric = Geometric(), hue: float = 0.1, extras: A.Extras = A.Extras()):
        if classes not in (2, 3):
            raise TrainingError(f"HandSegNet has 2 or 3 classes, not {classes}")
        self.mixture, self.frame_width, self.size, self.classes = mixture, frame_width, size, classes
        self.geometric, self.hue, self.extras = geometric, hue, extras

    def __len__(self) -> int:
        return len(self.mixture)

    def __getitem__(self, key):
        k, rng = seeded(key)
        source, i = self.mixture.items[k]
        image, mask = source.image(i), source.side_mask(i)
        if mask.shape != image.shape[:2]:
            raise TrainingError(f"{source.name}: frame {i}'s mask is {mask.shape}, its image {image.shape[:2]}")
        h, w = mask.shape
        s, deg, flip = self.geometric.draw(rng)
        scale = self.frame_width / w * s
        # a random window of the scaled frame (centred when the frame is smaller than the window)
        span = np.array([w, h]) * scale
        lo, hi = np.minimum(0, self.size - span), np.maximum(0, self.size - span)
        offset = rng.uniform(lo, hi)
        # in pixel-centre coordinates (pixel k spans [k - 0.5, k + 0.5]), like cv2.resize, so that a pure
        # shrink is the area-averaged frame itself and labels and pixels stay aligned
        centre_out = offset + span / 2 - 0.5
        m = similarity(((w - 1) / 2, (h - 1) / 2), scale, deg, centre_out)
        if scale < 0.7:  # shrink in one area-averaging step first, as inference resizes frames
            small = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))),
                               interpolation=cv2.INTER_AREA)
            fx, fy = small.shape[1] / w, small.shape[0] / h     # pixel centres: p' = (p + 0.5) f - 0.5
            pre = np.array([[fx, 0.0, 0.5 * fx - 0.5], [0.0, fy, 0.5 * fy - 0.5], [0.0, 0.0, 1.0]])
            m_img = m @ np.linalg.inv(pre)
            img = cv2.warpAffine(small, m_img, (self.size, self.size), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=(128, 128, 128))
        else:
            img = cv2.warpAffine(image, m, (self.size, self.size), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=(128, 128, 128))
        lab = cv2.warpAffine(mask, m, (self.size, self.size), flags=cv2.INTER_NEAREST,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=BACKGROUND)
        if flip:
            img, lab = A.mirror_image(img), _SWAP_SIDES[lab[:, ::-1]]
        img = photometric(rng, img, self.hue, self.extras)
        lab = lab.astype(np.int64)
        if self.classes == 2:
            lab = np.where(lab == IGNORE, IGNORE, (lab > 0).astype(np.int64))
        return {"image": torch.from_numpy(A.normalize(img)), "hand_mask": torch.from_numpy(np.ascontiguousarray(lab))}
