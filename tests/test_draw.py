"""handcam.draw: mask overlay, crop box, skeleton in the skeleton module's colours, annotating every
hand of a result, the crop view."""
from __future__ import annotations

import numpy as np
import pytest

from handcam import draw
from handcam.results import FrameResult, HandPose
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
    assert np.array_equal(draw.overlay_mask(img, None), img)
    with pytest.raises(ValueError, match="2D"):
        draw.overlay_mask(img, np.zeros((20, 30, 1), bool))


def _skeleton():
    kp = np.zeros((21, 2))
    kp[0] = (100, 190)
    for f in range(5):
        for j in range(4):
            kp[1 + 4 * f + j] = (20 + 40 * f, 20 + 35 * j)
    return kp


def test_draw_skeleton_uses_bone_colours():
    img = np.zeros((200, 200, 3), np.uint8)
    kp = _skeleton()
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
    # non-finite keypoints draw nothing
    assert draw.draw_skeleton(img, np.full((21, 2), np.nan)).max() == 0


def test_draw_box_and_bad_image():
    out = draw.draw_box(np.zeros((50, 50, 3), np.uint8), (10, 10, 40, 40), color=(0, 255, 0),
                        thickness=1)
    assert out[10, 25, 1] > 0 and out[25, 25].max() == 0
    with pytest.raises(ValueError):
        draw.overlay_mask(np.zeros((5, 5), np.uint8), np.zeros((5, 5), bool))
    assert draw.draw_box(np.zeros((5, 5, 3), np.uint8), None).max() == 0


def _hand(id=0, shift=0.0, mask=None, crop=None):
    kp = _skeleton() + shift
    return HandPose(id=id, side="left", side_score=None, presence=1.0, box=[5.0 + shift, 5.0, 195.0, 195.0],
                    center=[100.0, 100.0], scale=1.0, keypoints_2d=kp, keypoint_scores=np.ones(21),
                    keypoints_3d=np.zeros((21, 3)), keypoints_crop=kp / 2, mask=mask, crop=crop)


def test_annotate_draws_every_hand():
    img = np.zeros((400, 400, 3), np.uint8)
    mask = np.zeros((400, 400), bool)
    mask[300:350, 300:350] = True
    one = _hand(mask=mask)
    two = _hand(id=1, shift=200.0)
    a = draw.annotate(img, one)
    assert a[320, 320].max() > 0 and a[320, 320].tolist() != [0, 0, 0]  # the mask tint
    assert a[5, 100].max() > 0                                           # the crop box
    assert np.array_equal(a, draw.annotate(img, FrameResult((one,), (400, 400))))
    both = draw.annotate(img, FrameResult((one, two), (400, 400)))
    second = draw.annotate(img, two)
    assert (both[second > 0] > 0).mean() > 0.99 and (both > 0).sum() > (a > 0).sum()
    none = draw.annotate(img, None)
    assert np.array_equal(none, img) and none is not img
    assert np.array_equal(draw.annotate(img, FrameResult((), (400, 400))), img)
    plain = draw.annotate(img, one, draw_mask=False, draw_crop_box=False)
    assert plain[320, 320].max() == 0 and plain[5, 100].max() == 0
    assert np.array_equal(img, np.zeros((400, 400, 3), np.uint8))  # input untouched


def test_draw_crop():
    crop = np.zeros((128, 128, 3), np.uint8)
    out = draw.draw_crop(_hand(crop=crop))
    assert out.shape == (128, 128, 3) and out.max() > 0 and crop.max() == 0
    with pytest.raises(ValueError, match="no crop"):
        draw.draw_crop(_hand())
