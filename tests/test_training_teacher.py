"""Teacher-label conversion (MediaPipe -> handcam conventions) on hand-made inputs; MediaPipe itself
is not needed (it runs in its own venv)."""
import numpy as np
import pytest

from handcam.skeleton import FINGER_INDICES, KEYPOINT_NAMES
from training.teacher import RHD_FROM_MEDIAPIPE, hand_record, list_images, mediapipe_to_rhd, true_side

# MediaPipe's landmark names, in its order (its documentation's list)
MP_NAMES = ["wrist", "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip",
            "index_mcp", "index_pip", "index_dip", "index_tip",
            "middle_mcp", "middle_pip", "middle_dip", "middle_tip",
            "ring_mcp", "ring_pip", "ring_dip", "ring_tip",
            "little_mcp", "little_pip", "little_dip", "little_tip"]


def test_order_maps_each_named_joint_onto_its_rhd_place():
    converted = mediapipe_to_rhd(np.array(MP_NAMES))
    expected = ["wrist"] + list(KEYPOINT_NAMES[1:])   # RHD keeps the wrist at 0 (the palm is derived later)
    assert list(converted) == expected
    assert sorted(RHD_FROM_MEDIAPIPE.tolist()) == list(range(21))   # a permutation
    # each finger tip -> base in RHD, root -> tip in MediaPipe
    assert [MP_NAMES[i] for i in RHD_FROM_MEDIAPIPE[list(FINGER_INDICES["thumb"])]] == \
        ["thumb_tip", "thumb_ip", "thumb_mcp", "thumb_cmc"]
    with pytest.raises(ValueError, match="21"):
        mediapipe_to_rhd(np.zeros((20, 2)))


def test_sides_are_swapped_for_photos_that_are_not_mirrored():
    assert true_side("Left") == "right" and true_side("Right") == "left"
    assert true_side("Left", mirrored=True) == "left" and true_side("right", mirrored=True) == "right"
    with pytest.raises(ValueError, match="handedness"):
        true_side("both")


def test_hand_record_scales_to_pixels_and_reorders():
    lm = np.zeros((21, 3))
    lm[:, 0] = np.arange(21) / 100.0          # x = MediaPipe index / 100
    lm[:, 1] = 0.5
    lm[:, 2] = -0.01
    world = np.arange(63, dtype=float).reshape(21, 3) / 1000
    rec = hand_record(lm, world, "Left", 0.97, (640, 480))
    kp = np.asarray(rec["keypoints_2d"])
    assert kp.shape == (21, 2) and rec["side"] == "right" and rec["side_score"] == 0.97
    np.testing.assert_allclose(kp[:, 0], RHD_FROM_MEDIAPIPE / 100.0 * 640)
    np.testing.assert_allclose(kp[:, 1], 240.0)
    np.testing.assert_allclose(rec["keypoints_z"], -6.4)     # relative depth in x-pixel units
    np.testing.assert_allclose(np.asarray(rec["keypoints_world"])[1], world[4])   # thumb tip first


def test_list_images(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.jpg").write_bytes(b"")
    (tmp_path / "a" / "notes.txt").write_text("-")
    assert [p.name for p in list_images([tmp_path])] == ["x.jpg"]
    with pytest.raises(FileNotFoundError, match="no such folder"):
        list_images([tmp_path / "missing"])
