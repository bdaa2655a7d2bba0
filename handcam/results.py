"""What the estimator returns: one ``FrameResult`` per frame holding a tuple of ``HandPose``.

Every array is owned by its result and read-only; every count is in the pixels of the array it
describes; coordinates are (x, y) in pixels of the frame the caller passed in. JSON keys are the
field names, and ``FrameResult.to_json()`` carries a schema version.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

import numpy as np

#: Version of the JSON written by ``FrameResult.to_json`` (2: a list of hands per frame; 3: only hands that
#: are there, every hand of the frame, camera-space 3D; later added: each hand's ``camera_scale``).
SCHEMA_VERSION = 3


def frozen_array(a, dtype=None) -> np.ndarray:
    """An owned, read-only copy of ``a`` (``a`` itself when it already is one: an owned, read-only array of
    that dtype, e.g. a field of another result)."""
    if (isinstance(a, np.ndarray) and a.flags.owndata and not a.flags.writeable
            and (dtype is None or a.dtype == dtype)):
        return a
    out = np.array(a, dtype=dtype, copy=True)
    out.setflags(write=False)
    return out


def _rounded(a: np.ndarray, digits: int) -> list:
    return np.round(np.asarray(a, dtype=np.float64), digits).tolist()


@dataclass(frozen=True, eq=False)
class HandPose:
    """One hand in one frame.

    id:               0.. in a single call; stable across frames in a tracker
    side:             'left' or 'right', the person's hand: the side fed to the lifting networks, or its
                      opposite when the settings say the frames are mirrored (a selfie view)
    side_score:       confidence of a predicted side (read from a left/right mask: the winning side's share
                      of the hand probability), None when the side was given or not predicted
    presence:         how sure the pipeline is that a hand is there: the peak hand probability of its
                      region, calibrated when the weights say how (a tracked hand keeps the value of its
                      last detection); at least the settings' presence_threshold
    box:              (4,) x0, y0, x1, y1 of the square crop in frame pixels (may leave the frame)
    center:           (2,) box centre (x, y), frame pixels
    scale:            crop pixels per network-input pixel (the release's crop scale)
    keypoints_2d:     (21, 2) frame pixels, RHD order
    keypoint_scores:  (21,) peak value of each keypoint's last-stage scoremap
    keypoints_3d:     (21, 3) normalised 3D: root at the origin, bone 12-11 of length 1
    keypoints_crop:   (21, 2) in the S x S crop PoseNet saw
    keypoints_3d_camera: (21, 3) metres in the camera frame (x right, y down, z forward; of the image as
                      given, mirrored or not), or None where it cannot be solved (``handcam.camera``:
                      the hand would lie behind the camera, or its keypoints have no spread)
    camera_scale:     metres per unit of keypoints_3d in keypoints_3d_camera (the length of bone 12-11 in
                      metres: the hand's size, from the settings' hand_size, see ``handcam.handsize``; held
                      steady over a tracked hand's frames); None when keypoints_3d_camera is None
    mask:             (H, W) bool hand mask in frame pixels, or None (not asked for, or tracked)
    mask_area:        number of hand pixels of the mask in frame pixels (0 when HandSegNet did not run)
    crop:             (S, S, 3) uint8 RGB, what PoseNet saw, or None (not asked for)
    tracked:          True when the crop came from the previous frame's keypoints (HandSegNet skipped)
    """

    id: int
    side: str
    side_score: float | None
    presence: float
    box: np.ndarray
    center: np.ndarray
    scale: float
    keypoints_2d: np.ndarray
    keypoint_scores: np.ndarray
    keypoints_3d: np.ndarray
    keypoints_crop: np.ndarray
    keypoints_3d_camera: np.ndarray | None = None
    mask: np.ndarray | None = None
    mask_area: int = 0
    crop: np.ndarray | None = None
    tracked: bool = False
    camera_scale: float | None = None

    def __post_init__(self):
        for name in ("box", "center", "keypoints_2d", "keypoint_scores", "keypoints_3d", "keypoints_crop",
                     "keypoints_3d_camera"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, frozen_array(value, np.float64))
        if self.mask is not None:
            object.__setattr__(self, "mask", frozen_array(self.mask, bool))
        if self.crop is not None:
            object.__setattr__(self, "crop", frozen_array(self.crop, np.uint8))
        if self.camera_scale is not None:
            object.__setattr__(self, "camera_scale", float(self.camera_scale))

    def to_json(self) -> dict:
        """The numbers (no images) under the field names."""
        return {
            "id": int(self.id),
            "side": self.side,
            "side_score": None if self.side_score is None else round(float(self.side_score), 5),
            "presence": round(float(self.presence), 5),
            "box": _rounded(self.box, 3),
            "center": _rounded(self.center, 3),
            "scale": round(float(self.scale), 6),
            "keypoints_2d": _rounded(self.keypoints_2d, 3),
            "keypoint_scores": _rounded(self.keypoint_scores, 5),
            "keypoints_3d": _rounded(self.keypoints_3d, 5),
            "keypoints_3d_camera": (None if self.keypoints_3d_camera is None
                                    else _rounded(self.keypoints_3d_camera, 5)),
            "mask_area": int(self.mask_area),
            "tracked": bool(self.tracked),
            "camera_scale": None if self.camera_scale is None else round(float(self.camera_scale), 6),
        }


@dataclass(frozen=True, eq=False)
class FrameResult:
    """Everything found in one frame.

    hands:       the hands, ordered by id (empty when there is none)
    frame_size:  (H, W) of the frame
    timings_ms:  stage name -> milliseconds (for a batch: the batch's time / its size), read-only
    """

    hands: tuple[HandPose, ...]
    frame_size: tuple[int, int]
    timings_ms: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "hands", tuple(self.hands))
        object.__setattr__(self, "frame_size", (int(self.frame_size[0]), int(self.frame_size[1])))
        object.__setattr__(self, "timings_ms", MappingProxyType({k: float(v) for k, v in self.timings_ms.items()}))

    @property
    def hand(self) -> HandPose | None:
        """The first hand (the lowest id; of a single call, the most confident), or None."""
        return self.hands[0] if self.hands else None

    def by_id(self, hand_id: int) -> HandPose | None:
        """The hand with this id, or None."""
        return next((h for h in self.hands if h.id == hand_id), None)

    def to_json(self) -> dict:
        return {
            "schema": SCHEMA_VERSION,
            "frame_size": list(self.frame_size),
            "hands": [h.to_json() for h in self.hands],
            "timings_ms": {k: round(float(v), 3) for k, v in self.timings_ms.items()},
        }
