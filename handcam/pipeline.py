"""The pipeline: the four stages composed on a batch of network-input images. Images, maps and the
networks' outputs stay tensors on the device; the hands' regions, boxes and crop geometry (a few
numbers per hand) are host arrays (the estimator maps frames onto it and results back).

    frames --prepare_frames--> image --segment--> HandBox --crop_hands--> Crop
           --detect_keypoints--> Keypoints2D [--refine_crops--> Keypoints2D] --lift_pose--> Pose3D
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from . import geometry as G
from .errors import InputError
from .runtime import Clock
from .settings import PipelineSettings
from .skeleton import NUM_KEYPOINTS
from .stages import Crop, HandBox, Keypoints2D, Pose3D, Segmentation, crop_hands, detect_keypoints, lift_pose, segment
from .stages.crop import in_frame_order
from .stages.lift import pose_from
from .stages.refine import refine_crops
from .transform import FrameTransform

#: The stages the estimator times, in order (``timings_ms`` keys, with 'total').
STAGES = ("preprocess", "handsegnet", "crop", "posenet", "lifting", "postprocess")


def as_frames(frames) -> list[np.ndarray]:
    """Validate input frames: one H x W x 3 uint8 array, a B x H x W x 3 array, or a list of them."""
    if isinstance(frames, np.ndarray):
        frames = list(frames) if frames.ndim == 4 else [frames]
    out = []
    for f in frames:
        f = np.asarray(f)
        if f.ndim != 3 or f.shape[2] != 3:
            raise InputError(f"expected an H x W x 3 RGB frame, got shape {f.shape}; convert grayscale/RGBA "
                             f"with handcam.sources.to_rgb8 first")
        if f.dtype != np.uint8:
            raise InputError(f"expected uint8 pixels, got {f.dtype}; use handcam.sources.to_rgb8")
        if f.shape[0] < 1 or f.shape[1] < 1:
            raise InputError(f"empty frame of shape {f.shape}")
        out.append(f)
    if not out:
        raise InputError("no frames given")
    return out


@dataclass(frozen=True)
class PipelineOutput:
    """Results of ``run_pipeline`` for a batch (row, col, network-input pixels unless noted): the networks'
    outputs and crops as tensors on the device, the regions, boxes and crop geometry as host arrays.

    Every field but ``segmentation`` holds N hands (N = B with the release's settings, one hand per frame):

    segmentation: None when the boxes were given (tracking: HandSegNet did not run)
    box:          the hand boxes the crops were cut around (host arrays)
    hand_side:    N x 2 one-hot (left, right) the lifting networks were given (the side seen in the image;
                  a tensor on the device)
    frame_index:  N int64 host array, the frame of each hand
    refined:      N bool host array, the hands cropped again around their first keypoints (``stages.refine``;
                  ``box``, ``crop`` and ``keypoints`` hold the second crop's)
    """

    segmentation: Segmentation | None
    box: HandBox
    crop: Crop
    keypoints: Keypoints2D
    pose: Pose3D
    hand_side: torch.Tensor
    frame_index: np.ndarray
    refined: np.ndarray

    # the release's names for the intermediates
    @property
    def mask(self) -> np.ndarray | None:
        return None if self.segmentation is None else self.segmentation.mask

    @property
    def center(self) -> np.ndarray:
        return self.crop.network.center

    @property
    def scale(self) -> np.ndarray:
        return self.crop.network.scale

    @property
    def scoremaps(self) -> tuple:
        return self.keypoints.scoremaps

    @property
    def keypoints_3d(self) -> torch.Tensor:
        return self.pose.keypoints


def prepare_frames(frames: torch.Tensor, transform: FrameTransform, uint8_resize: bool = False,
                   need_image: bool = True) -> tuple[torch.Tensor | None, torch.Tensor]:
    """uint8 B x H x W x 3 frames on the device -> (network-input image normalised B x 3 x h x w, crop
    source). With ``uint8_resize`` the uint8 frame is resized first and the small image normalised (cheaper
    on a CPU); a crop from the frame then samples the uint8 frame itself (B x 3 x H x W uint8, a view:
    ``crop_hands`` normalises only the crop), so no full-resolution float frame is made; and when the
    network input is not needed (``need_image`` False: a tracked frame, HandSegNet does not run) it is
    not made either (None)."""
    if uint8_resize and not transform.identity:
        nchw = frames.permute(0, 3, 1, 2)
        if transform.crop_from_frame and not need_image:
            return None, nchw
        image = G.normalize_image(G.resize_frames(nchw, transform.net_hw).permute(0, 2, 3, 1))
        return image, (nchw if transform.crop_from_frame else image)
    full = G.normalize_image(frames)
    if transform.crop_from_frame and not need_image:
        return None, full
    image = G.resize_frames(full, transform.net_hw)
    return image, (full if transform.crop_from_frame else image)


def run_pipeline(networks: dict, image: torch.Tensor | None, hand_side: torch.Tensor | None, settings: PipelineSettings,
                 transform: FrameTransform | None = None, crop_source: torch.Tensor | None = None,
                 box: HandBox | None = None, clock: Clock | None = None, mask_method: str = "auto",
                 crop_size: int = G.CROP_SIZE, max_crop_scale: float = G.SCALE_MAX,
                 presence_calibration: tuple[float, float] | None = None,
                 subpixel_keypoints: bool = False, lifting_size: int | None = None,
                 frame_index=None, refine: bool = False) -> PipelineOutput:
    """The paper's pipeline on normalised B x 3 x h x w network-input images (None when ``box`` and
    ``crop_source`` are given: HandSegNet does not run).

    ``networks``: key -> callable (a module, or ``handcam.runtime``'s wrappers). ``transform`` and
    ``crop_source`` say where the crop is cut from (default: ``image`` itself). HandSegNet finds up to
    ``settings.max_hands`` hands per frame with presence >= ``settings.presence_threshold``
    (``stages.segment.find_hands``; ``PipelineSettings.release()``: the release's one hand per frame); all
    hands of the batch go through PoseNet and the lifting networks as one batch. ``box`` skips HandSegNet
    and crops around the given boxes (tracking's first stage; box i in frame ``frame_index[i]``, default
    frame i; host arrays or tensors). ``hand_side``: B x 2 one-hot per frame (given: every hand of a frame
    gets it) or N x 2 per given box (a tensor, or a host array), or None to read each hand's side from the
    segmentation (a 3-class HandSegNet; needs ``box`` None).
    ``clock`` is marked after each stage; ``presence_calibration`` maps the peak hand probability to the
    presence score (``stages.segment.calibrated_presence``). ``subpixel_keypoints``, ``lifting_size`` and
    ``max_crop_scale``: the family's keypoint rule, lifting input side and crop scale limit
    (``Architecture``; see ``detect_keypoints`` and ``lift_pose``). ``networks`` may hold a backend's fusion
    ``"lift"``: both lifting networks as one callable (``LiftModule``). ``refine``: hands found by HandSegNet whose
    first keypoints disagree with their box are cropped again around those keypoints and PoseNet runs again on them
    (``stages.refine``; timed as 'posenet'); the lifting sees the final scoremaps. A given ``box`` (tracking) is not
    refined.
    """
    tick = clock.mark if clock else (lambda name: None)
    if image is None and (box is None or crop_source is None):
        raise ValueError("run_pipeline needs the network-input image unless a box and a crop source are given")
    if transform is None:
        transform = FrameTransform(tuple(image.shape[-2:]), tuple(image.shape[-2:]))
    source = image if crop_source is None else crop_source
    device = source.device
    with torch.inference_mode():
        seg = None
        if box is None:
            seg = segment(networks["handsegnet"], image, settings.mask_threshold, mask_method, presence_calibration,
                          settings.max_hands, settings.presence_threshold)
            box = seg.hand_box(settings.crop_factor)
            frame_index = seg.frame_index
        elif frame_index is None:
            frame_index = np.arange(len(box.size))
        else:
            frame_index = G.host_array(frame_index, np.int64)
        if hand_side is None:
            hand_side = seg.hand_side() if seg is not None else None
            if hand_side is None:
                raise ValueError("hand_side=None reads the side from the mask: it needs a HandSegNet that "
                                 "predicts sides and no given box")
        elif seg is not None and not in_frame_order(frame_index, len(hand_side)):
            hand_side = hand_side[frame_index]      # the frames' given side for each of their hands
        hand_side = torch.as_tensor(hand_side, dtype=torch.float32, device=device)
        tick("handsegnet")
        crop = crop_hands(source, box, crop_size, transform, frame_index, max_crop_scale)
        tick("crop")
        if len(frame_index) == 0:       # no hand in any frame: nothing for the other networks
            keypoints, pose = _no_keypoints(crop.image), _no_pose(crop.image)
        else:
            keypoints = detect_keypoints(networks["posenet"], crop.image, subpixel_keypoints)
        refined = np.zeros(len(frame_index), bool)
        if refine and seg is not None and len(frame_index):
            box, crop, keypoints, refined = refine_crops(networks["posenet"], source, box, crop, keypoints, crop_size,
                                                         transform, frame_index, subpixel_keypoints, max_crop_scale)
        tick("posenet")
        if len(frame_index) == 0:
            pass
        elif "lift" in networks:      # the networks fused into one call by the backend (``stages.lift.LiftModule``)
            pose = pose_from(*networks["lift"](keypoints.scoremap, hand_side), hand_side)
        else:
            pose = lift_pose(networks["poseprior"], networks["viewpoint"], keypoints.scoremap, hand_side,
                             lifting_size)
        tick("lifting")
    return PipelineOutput(seg, box, crop, keypoints, pose, hand_side, frame_index, refined)


def _no_keypoints(crops: torch.Tensor) -> Keypoints2D:
    z = crops.new_zeros
    return Keypoints2D((z(0, NUM_KEYPOINTS, 1, 1),), z(0, NUM_KEYPOINTS, 2), z(0, NUM_KEYPOINTS))


def _no_pose(crops: torch.Tensor) -> Pose3D:
    z = crops.new_zeros
    return Pose3D(z(0, NUM_KEYPOINTS, 3), z(0, 3, 3), z(0, NUM_KEYPOINTS, 3))
