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


def _drawn_hand(side="left", shift=0):
    """A 200 x 240 photo-like image with a skin-coloured hand drawn from a keypoint template."""
    from training.teacher import hand_width, skeleton_mask

    rng = np.random.default_rng(0)
    kp = np.zeros((21, 2))
    kp[0] = (100 + shift, 170)
    for f, x in enumerate(np.linspace(60, 140, 5)):           # tip -> base per finger
        for j, y in enumerate((40, 65, 90, 115)):
            kp[1 + 4 * f + j] = (x + shift + (100 + shift - x - shift) * 0.1 * j, y + (30 if f == 0 else 0))
    img = np.clip(rng.normal(90, 6, (200, 240, 3)), 0, 255)
    truth = skeleton_mask((200, 240), kp, hand_width(kp))
    img[truth > 0] = (215, 165, 135)
    return np.clip(img, 0, 255).astype(np.uint8), {"side": side, "keypoints_2d": kp.tolist()}, truth


def test_derived_mask_recovers_a_drawn_hand_with_its_side_and_an_ignore_band():
    from training.teacher import MASK_IGNORE, MASK_LEFT, MASK_RIGHT, derive_mask

    img, hand, truth = _drawn_hand("right")
    m = derive_mask(img, [hand])
    assert set(np.unique(m)) <= {0, MASK_RIGHT, MASK_IGNORE} and (m == MASK_RIGHT).any()
    labelled = m != MASK_IGNORE
    agree = ((m == MASK_RIGHT) == (truth > 0))[labelled].mean()
    assert agree > 0.97                                    # outside the band, the mask is the hand
    band = m == MASK_IGNORE
    assert band.any() and (truth[band] > 0).any() and (truth[band] == 0).any()   # it straddles the border
    hand["side"] = "left"
    assert (derive_mask(img, [hand]) == MASK_LEFT).sum() == (m == MASK_RIGHT).sum()


def test_two_hands_claiming_the_same_pixels_are_ignored_there():
    from training.teacher import MASK_IGNORE, MASK_LEFT, MASK_RIGHT, derive_mask

    img, left, _ = _drawn_hand("left")
    right = dict(left, side="right")
    right["keypoints_2d"] = (np.asarray(left["keypoints_2d"]) + (40, 0)).tolist()   # overlapping by half
    alone_left = derive_mask(img, [left]) == MASK_LEFT
    alone_right = derive_mask(img, [right]) == MASK_RIGHT
    both = derive_mask(img, [left, right])
    assert (alone_left & alone_right).any()
    assert np.all(both[alone_left & alone_right] == MASK_IGNORE)     # claimed twice: ignored
    assert (both == MASK_LEFT).any() and (both == MASK_RIGHT).any()  # each keeps what is its own
