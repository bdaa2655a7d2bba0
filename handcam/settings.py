"""What can be tuned: the pipeline's settings (what the GUI's controls edit) and the runtime options
(how the networks run, which never change a result beyond rounding).

Both are immutable; make a changed copy with ``replace``. Each ``PipelineSettings`` field carries
its own help text, command-line flag and (for the sliders) range in its metadata, so that
``main.py``'s flags, the window's controls and this class cannot disagree.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, field

from .camera import DEFAULT_BONE_LENGTH, DEFAULT_FOV_DEG
from .handsize import HAND_SIZE_MODES
from .skeleton import HAND_SIDES

RESIZE_MODES = ("faithful", "aspect")
PRECISIONS = ("fp32", "bf16", "fp16")
BACKENDS = ("auto", "torch", "onnxruntime")
LAYOUTS = ("auto", "channels_last", "contiguous", "probe")
MASK_METHODS = ("auto", "torch", "opencv")
#: hand_side values: read from the mask, or given.
SIDE_CHOICES = ("auto",) + HAND_SIDES
#: The side "auto" gives when the weights cannot tell (2-class HandSegNet: the paper family).
FALLBACK_SIDE = "left"
#: refine_crops values: as the weights say (their metadata), always, never.
REFINE_CHOICES = ("auto", "on", "off")
#: The hand lengths (metres, wrist crease to middle fingertip) ``hand_size`` takes: a child's to a large
#: adult's hand (adults are about 0.16-0.21 m).
HAND_SIZE_RANGE = (0.08, 0.30)


def parse_hand_size(value) -> str | float:
    """A ``hand_size`` value: one of ``HAND_SIZE_MODES``, or a hand length in metres within
    ``HAND_SIZE_RANGE`` (a number or its text, e.g. from the command line or a settings file) as a float;
    ValueError otherwise."""
    if isinstance(value, str):
        if value.strip() in HAND_SIZE_MODES:
            return value.strip()
        try:
            value = float(value)
        except ValueError:
            raise ValueError(f"hand_size must be one of {HAND_SIZE_MODES} or a hand length in metres, "
                             f"got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"hand_size must be one of {HAND_SIZE_MODES} or a hand length in metres, got {value!r}")
    lo, hi = HAND_SIZE_RANGE
    if not (math.isfinite(value) and lo <= value <= hi):
        raise ValueError(f"hand_size is a hand length in metres (wrist crease to middle fingertip, {lo}-{hi}), "
                         f"got {value}")
    return float(value)


#: The keypoint-score floor of a detected hand (``min_keypoint_score``): a score in [0, 1] or "auto".
KEYPOINT_SCORE_AUTO = "auto"


def parse_keypoint_score(value) -> str | float:
    """A ``min_keypoint_score`` value: "auto" or a mean keypoint score in [0, 1] (a number or its text) as a
    float; ValueError otherwise."""
    if isinstance(value, str):
        if value.strip() == KEYPOINT_SCORE_AUTO:
            return KEYPOINT_SCORE_AUTO
        try:
            value = float(value)
        except ValueError:
            raise ValueError(f"min_keypoint_score must be 'auto' or a score in [0, 1], got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (0.0 <= value <= 1.0):
        raise ValueError(f"min_keypoint_score must be 'auto' or a score in [0, 1], got {value!r}")
    return float(value)


def _setting(default, help: str, *, range: tuple | None = None, choices: tuple | None = None,
             flag: bool = True, nargs: int | None = None, metavar: str | None = None, parse=None):
    """A settings field with its help text, slider range and choices (for argparse and the GUI); ``metavar``
    names its value on the command line, ``parse`` (text or value -> value, ValueError) reads a value that
    is not one type (the command line's text, a saved setting)."""
    return field(default=default, metadata={"help": help, "range": range, "choices": choices, "flag": flag,
                                            "nargs": nargs, "metavar": metavar, "parse": parse})


@dataclass(frozen=True)
class PipelineSettings:
    """Tunables of the three-stage pipeline (see each field's help: ``setting_help(name)``).

    input_size: None runs each network family at its own frame size (paper 240x320, lite 120x160,
    from ``handcam.models.registry``); in 'aspect' mode the frame keeps its aspect ratio and its longer
    side is resized to max(input_size), rounded to a multiple of 8.
    """

    crop_factor: float = _setting(1.25, "enlarge the hand box by this factor before cropping (release: 1.25)",
                                  range=(1.0, 2.0))
    mask_threshold: float = _setting(0.5, "hand probability above which a pixel is hand (release: 0.5, it "
                                     "rounds the softmax)", range=(0.05, 0.95))
    input_size: tuple[int, int] | None = _setting(None, "(H, W) of the HandSegNet input; None: the network "
                                                  "family's own", flag=False)
    resize_mode: str = _setting("faithful", "faithful: squash every frame to the input size and crop from "
                                "that image, exactly like the release; aspect: keep the aspect ratio and "
                                "crop from the full-resolution frame", choices=RESIZE_MODES)
    hand_side: str = _setting("auto", "which hand each hand is (the person's; the lifting networks are given the "
                              "side the image shows, the other one when mirrored): auto reads it from the mask "
                              "of weights that predict sides (the lite family) and takes "
                              f"'{FALLBACK_SIDE}' in the image for weights that do not (the paper's)",
                              choices=SIDE_CHOICES)
    presence_threshold: float = _setting(0.5, "a hand is reported when its presence score (calibrated: the "
                                         "probability that it is a hand) is at least this; a frame without one "
                                         "has no hands", range=(0.0, 0.95))
    max_hands: int = _setting(2, "at most this many hands per frame (each hand region of the mask, per side "
                              "when the weights predict sides)", range=(1, 4))
    mirrored: bool = _setting(False, "the frames are mirror images (a selfie camera's preview): sides are "
                              "reported for the person's hands, the opposite of how they look in the image, "
                              "and a given hand_side names the person's hand")
    fov_deg: float = _setting(DEFAULT_FOV_DEG, "horizontal field of view of the camera in degrees, for the "
                              "camera-space 3D when no intrinsics are given", range=(20.0, 150.0))
    intrinsics: tuple[float, float, float, float] | None = _setting(
        None, "camera intrinsics fx fy cx cy in pixels of the frame (overrides fov_deg)", nargs=4)
    bone_length_m: float = _setting(DEFAULT_BONE_LENGTH, "assumed length in metres of the hand's middle-finger "
                                    "MCP-PIP bone (the normalised 3D's unit): with hand_size 'bone' it sets the "
                                    "camera-space 3D's scale and depth, with 'auto' the size of the mean hand the "
                                    "whole hand is fitted to; a given hand length does not use it",
                                    range=(0.02, 0.08))
    hand_size: str | float = _setting(
        "bone", "the hand's size, which sets the camera-space 3D's scale and depth: auto fits all the hand's bone "
        "lengths to a mean adult hand (whose middle-finger MCP-PIP bone is bone_length_m), held steady per hand "
        "over a video; bone: that one bone is bone_length_m; or your hand length in metres, from the crease "
        "where the hand meets the wrist to the tip of the middle finger, hand flat (adults: about 0.16-0.21)",
        range=HAND_SIZE_RANGE, metavar="auto|bone|METRES", parse=parse_hand_size)
    refine_crops: str = _setting("auto", "re-crop a detected hand around its first keypoints (the crop tracking "
                                 "would use) and run PoseNet again when that crop and the mask's disagree in size "
                                 "or centre (a mask over a forearm or a face); auto: when the weights say their "
                                 "PoseNet was trained for it, on/off: always/never; tracked frames never re-crop",
                                 choices=REFINE_CHOICES)
    min_keypoint_score: str | float = _setting(
        "auto", "a newly detected hand is reported only when PoseNet is sure of its keypoints: their mean score "
        "(scoremap peak) at least this (a mask over a bare forearm, a lamp or a chair gives a crop without a "
        "hand's keypoints); 0: every hand the mask finds; auto: the value the weights were calibrated with "
        "(0 for weights without one)", range=(0.0, 1.0), metavar="auto|SCORE", parse=parse_keypoint_score)

    def __post_init__(self):
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
        if self.hand_side not in SIDE_CHOICES:
            raise ValueError(f"hand_side must be one of {SIDE_CHOICES}, got {self.hand_side!r}")
        if self.refine_crops not in REFINE_CHOICES:
            raise ValueError(f"refine_crops must be one of {REFINE_CHOICES}, got {self.refine_crops!r}")
        if not (0.0 <= self.presence_threshold <= 1.0):
            raise ValueError(f"presence_threshold must be in [0, 1], got {self.presence_threshold}")
        if not (isinstance(self.max_hands, int) and self.max_hands >= 1):
            raise ValueError(f"max_hands must be an integer >= 1, got {self.max_hands!r}")
        if not (0.0 < self.fov_deg < 180.0):
            raise ValueError(f"fov_deg must be in (0, 180) degrees, got {self.fov_deg}")
        if not (self.bone_length_m > 0):
            raise ValueError(f"bone_length_m must be positive (metres), got {self.bone_length_m}")
        object.__setattr__(self, "hand_size", parse_hand_size(self.hand_size))
        object.__setattr__(self, "min_keypoint_score", parse_keypoint_score(self.min_keypoint_score))
        if self.intrinsics is not None:
            k = tuple(float(v) for v in self.intrinsics)
            if len(k) != 4 or not (k[0] > 0 and k[1] > 0):
                raise ValueError(f"intrinsics must be fx fy cx cy with fx, fy > 0, got {self.intrinsics!r}")
            object.__setattr__(self, "intrinsics", k)

    @classmethod
    def release(cls, **changes) -> "PipelineSettings":
        """The original release's behaviour: one hand per frame, always reported (whatever its presence),
        cropped once (around the mask)."""
        return cls(**{"max_hands": 1, "presence_threshold": 0.0, "refine_crops": "off", "min_keypoint_score": 0.0,
                      **changes})

    def refines(self, trained: bool) -> bool:
        """Whether detected hands are re-cropped around their first keypoints: ``refine_crops`` "on" or
        "off", or for "auto" ``trained`` (the weights' PoseNet was trained for it)."""
        return self.refine_crops == "on" or (self.refine_crops == "auto" and bool(trained))

    def keypoint_score_floor(self, calibrated: float) -> float:
        """The mean keypoint score a detected hand needs: ``min_keypoint_score``, or for "auto" ``calibrated``
        (the weights' value, 0 when they have none)."""
        return calibrated if self.min_keypoint_score == KEYPOINT_SCORE_AUTO else float(self.min_keypoint_score)

    def replace(self, **changes) -> "PipelineSettings":
        return dataclasses.replace(self, **changes)


def setting_fields() -> dict[str, dataclasses.Field]:
    """Name -> field of every PipelineSettings field (metadata: help, range, choices, flag)."""
    return {f.name: f for f in dataclasses.fields(PipelineSettings)}


def setting_default(name: str):
    return setting_fields()[name].default


def setting_range(name: str) -> tuple[float, float]:
    """The slider range of a numeric setting."""
    r = setting_fields()[name].metadata["range"]
    if r is None:
        raise KeyError(f"setting {name!r} has no range")
    return r


def setting_help(name: str) -> str:
    return setting_fields()[name].metadata["help"]


@dataclass(frozen=True)
class RuntimeOptions:
    """How the networks run (speed, not results: outputs agree to rounding).

    precision:    'fp32', or 'bf16' / 'fp16' autocast (outputs cast back to float32 before any geometry)
    backend:      'torch', 'onnxruntime', or 'auto': ONNX Runtime on a CPU in fp32 without ``compile``
                  when it is installed, else torch (``$HANDCAM_BACKEND`` sets the default of 'auto')
    layout:       'channels_last' / 'contiguous' memory layout of the torch networks; 'probe' times both
                  once on dummy inputs and keeps the faster; 'auto': probe for families that ask for it
                  on a CPU (the lite family), channels_last otherwise (ONNX Runtime picks its own)
    compile:      wrap the networks in ``torch.compile`` (CUDA graphs on a GPU)
    mask_method:  'torch', 'opencv' or 'auto' (OpenCV for CPU tensors): the same mask either way
    uint8_resize: resize frames to the network input as uint8 before normalising (None: the family's
                  registry entry decides, on a CPU only)
    """

    precision: str = "fp32"
    backend: str = "auto"
    layout: str = "auto"
    compile: bool = False
    mask_method: str = "auto"
    uint8_resize: bool | None = None

    def __post_init__(self):
        for name, allowed in (("precision", PRECISIONS), ("backend", BACKENDS), ("layout", LAYOUTS),
                              ("mask_method", MASK_METHODS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")

    def replace(self, **changes) -> "RuntimeOptions":
        return dataclasses.replace(self, **changes)
