"""Drawing helpers (handcam.draw): mask overlay, crop box, skeleton in the skeleton module's colours."""
from __future__ import annotations

import numpy as np
import pytest

from handcam import draw
from handcam.skeleton import BONES, bone_colors_uint8


def test_overlay_mask_opacity():
    img = np.full((20, 30, 3), 100, np.uint8)
    mask = np.zeros((20, 30), bool)
    mask[5:10, 5:10] = True
    assert np.array_equal(draw.overlay_mask(img, mask, 0.0), img)
    solid = draw.overlay_mask(img, mask, 1.0, color=(255, 0, 0))
    assert tuple(solid[7, 7]) == (255, 0, 0) and tuple(solid[0, 0]) == (100, 100, 100)
    half = draw.overlay_mask(img, mask, 0.5, color=(200, 0, 0))
    assert tuple(half[7, 7]) == (150, 50, 50)
    assert np.array_equal(img, np.full((20, 30, 3), 100, np.uint8))  # input untouched
    small = draw.overlay_mask(img, mask[::2, ::2], 1.0, color=(0, 0, 255))  # other size: resized
    assert tuple(small[7, 7]) == (0, 0, 255)


def test_draw_skeleton_uses_bone_colours():
    img = np.zeros((200, 200, 3), np.uint8)
    kp = np.zeros((21, 2))
    kp[0] = (100, 190)
    for f in range(5):
        for j in range(4):
            kp[1 + 4 * f + j] = (20 + 40 * f, 20 + 35 * j)
    out = draw.draw_skeleton(img, kp, thickness=3, joint_radius=0)
    colours = {tuple(c) for c in out.reshape(-1, 3)}
    # the middle of the first thumb bone is drawn in the first bone colour
    a, b = BONES[1]
    mid = np.round((kp[a] + kp[b]) / 2).astype(int)
    assert tuple(out[mid[1], mid[0]]) == tuple(bone_colors_uint8()[1])
    assert len(colours) > 15
    with pytest.raises(ValueError):
        draw.draw_skeleton(img, kp[:5])
    # low scores hide bones
    hidden = draw.draw_skeleton(img, kp, scores=np.zeros(21), min_score=0.5)
    assert hidden.max() == 0


def test_draw_box_and_bad_image():
    out = draw.draw_box(np.zeros((50, 50, 3), np.uint8), (10, 10, 40, 40), color=(0, 255, 0),
                        thickness=1)
    assert out[10, 25, 1] > 0 and out[25, 25].max() == 0
    with pytest.raises(ValueError):
        draw.overlay_mask(np.zeros((5, 5), np.uint8), np.zeros((5, 5), bool))
