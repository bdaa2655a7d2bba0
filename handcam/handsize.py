"""How big the camera-space hand is: a mean adult hand, a robust fit of a hand's scale to it, the
conversion of a user's own hand length, and a per-hand scale held steady over the frames of a video.

``handcam.camera`` puts the normalised 3D hand ``P`` (root-relative, bone 12-11 of length 1) into the
camera frame as ``s P + T``; ``s`` (metres per normalised unit: the length of bone 12-11 in metres) sets
the hand's size and so its depth. The settings' ``hand_size`` chooses ``s`` (:func:`hand_scales`):

* ``"auto"``: :func:`fit_scale`, the scale that maps all 20 bones of ``P`` best onto the mean hand
  (:data:`MEAN_BONE_LENGTHS`) scaled so that its bone 12-11 is ``bone_length_m``; a hand of the mean
  hand's proportions gets exactly ``s = bone_length_m``;
* ``"bone"``: ``s = bone_length_m``, the one assumed bone (the behaviour before the whole-hand fit);
* a number: the user's hand length in metres (distal wrist crease to the tip of the middle finger,
  hand flat), ``s`` that of the mean hand scaled to that length (:func:`scale_for_hand_length`);
  ``bone_length_m`` is then not used.

The camera solve is homogeneous in ``s`` (its linear solve gives ``T(s) = s T(1)`` and each Gauss-Newton
step on the pixel reprojection error scales the same way), so ``X(s') = (s' / s) X(s)``: a hand is
resized about the camera centre without solving again (:func:`rescaled`), which is how a tracked hand's
scale is held steady over time (:class:`SteadyScales`).
"""
from __future__ import annotations

import dataclasses
import logging
import math
import numbers
import warnings
from collections import deque

import numpy as np
import torch

from . import geometry as G
from .camera import DEFAULT_BONE_LENGTH, hands_array
from .skeleton import BONES, FINGER_INDICES, FINGERS, ROOT, SCALE_BONE

__all__ = [
    "HAND_SIZE_MODES",
    "MEAN_BONE_LENGTHS",
    "MEAN_HAND_LENGTH",
    "SteadyScales",
    "fit_scale",
    "hand_scales",
    "rescaled",
    "scale_for_hand_length",
    "scale_source",
]

log = logging.getLogger(__name__)

#: The words ``hand_size`` takes besides a hand length in metres.
HAND_SIZE_MODES = ("auto", "bone")

# ------------------------------------------------------------------------------------------------
# The mean hand (source numbers in millimetres)

#: Finger bones, radiographic means of adult hands (Buryanov & Kotiuk 2010, "Proportions of hand
#: segments", Int. J. Morphol. 28(3): 755-758, doi:10.4067/S0717-95022010000300015): per finger the
#: proximal, middle and distal phalanx and the soft tissue beyond the distal phalanx (the thumb has no
#: middle phalanx), and the metacarpal.
_PHALANGES_MM = {
    "thumb": (31.57, 0.0, 21.67, 5.67),
    "index": (39.78, 22.38, 15.82, 3.84),
    "middle": (44.63, 26.33, 17.40, 3.95),
    "ring": (41.37, 25.65, 17.30, 3.95),
    "little": (32.57, 18.11, 15.96, 3.73),
}
_METACARPALS_MM = {"thumb": 46.22, "index": 68.12, "middle": 64.60, "ring": 58.00, "little": 53.69}
#: Distal wrist crease to each fingertip, fingers extended and adducted: the mean of the male and female
#: means (men 170.6, 182.6, 172.2, 144.1 mm; women 156.4, 166.9, 156.3, 132.4 mm for index .. little) of
#: 100 adults, Med. J. Islam. Repub. Iran 23(1), 2009 (Iran University of Medical Sciences;
#: mjiri.iums.ac.ir, article 41).
_CREASE_TO_TIP_MM = {"index": 163.5, "middle": 174.75, "ring": 164.25, "little": 138.25}
#: Hand breadth across the metacarpal heads, the mean of the British adults' medians (men 85 mm, women
#: 75 mm; Pheasant, "Bodyspace", as tabulated by the City University of Hong Kong's online anthropometry,
#: chapter 2, item 29).
_HAND_BREADTH_MM = 80.0
#: Assumed: the index and little-finger MCP joint centres lie this far inside the edges of the hand
#: breadth (bone half-width plus soft tissue), and the four MCPs are equally spaced between them.
_MCP_INSET_MM = 10.0
#: Assumed: the thumb's CMC (trapeziometacarpal joint) lies this far radial of the middle finger's ray, at
#: the level of the index finger's CMC (the least certain entry: one of 20 bones to a robust fit).
_THUMB_CMC_RADIAL_MM = 25.0


def _mean_hand_mm() -> tuple[np.ndarray, float]:
    """(bone lengths in ``BONES`` order, hand length), millimetres, of the mean hand (see ``MEAN_BONE_LENGTHS``)."""
    spacing = (_HAND_BREADTH_MM - 2 * _MCP_INSET_MM) / 3
    radial = {"index": spacing, "middle": 0.0, "ring": -spacing, "little": -2 * spacing}
    # the wrist at the origin, the middle ray along +y, +x radial: each MCP lies its digit's length (MCP
    # joint centre to fingertip) short of the fingertip's distance from the wrist crease
    mcp = {f: np.array([radial[f], tip - sum(_PHALANGES_MM[f])]) for f, tip in _CREASE_TO_TIP_MM.items()}
    root = 0.5 * mcp["middle"]                             # the palm centre: midpoint of wrist and middle MCP
    cmc_level = mcp["index"][1] - _METACARPALS_MM["index"]
    base = {**mcp, "thumb": np.array([_THUMB_CMC_RADIAL_MM, cmc_level])}
    lengths = {}
    for finger in FINGERS:
        tip_down = FINGER_INDICES[finger]                  # tip, 3rd, 2nd joint, base
        proximal, middle, distal, pulp = _PHALANGES_MM[finger]
        if finger == "thumb":                              # CMC -> MCP -> IP -> tip
            chain = (_METACARPALS_MM["thumb"], proximal, distal + pulp)
        else:                                              # MCP -> PIP -> DIP -> tip
            chain = (proximal, middle, distal + pulp)
        lengths[(ROOT, tip_down[3])] = float(np.linalg.norm(base[finger] - root))
        for (parent, child), length in zip(zip(tip_down[:0:-1], tip_down[-2::-1]), chain):
            lengths[(parent, child)] = length
    return np.array([lengths[bone] for bone in BONES]), _CREASE_TO_TIP_MM["middle"]


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


_BONES_MM, _HAND_LENGTH_MM = _mean_hand_mm()
_UNIT = DEFAULT_BONE_LENGTH / _BONES_MM[BONES.index(SCALE_BONE)]    # metres per source millimetre

#: Bone lengths (metres, ``handcam.skeleton.BONES`` order) of a mean adult hand, scaled so that bone 12-11
#: (the middle finger's proximal phalanx) is ``DEFAULT_BONE_LENGTH`` (the sources' 44.63 mm -> 45 mm).
#:
#: Finger bones are the radiographic bone means of ``_PHALANGES_MM`` / ``_METACARPALS_MM``: a joint centre
#: lies inside the head of the bone proximal to it, so the distance between two joint centres is close to
#: the length of the bone between them; a bone ending in a fingertip adds the soft tissue beyond the distal
#: phalanx; the thumb's first bone is its metacarpal (CMC -> MCP).
#:
#: The five palm-root bones (root -> thumb CMC and root -> finger MCPs; the root is the palm centre, the
#: midpoint of the wrist and the middle-finger MCP) come from a flat palm: the wrist at the distal wrist
#: crease; each finger MCP on its ray at the fingertip's distance from the wrist crease minus its digit's
#: length (the published fingertip distances less the phalanges above: about 82, 82, 76 and 68 mm for index
#: .. little), sideways at equal spacing across the hand breadth less ``_MCP_INSET_MM`` at each edge (20 mm
#: apart); the thumb CMC at the level of the index CMC (its MCP less its metacarpal), ``_THUMB_CMC_RADIAL_MM``
#: radial of the middle ray. In millimetres before scaling: root -> thumb CMC 37.3, index 45.1, middle 41.2,
#: ring 40.1, little 48.1.
MEAN_BONE_LENGTHS: np.ndarray = _frozen(_BONES_MM * _UNIT)
#: The mean hand's length (metres): distal wrist crease to the tip of the middle finger, hand flat
#: (the sources' 174.75 mm at the scale of ``MEAN_BONE_LENGTHS``: about 0.176 m).
MEAN_HAND_LENGTH: float = float(_HAND_LENGTH_MM * _UNIT)

_PARENTS = np.array([p for p, _ in BONES])
_CHILDREN = np.array([c for _, c in BONES])
_LOG_MEAN = np.log(MEAN_BONE_LENGTHS)


# ------------------------------------------------------------------------------------------------
# The fit

def fit_scale(keypoints_3d, bone_length: float = DEFAULT_BONE_LENGTH):
    """Per hand, the scale ``s`` (metres per normalised unit) that maps all 20 bone lengths of the
    normalised 3D hand onto the mean hand's (``MEAN_BONE_LENGTHS`` times ``bone_length /
    DEFAULT_BONE_LENGTH``, so that its bone 12-11 is ``bone_length``): the median over the bones of the
    per-bone ratio ``mean length / hand's length``, taken in log space.

    Why the median of the log ratios: a hand's size is one multiplicative factor, and its bones' ratios
    are that factor times the hand's own proportions and the estimate's errors; in log space over- and
    underestimates weigh alike (with 20 bones the median is the geometric mean of the two middle
    ratios). A wrong keypoint spoils at most two bones (a joint's two; the root is the origin of the
    normalised hand), two wrong keypoints at most four of the 20: the median then still lies between
    ratios of good bones, at most a rank or two from where it was, where a mean or a least-squares fit
    follows a wild bone anywhere. It is about 64 % as efficient as the mean for Gaussian errors (5 % per
    bone gives about 1.4 % on the scale, well under the spread of adult hand sizes, and a tracker
    steadies it over time); an iteratively reweighted fit would gain little and needs a tuning constant.

    keypoints_3d: B x 21 x 3 (or 21 x 3) normalised hands, a tensor (any device) or a host array.
    Bones whose length is not a positive finite number are left out; a hand without one is NaN. Returns
    shape (B,) (or () for one hand): a host array for a host array (float64 for float64 input, else
    float32), otherwise a tensor on the input's device in its floating dtype, at least float32.
    """
    p, single = hands_array(keypoints_3d)
    with np.errstate(divide="ignore", invalid="ignore"):
        length = np.sqrt(((p[:, _CHILDREN] - p[:, _PARENTS]) ** 2).sum(-1))
        logs = _LOG_MEAN - np.log(length)
    if np.isfinite(logs).all():
        mid = np.median(logs, axis=1)
    else:
        logs = np.where(np.isfinite(logs), logs, np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)          # a hand without a usable bone: NaN
            mid = np.nanmedian(logs, axis=1)
    s = np.exp(mid) * (_number(bone_length, "bone_length") / DEFAULT_BONE_LENGTH)
    s = s[0] if single else s
    if isinstance(keypoints_3d, np.ndarray):
        return np.asarray(s, np.float64 if keypoints_3d.dtype == np.float64 else np.float32)
    t = keypoints_3d if isinstance(keypoints_3d, torch.Tensor) else torch.as_tensor(np.asarray(keypoints_3d))
    dtype = torch.promote_types(t.dtype, torch.float32) if t.dtype.is_floating_point else torch.float32
    return torch.as_tensor(s).to(device=t.device, dtype=dtype)


def _number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number of metres, got {value!r}")
    return float(value)


def scale_for_hand_length(hand_length: float) -> float:
    """The scale (metres per normalised unit: bone 12-11 in metres) of a hand of ``hand_length`` metres
    (distal wrist crease to middle fingertip) with the mean hand's proportions."""
    return DEFAULT_BONE_LENGTH * _number(hand_length, "hand_length") / MEAN_HAND_LENGTH


def hand_scales(keypoints_3d, hand_size, bone_length: float) -> np.ndarray:
    """The scale of each of B normalised hands (B x 21 x 3) that the settings' ``hand_size`` and
    ``bone_length_m`` choose (module docstring): a float64 host array (B,)."""
    if hand_size == "auto":
        return np.asarray(fit_scale(G.host_array(keypoints_3d, np.float64), bone_length))
    n = len(keypoints_3d)
    if hand_size == "bone":
        return np.full(n, _number(bone_length, "bone_length"))
    if isinstance(hand_size, str):
        raise ValueError(f"hand_size must be one of {HAND_SIZE_MODES} or a hand length in metres, got {hand_size!r}")
    return np.full(n, scale_for_hand_length(hand_size))


def scale_source(settings) -> tuple:
    """What the settings' hand scales depend on: scales from other values are not comparable."""
    return settings.hand_size, settings.bone_length_m


# ------------------------------------------------------------------------------------------------
# Steady over time

#: How many of a tracked hand's latest per-frame scales its steady scale is the median of (4 s at 30 fps).
SCALE_HISTORY = 120


def rescaled(hand, scale: float):
    """``hand`` (a ``HandPose`` with camera-space keypoints) with its camera-space hand resized to ``scale``
    about the camera centre: the hand the camera solve gives for that scale (module docstring)."""
    ratio = scale / hand.camera_scale
    return dataclasses.replace(hand, keypoints_3d_camera=hand.keypoints_3d_camera * ratio, camera_scale=float(scale))


class SteadyScales:
    """Each tracked hand id's scale held steady: the median, in log space, of the id's last ``history``
    per-frame scales (a hand does not change size between frames; the median ignores a few bad frames).
    Call it with each frame's scale of an id; ``forget`` ids that are gone or new, ``reset`` on a new
    stream. Scales of another ``source`` (``scale_source``: other settings) start every history afresh."""

    def __init__(self, history: int = SCALE_HISTORY):
        if int(history) != history or history < 1:
            raise ValueError(f"history must be an integer >= 1, got {history!r}")
        self.history = int(history)
        self._scales: dict[int, deque] = {}
        self._source = None

    def reset(self) -> None:
        self._scales.clear()

    def forget(self, ids) -> None:
        """Drop the histories of ``ids``."""
        for i in ids:
            self._scales.pop(i, None)

    def ids(self) -> set:
        return set(self._scales)

    def __call__(self, hand_id: int, scale: float, source=None) -> float:
        """The steady scale of ``hand_id`` after this frame's ``scale`` (a scale that is not a positive finite
        number is not kept). Exactly ``scale`` while the history holds one value, or equal ones."""
        if source != self._source:
            self._scales.clear()
            self._source = source
        history = self._scales.setdefault(hand_id, deque(maxlen=self.history))
        if math.isfinite(scale) and scale > 0:
            history.append(float(scale))
        if not history:
            return scale
        # the log-space median: the middle value, or the geometric mean of the middle two
        ordered = sorted(history)
        n = len(ordered)
        lo, hi = ordered[(n - 1) // 2], ordered[n // 2]
        return lo if lo == hi else math.sqrt(lo * hi)
