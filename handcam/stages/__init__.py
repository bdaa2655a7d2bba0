"""The paper's pipeline as four stages, along the data flow; each is a pure function over batched
tensors (images, maps: on the device) and host arrays (regions, boxes, crop geometry) that returns a
frozen result:

    segment.segment            network-input image -> Segmentation (mask, presence) -> HandBox
    crop.box_from_keypoints    previous keypoints  -> HandBox            (tracking's first stage)
    crop.crop_hands            HandBox             -> Crop
    keypoints.detect_keypoints Crop                -> Keypoints2D
    refine.refine_crops        Keypoints2D         -> HandBox, Crop, Keypoints2D (again, where they disagree)
    lift.lift_pose             Keypoints2D         -> Pose3D

``handcam.pipeline`` composes them; ``handcam.estimator`` maps frames onto them and back.
"""
from .crop import Crop, HandBox, box_from_keypoints, crop_hands
from .keypoints import Keypoints2D, detect_keypoints
from .lift import Pose3D, lift_pose
from .refine import refine_crops
from .segment import Segmentation, segment, single_object_mask

__all__ = ["Segmentation", "segment", "single_object_mask", "HandBox", "Crop", "box_from_keypoints",
           "crop_hands", "Keypoints2D", "detect_keypoints", "refine_crops", "Pose3D", "lift_pose"]
