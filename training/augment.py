"""Augmentations of the release's training recipes, per network, plus optional extras.

All randomness comes from a ``numpy.random.Generator`` passed in, so a sample's augmentation is a pure
function of its seed (what makes ``--resume`` exact and results independent of the worker count).

Paper / release recipes:

* HandSegNet: a random 256x256 crop of the 320x320 frame and its mask; random hue shift of up to
  0.1 of the hue circle. (The release called TF's ``random_hue`` on the already normalised image,
  values in [-0.5, 0.5], outside the [0, 1] range the HSV conversion assumes; here the shift is
  applied to the [0, 1] image, which is what the augmentation is meant to do.)
* PoseNet: a crop centred on keypoint 12 (middle MCP) with truncated-normal centre noise (sigma 20 px,
  applied before the crop size is measured, so all visible keypoints stay inside); crop side = 2 x the
  largest distance of a visible keypoint from the centre (visible extent clipped to the frame), clipped
  to [50, 500] px; scale = 256 / side clipped to [1, 10]; truncated-normal keypoint noise (sigma 2.5 px)
  before all of that.
* Lifting: the PoseNet crop plus a crop scale factor U(1, 1.2) and truncated-normal crop offset noise
  (sigma 10 px) applied after the size is fixed (keypoints may then leave the crop).

The release draws truncated normals (TF ``truncated_normal``: resampled beyond 2 sigma); so do we.

Crops map frame pixel ``p`` (x, y) to ``(p - centre) * scale + crop_size // 2`` — the same formula the
estimator uses backwards — and the image is resampled with exactly that affine map, so keypoints and
pixels stay consistent (tested). Outside the frame the crop is 0 in normalised units (mid-grey).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .rhd_format import LEFT_LABELS, RIGHT_LABELS

#: Mask labels: swapping left and right parts when mirroring an image (2..17 <-> 18..33).
_LEFT = np.arange(LEFT_LABELS[0], LEFT_LABELS[1] + 1)
_RIGHT = np.arange(RIGHT_LABELS[0], RIGHT_LABELS[1] + 1)
_MIRROR_LABELS = np.arange(256, dtype=np.uint8)
_MIRROR_LABELS[_LEFT] = _RIGHT
_MIRROR_LABELS[_RIGHT] = _LEFT


def truncated_normal(rng: np.random.Generator, sigma: float, size=None) -> np.ndarray:
    """Normal samples with |x| <= 2 sigma (resampled otherwise), like TF's truncated_normal."""
    x = rng.normal(0.0, 1.0, size)
    bad = np.abs(x) > 2.0
    while np.any(bad):
        x = np.where(bad, rng.normal(0.0, 1.0, np.shape(x)), x)
        bad = np.abs(x) > 2.0
    return x * sigma


def normalize_hwc(image_rgb: np.ndarray) -> np.ndarray:
    """uint8 H x W x 3 RGB -> float32 H x W x 3 ``rgb / 255 - 0.5``: the networks' input normalisation,
    in numpy for the data pipeline. The same formula, in float32, as the library's torch
    :func:`handcam.geometry.normalize_image` (bit-identical, tested)."""
    return image_rgb.astype(np.float32) / 255.0 - 0.5


def normalize(image_rgb: np.ndarray) -> np.ndarray:
    """uint8 H x W x 3 RGB -> float32 3 x H x W (contiguous) :func:`normalize_hwc`."""
    return np.ascontiguousarray(normalize_hwc(image_rgb).transpose(2, 0, 1))


# ---------------------------------------------------------------- HandSegNet
def random_crop(rng: np.random.Generator, image: np.ndarray, mask: np.ndarray, size: int):
    """The same random ``size`` x ``size`` window of image (H, W, C) and mask (H, W)."""
    h, w = mask.shape
    if size > h or size > w:
        raise ValueError(f"crop size {size} larger than the image {h}x{w}")
    y = int(rng.integers(0, h - size + 1))
    x = int(rng.integers(0, w - size + 1))
    return image[y : y + size, x : x + size], mask[y : y + size, x : x + size]


def shift_hue(image: np.ndarray, delta: float) -> np.ndarray:
    """Rotate the hue of a uint8 RGB image by ``delta`` of the full circle (delta in [-0.5, 0.5])."""
    if delta == 0:
        return image
    hsv = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2HSV)  # H in [0, 360)
    hsv[..., 0] = np.mod(hsv[..., 0] + 360.0 * delta, 360.0)
    rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    return np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)


def mirror_image(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image[:, ::-1])


def mirror_mask(mask: np.ndarray) -> np.ndarray:
    """Mirror an RHD label mask horizontally and swap left/right hand labels."""
    return _MIRROR_LABELS[mask[:, ::-1]]


# ---------------------------------------------------------------- optional extras
@dataclass(frozen=True)
class Extras:
    """Optional augmentations beyond the paper (all off by default).

    color_jitter: max relative change of brightness/contrast/saturation (e.g. 0.2)
    blur:         probability of a Gaussian blur with sigma U(0.5, 1.5)
    noise:        std of additive Gaussian pixel noise in 0..255 units (e.g. 5)
    flip:         probability of a horizontal mirror (hand side swaps, labels swap)
    """

    color_jitter: float = 0.0
    blur: float = 0.0
    noise: float = 0.0
    flip: float = 0.0

    def apply_photometric(self, rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
        if self.color_jitter > 0:
            j = self.color_jitter
            b, c, s = rng.uniform(1 - j, 1 + j, 3)
            x = image.astype(np.float32)
            grey = x @ np.array([0.299, 0.587, 0.114], np.float32)
            x = grey[..., None] + (x - grey[..., None]) * s  # saturation
            x = (x - x.mean()) * c + x.mean()  # contrast
            image = np.clip(x * b, 0, 255).astype(np.uint8)  # brightness
        if self.blur > 0 and rng.random() < self.blur:
            image = cv2.GaussianBlur(image, (0, 0), float(rng.uniform(0.5, 1.5)))
        if self.noise > 0:
            image = np.clip(image + rng.normal(0, self.noise, image.shape), 0, 255).astype(np.uint8)
        return image

    def draw_flip(self, rng: np.random.Generator) -> bool:
        return self.flip > 0 and rng.random() < self.flip


# ---------------------------------------------------------------- PoseNet / lifting crops
@dataclass(frozen=True)
class CropNoise:
    """Noise of the keypoint-centred crop (the release's flags). Zero = the evaluation crop."""

    uv_sigma: float = 0.0  # keypoint noise, px (PoseNet, lifting: 2.5)
    center_sigma: float = 0.0  # centre noise before measuring the size (PoseNet, lifting: 20)
    scale_range: tuple[float, float] = (1.0, 1.0)  # scale factor U(lo, hi) (lifting: (1, 1.2))
    offset_sigma: float = 0.0  # centre offset after measuring the size (lifting: 10)


POSENET_NOISE = CropNoise(uv_sigma=2.5, center_sigma=20.0)
LIFTING_NOISE = CropNoise(uv_sigma=2.5, center_sigma=20.0, scale_range=(1.0, 1.2), offset_sigma=10.0)
EVAL_NOISE = CropNoise()


def hand_crop(uv: np.ndarray, vis: np.ndarray, image_hw: tuple[int, int], rng: np.random.Generator | None = None,
              noise: CropNoise = EVAL_NOISE, crop_size: int = 256, center_kp: int = 12):
    """Crop parameters around a hand, as the release computes them.

    uv: (21, 2) pixel (x, y) in the frame; vis: (21,) bool. Returns ``(uv_noisy, centre_xy, scale)``;
    the crop maps frame ``p`` to ``(p - centre_xy) * scale + crop_size // 2``.
    """
    uv = uv.astype(np.float64)
    if noise.uv_sigma > 0:
        uv = uv + truncated_normal(rng, noise.uv_sigma, uv.shape)
    centre = uv[center_kp].copy()
    if not np.all(np.isfinite(centre)):
        centre = np.zeros(2)
    if noise.center_sigma > 0:
        centre = centre + truncated_normal(rng, noise.center_sigma, 2)
    pts = uv[vis]
    if len(pts):
        size_wh = np.array([image_hw[1], image_hw[0]], np.float64)
        lo = np.maximum(pts.min(0), 0.0)
        hi = np.minimum(pts.max(0), size_wh)
        side = float(np.max(2 * np.maximum(hi - centre, centre - lo)))
        side = min(max(side, 50.0), 500.0)
    else:
        side = 200.0
    scale = min(max(crop_size / side, 1.0), 10.0)
    lo_s, hi_s = noise.scale_range
    if hi_s > lo_s:
        scale *= float(rng.uniform(lo_s, hi_s))
    if noise.offset_sigma > 0:
        centre = centre + truncated_normal(rng, noise.offset_sigma, 2)
    return uv, centre, scale


def to_crop(points_xy: np.ndarray, centre_xy: np.ndarray, scale: float, crop_size: int = 256) -> np.ndarray:
    """Frame pixels -> crop pixels."""
    return ((points_xy - centre_xy) * scale + crop_size // 2).astype(np.float32)


def crop_normalized(image_rgb: np.ndarray, centre_xy: np.ndarray, scale: float, crop_size: int = 256) -> np.ndarray:
    """The (3, crop, crop) float32 normalised crop; outside the frame 0 (= mid-grey)."""
    m = np.array([[scale, 0.0, crop_size // 2 - centre_xy[0] * scale],
                  [0.0, scale, crop_size // 2 - centre_xy[1] * scale]], np.float64)
    out = cv2.warpAffine(normalize_hwc(image_rgb), m, (crop_size, crop_size), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=(0.0, 0.0, 0.0))
    return np.ascontiguousarray(out.transpose(2, 0, 1))
