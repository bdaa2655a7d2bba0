"""Typed settings and results of the pipeline (what the GUI edits and what every stage returns).

Coordinates in the public API are (x, y) in pixels of the frame the caller passed in; internally the
paper's stages work in (row, col) — the conversion happens once, in the estimator.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from .skeleton import HAND_SIDES

RESIZE_MODES = ("faithful", "aspect")
#: The release's HandSegNet input (H, W); the paper networks' default ``input_size``.
PAPER_INPUT_SIZE = (240, 320)


@dataclass(frozen=True)
class PipelineSettings:
    """Tunables of the three-stage pipeline. Immutable: make a new one with ``replace``.

    crop_factor:     the hand box is enlarged by this factor before cropping (release: 1.25).
    mask_threshold:  foreground probability above which a pixel is hand (release rounds: 0.5).
    input_size:      (H, W) of the HandSegNet input in 'faithful' mode (release: 240x320). In 'aspect'
                     mode the frame keeps its aspect ratio and its longer side is resized to max(H, W)
                     (rounded to a multiple of 8). None: the network family's own default, resolved
                     by the estimator (paper 240x320, lite 120x160).
    resize_mode:     'faithful' squashes every frame to input_size and crops from that squashed image,
                     exactly like the release; 'aspect' segments an aspect-preserving resize and crops
                     from the full-resolution frame (no distortion of the hand).
    hand_side:       'left' or 'right' (the one-hot fed to the lifting networks).
    tracking:        when True, a single-frame call whose previous frame's keypoints were confident
                     crops around those keypoints and skips HandSegNet (the result has
                     ``tracked=True`` and an empty mask); see ``handcam.estimator``.
    redetect_every:  with tracking, run HandSegNet at least every N-th frame (0: only on low confidence).
    track_min_score: with tracking, the mean keypoint score (scoremap peak) a frame needs for the next
                     frame to be tracked from it; below it the next frame is detected again.
    """

    crop_factor: float = 1.25
    mask_threshold: float = 0.5
    input_size: tuple[int, int] | None = None
    resize_mode: str = "faithful"
    hand_side: str = "left"
    tracking: bool = False
    redetect_every: int = 10
    track_min_score: float = 0.3

    def __post_init__(self):
        if self.redetect_every < 0:
            raise ValueError(f"redetect_every must be >= 0, got {self.redetect_every}")
        if not (0.0 < self.mask_threshold < 1.0):
            raise ValueError(f"mask_threshold must be in (0, 1), got {self.mask_threshold}")
        if not (self.crop_factor > 0):
            raise ValueError(f"crop_factor must be positive, got {self.crop_factor}")
        if self.input_size is not None:
            h, w = self.input_size
            if h < 8 or w < 8 or h % 8 or w % 8:
                raise ValueError(f"input_size must be multiples of 8 and at least 8, got {self.input_size}")
        if self.resize_mode not in RESIZE_MODES:
            raise ValueError(f"resize_mode must be one of {RESIZE_MODES}, got {self.resize_mode!r}")
        if self.hand_side not in HAND_SIDES:
            raise ValueError(f"hand_side must be 'left' or 'right', got {self.hand_side!r}")

    def replace(self, **changes) -> "PipelineSettings":
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True, eq=False)
class HandPose:
    """The result for one frame. Arrays are numpy, on the host; coordinates are frame pixels (x, y).

    mask:             (H, W) bool, the single-object hand mask in frame coordinates
    center:           (2,) box centre (x, y)
    scale:            crop pixels per frame pixel (clipped to [0.25, 5] in network-input pixels for
                      the paper's 256 crop; the limits scale with the crop size S)
    crop_box:         (4,) x0, y0, x1, y1 of the square crop in frame pixels (may leave the frame)
    crop:             (S, S, 3) uint8 RGB, what PoseNet saw (outside the frame: mid-grey); S is the
                      PoseNet input size: 256 for the paper networks, 128 for the lite family
    keypoints_crop:   (21, 2) x, y in the S x S crop
    keypoints_2d:     (21, 2) x, y in frame pixels, RHD order
    keypoint_scores:  (21,) peak value of each keypoint's last-stage scoremap
    keypoints_3d:     (21, 3) normalised 3D: root at the origin, bone 12-11 of length 1
    hand_side:        'left' or 'right'
    mask_area:        number of mask pixels in the network-input image
    timings_ms:       stage name -> milliseconds (per frame; for a batch, the batch time / batch size)
    tracked:          True when the crop came from the previous frame's keypoints (tracking mode):
                      HandSegNet did not run, ``mask`` is empty and ``mask_area`` is 0
    """

    mask: np.ndarray
    center: np.ndarray
    scale: float
    crop_box: np.ndarray
    crop: np.ndarray
    keypoints_crop: np.ndarray
    keypoints_2d: np.ndarray
    keypoint_scores: np.ndarray
    keypoints_3d: np.ndarray
    hand_side: str
    mask_area: int
    timings_ms: dict = field(default_factory=dict)
    tracked: bool = False

    def to_json(self) -> dict:
        """A JSON-serialisable dict of the numbers (no images)."""
        return {
            "hand_side": self.hand_side,
            "keypoints_2d": np.round(self.keypoints_2d, 3).tolist(),
            "keypoint_scores": np.round(self.keypoint_scores, 5).tolist(),
            "keypoints_3d": np.round(self.keypoints_3d, 5).tolist(),
            "center": np.round(self.center, 3).tolist(),
            "scale": round(float(self.scale), 6),
            "crop_box": np.round(self.crop_box, 3).tolist(),
            "mask_area": int(self.mask_area),
            "tracked": bool(self.tracked),
            "timings_ms": {k: round(float(v), 3) for k, v in self.timings_ms.items()},
        }
