"""The 21-keypoint skeleton: RHD order, bones, colours, hand sides (hand-checked facts)."""
import numpy as np
import pytest

from handcam import skeleton as S


def test_rhd_order_and_names():
    assert S.NUM_KEYPOINTS == 21 and len(S.KEYPOINT_NAMES) == 21 and S.ROOT == 0
    assert S.KEYPOINT_NAMES[0] == "root"
    assert S.KEYPOINT_NAMES[1:5] == ("thumb_tip", "thumb_ip", "thumb_mcp", "thumb_cmc")
    assert S.KEYPOINT_NAMES[9:13] == ("middle_tip", "middle_dip", "middle_pip", "middle_mcp")
    assert S.FINGER_INDICES["little"] == (17, 18, 19, 20)
    # the scale bone is the middle finger's PIP -> MCP; the canonical frame uses the middle and little MCPs
    assert S.SCALE_BONE == (12, 11) and S.KEYPOINT_NAMES[12] == "middle_mcp"
    assert S.KEYPOINT_NAMES[S.CANONICAL_Z_KEYPOINT] == "little_mcp"


def test_bones_run_from_the_root_to_each_tip():
    assert len(S.BONES) == 20
    assert S.BONES[:4] == ((0, 4), (4, 3), (3, 2), (2, 1))           # thumb: root -> CMC -> ... -> tip
    children = sorted(c for _, c in S.BONES)
    assert children == list(range(1, 21))                           # every keypoint but the root, once


def test_colours():
    assert S.BONE_COLORS.shape == (20, 3) and S.KEYPOINT_COLORS.shape == (21, 3)
    assert np.all((S.BONE_COLORS >= 0) & (S.BONE_COLORS <= 1))
    np.testing.assert_array_equal(S.bone_colors_uint8(bgr=True), S.bone_colors_uint8()[:, ::-1])
    np.testing.assert_allclose(S.BONE_COLORS[0], [0, 0, 0.5])         # jet starts dark blue (thumb)
    np.testing.assert_allclose(S.BONE_COLORS[-1], [0.5, 0, 0])        # and ends dark red (little finger)


def test_hand_sides():
    assert S.HAND_SIDES == ("left", "right")
    assert S.hand_side_index("left") == 0 and S.hand_side_index("right") == 1
    with pytest.raises(ValueError, match="left.*right"):
        S.hand_side_index("both")
