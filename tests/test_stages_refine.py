"""handcam.stages.refine: when a hand's first box and the box of its keypoints disagree, and the pass that
re-crops those hands."""
import numpy as np
import pytest
import torch

from handcam import geometry as G
from handcam.stages import Crop, HandBox, Keypoints2D, box_from_keypoints, crop_hands, refine_crops
from handcam.stages.crop import TRACK_CENTER, TRACK_CROP_FACTOR
from handcam.stages.refine import (
    REFINE_CENTER_SHIFT,
    REFINE_SIDE_RATIO,
    box_disagreement,
    crop_side,
    needs_refinement,
)
from handcam.transform import FrameTransform


def ring_keypoints(center=(100.0, 100.0), radius: float = 45.0, n: int = 1) -> np.ndarray:
    """n hands of 21 keypoints (row, col): keypoint 12 at ``center``, the others on a circle of ``radius``
    around it (one of them ``radius`` to the right: the largest per-axis distance is ``radius``)."""
    angle = np.arange(21) * (2 * np.pi / 20)
    kp = np.stack([center[0] + radius * np.sin(angle), center[1] + radius * np.cos(angle)], -1)
    kp[TRACK_CENTER] = center
    return np.repeat(kp[None].astype(np.float32), n, 0)


def test_thresholds():
    assert REFINE_SIDE_RATIO == 1.35 and REFINE_CENTER_SHIFT == 0.2


def test_crop_side_is_the_crops_side_within_the_scale_limits():
    box = HandBox(np.zeros((4, 2), np.float32), np.array([80.0, 90.0, 10.0, 1000.0], np.float32), 1.25)
    # 80 * 1.25 = 100; 90 * 1.25 = 112.5; 12.5 is below the smallest crop (scale 5: 256 / 5); 1250 above the largest
    np.testing.assert_allclose(crop_side(box), [100.0, 112.5, 256 / 5, 256 / 0.25], rtol=1e-6)
    # a family with a higher scale limit crops small hands tighter (the lite family: 256 / 20 = 12.8)
    np.testing.assert_allclose(crop_side(box, max_scale=20.0), [100.0, 112.5, 12.8, 1024.0], rtol=1e-6)
    keypoint_box = box_from_keypoints(ring_keypoints())
    np.testing.assert_allclose(crop_side(keypoint_box), [90.0 * TRACK_CROP_FACTOR], rtol=1e-6)


def test_the_disagreement_rule_on_hand_made_boxes():
    """The keypoints' box: centre (100, 100), side 2 x 45 = 90, crop side 99. Against five first boxes: one
    that agrees, one twice too large, one too small (crop side 70), one whose centre is 0.3 of its side off, and
    one a little larger and a little off (within both thresholds)."""
    tracked = box_from_keypoints(ring_keypoints(n=5))
    np.testing.assert_allclose(tracked.center, [[100.0, 100.0]] * 5)
    np.testing.assert_allclose(tracked.size, [90.0] * 5)
    first = HandBox(np.array([[100, 100], [100, 100], [100, 100], [100, 130], [100, 115]], np.float32),
                    np.array([80, 160, 56, 80, 100], np.float32), 1.25)     # crop sides 100, 200, 70, 100, 125
    ratio, shift = box_disagreement(first, tracked)
    np.testing.assert_allclose(ratio, [100 / 99, 200 / 99, 99 / 70, 100 / 99, 125 / 99], rtol=1e-5)
    np.testing.assert_allclose(shift, [0.0, 0.0, 0.0, 30 / 100, 15 / 125], rtol=1e-5, atol=1e-7)
    refined = needs_refinement(first, tracked)
    assert refined.dtype == bool and refined.tolist() == [False, True, True, True, False]
    # just past a threshold either way
    side = np.float32(99 * REFINE_SIDE_RATIO / 1.25)
    near = HandBox(np.array([[100, 100], [100, 100]], np.float32), np.array([side * 0.99, side * 1.01]), 1.25)
    assert needs_refinement(near, box_from_keypoints(ring_keypoints(n=2))).tolist() == [False, True]
    off = HandBox(np.array([[100, 100 + 19.8], [100, 100 + 20.2]], np.float32), np.array([80, 80], np.float32), 1.25)
    assert needs_refinement(off, box_from_keypoints(ring_keypoints(n=2))).tolist() == [False, True]


class FixedPoseNet:
    """A PoseNet stand-in: every crop gets the ring of ``ring_keypoints`` (in crop pixels, on maps of the
    crop's side) at the crop's centre, its radius ``fraction`` of the crop's side; records each call's
    batch."""

    def __init__(self, fraction: float):
        self.fraction, self.calls = fraction, []

    def __call__(self, crops: torch.Tensor):
        self.calls.append(crops)
        s = crops.shape[-1]
        kp = torch.from_numpy(ring_keypoints(((s - 1) / 2, (s - 1) / 2), self.fraction * s, len(crops)))
        grid = torch.arange(s, dtype=torch.float32)
        maps = torch.exp(-((grid[None, None, :, None] - kp[..., 0, None, None]) ** 2 +
                           (grid[None, None, None, :] - kp[..., 1, None, None]) ** 2) / 2.0)
        return [maps]


def test_refine_crops_recrops_only_the_disagreeing_hands():
    image = torch.rand(2, 3, 240, 320) - 0.5
    transform = FrameTransform((240, 320), (240, 320))
    # hand 0 fits its crop (keypoints span 1 / 1.1 of it: the tracked crop is the same); hand 1 does not
    box = HandBox(np.array([[120, 160], [100, 140]], np.float32), np.array([120, 120], np.float32), 1.25)
    posenet = FixedPoseNet(1 / (2 * TRACK_CROP_FACTOR))
    crop = crop_hands(image, box, 64, transform)
    maps = posenet(crop.image)
    kp, scores = G.scoremap_argmax(maps[-1])
    kp[1] = (kp[1] - 31.5) * 0.5 + 31.5                  # hand 1's keypoints span half its crop
    keypoints = Keypoints2D(tuple(maps), kp, scores)
    frame_index = np.array([0, 1])
    out_box, out_crop, out_kp, refined = refine_crops(posenet, image, box, crop, keypoints, 64, transform,
                                                      frame_index)
    assert refined.tolist() == [False, True] and len(posenet.calls) == 2 and len(posenet.calls[1]) == 1
    tracked = box_from_keypoints(crop.network.inverse(kp.numpy()))
    assert crop_side(tracked)[1] == pytest.approx(crop_side(box)[1] / 2, rel=0.05)
    # hand 1: cut around its keypoint box (the same crop, the box re-expressed with the first factor)
    expected = crop_hands(image, HandBox(tracked.center[1:], tracked.size[1:], tracked.factor), 64, transform,
                          frame_index[1:])
    np.testing.assert_array_equal(out_crop.network.center[1], expected.network.center[0])
    np.testing.assert_allclose(out_crop.network.scale[1], expected.network.scale[0], rtol=1e-6)
    torch.testing.assert_close(out_crop.image[1], expected.image[0])
    torch.testing.assert_close(posenet.calls[1][0], expected.image[0])
    assert out_box.factor == box.factor
    np.testing.assert_array_equal(out_box.center[1], tracked.center[1])
    assert out_box.size[1] * out_box.factor == pytest.approx(tracked.size[1] * tracked.factor, rel=1e-6)
    # its keypoints and maps are the second call's; hand 0 keeps everything
    second = posenet.calls[1]
    assert torch.equal(out_kp.scoremaps[-1][1], FixedPoseNet(posenet.fraction)(second)[-1][0])
    assert torch.equal(out_crop.image[0], crop.image[0]) and torch.equal(out_kp.keypoints[0], kp[0])
    assert torch.equal(out_kp.scoremaps[-1][0], maps[-1][0]) and torch.equal(out_kp.scores[0], scores[0])
    np.testing.assert_array_equal(out_box.center[0], box.center[0])
    assert out_box.size[0] == box.size[0] and out_crop.network.scale[0] == crop.network.scale[0]
    assert isinstance(out_crop, Crop) and box.size[1] == 120         # the inputs are left as they were


def test_refine_crops_without_disagreement_returns_its_inputs():
    image = torch.rand(1, 3, 120, 160) - 0.5
    transform = FrameTransform((120, 160), (120, 160))
    box = HandBox(np.array([[60, 80]], np.float32), np.array([40], np.float32), 1.25)
    posenet = FixedPoseNet(1 / (2 * TRACK_CROP_FACTOR))
    crop = crop_hands(image, box, 64, transform)
    maps = posenet(crop.image)
    keypoints = Keypoints2D(tuple(maps), *G.scoremap_argmax(maps[-1]))
    out = refine_crops(posenet, image, box, crop, keypoints, 64, transform, np.array([0]))
    assert out[0] is box and out[1] is crop and out[2] is keypoints and out[3].tolist() == [False]
    assert len(posenet.calls) == 1
