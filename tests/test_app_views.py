"""handcam.app.views: the 3D hands (pyqtgraph OpenGL) and the per-keypoint confidence bars."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from app_fakes import HAND_3D, FakeEstimator, two_hands_image
from app_support import make_window_fixture  # noqa: F401

from handcam import draw
from handcam.app.views import ConfidenceView, Hand3DView, camera_to_view
from handcam.draw import HAND_SPACING, place_hands
from handcam.skeleton import NUM_KEYPOINTS, ROOT, SCALE_BONE


def two_hands(camera_3d=True):
    hands = FakeEstimator(camera_3d=camera_3d).estimate(two_hands_image()).hands
    assert len(hands) == 2
    return hands


def bone(p):
    return np.linalg.norm(p[SCALE_BONE[0]] - p[SCALE_BONE[1]])


def test_reset_view_aligns_with_the_camera(make_window, qtbot):
    w = make_window(FakeEstimator(), None)
    v = w.view3d
    v.orbit(40, 25)
    assert v.opts["azimuth"] != -90
    w.controls.reset_view_button.click()
    assert v.opts["azimuth"] == -90 and v.opts["elevation"] == 0
    # camera coordinates (x right, y down, z forward) -> the scene: image-up is scene-up
    p = camera_to_view(np.array([[1.0, 2.0, 3.0]]))
    assert p.tolist() == [[1.0, 3.0, -2.0]]


def test_3d_view_shows_finite_keypoints_only(qtbot):
    v = Hand3DView()
    qtbot.addWidget(v)
    v.set_keypoints(HAND_3D)
    assert v.updates == 1 and v.hands_shown == 1
    bad = HAND_3D.copy()
    bad[3] = np.nan
    v.set_keypoints(bad)  # hidden, not drawn with holes
    assert v.hands_shown == 0
    v.set_keypoints(None)
    assert v.updates == 1


def test_one_hand_is_placed_as_it_is():
    hand = two_hands()[0]
    (p,) = place_hands([hand])
    assert np.array_equal(p, hand.keypoints_3d) and np.allclose(p[ROOT], 0)  # centred at the root, bone 1


def test_hands_with_camera_3d_are_placed_relative_to_each_other():
    hands = two_hands()
    placed = place_hands(hands)
    cams = [h.keypoints_3d_camera for h in hands]
    unit = np.mean([bone(c) for c in cams])
    assert np.allclose(np.mean([p[ROOT] for p in placed], axis=0), 0)  # centred on the roots' mean
    assert np.allclose([bone(p) for p in placed], 1.0)  # one bone 12-11 is about one unit
    # where they are relative to each other is the camera's (scaled): the right-hand one is right, farther
    assert np.allclose(placed[1][ROOT] - placed[0][ROOT], (cams[1][ROOT] - cams[0][ROOT]) / unit)
    assert placed[1][ROOT, 0] > placed[0][ROOT, 0] and placed[1][ROOT, 2] > placed[0][ROOT, 2]
    assert np.allclose(placed[0] - placed[0][ROOT], (cams[0] - cams[0][ROOT]) / unit)  # each hand's shape


def test_hands_without_camera_3d_are_placed_side_by_side_in_image_order():
    hands = two_hands(camera_3d=False)
    right_first = [hands[1], hands[0]]  # the hand on the image's right first
    placed = place_hands(right_first)
    assert placed[0][ROOT, 0] == pytest.approx(HAND_SPACING / 2)
    assert placed[1][ROOT, 0] == pytest.approx(-HAND_SPACING / 2)
    assert np.allclose(placed[0] - placed[0][ROOT], hands[1].keypoints_3d)
    # one hand without camera 3D makes every hand fall back
    mixed = [hands[0], dataclasses.replace(two_hands()[1])]
    assert place_hands(mixed)[0][ROOT, 0] == pytest.approx(-HAND_SPACING / 2)


def test_3d_view_shows_every_hand_in_its_colour(qtbot):
    v = Hand3DView()
    qtbot.addWidget(v)
    hands = two_hands()
    v.set_hands(hands)
    assert v.hands_shown == 2 and v.updates == 1
    for item, hand, p in zip(v.hands, hands, place_hands(hands)):
        assert item.color == draw.hand_color(hand.id) and item.text == draw.side_label(hand)
        assert np.allclose(item.joints.pos, camera_to_view(p))
        assert np.allclose(np.asarray(item.ring.color)[:3], np.array(draw.hand_color(hand.id)) / 255)
    assert v.hands[0].color != v.hands[1].color
    v.set_hands(hands[:1])
    assert v.hands_shown == 1 and np.allclose(v.positions[0], hands[0].keypoints_3d)
    v.set_hands(())
    assert v.hands_shown == 0


def test_confidence_bars_follow_the_scores(qtbot):
    v = ConfidenceView()
    qtbot.addWidget(v)
    scores = np.linspace(0.1, 1.3, NUM_KEYPOINTS)
    v.set_scores(scores)
    assert np.allclose(v.values, scores)
    assert v.getViewBox().viewRange()[1][1] >= 1.3  # the axis grows with a score above 1
    v.set_scores(None)
    assert not v.values.any() and v.values_per_hand == []


def test_confidence_bars_per_hand(qtbot):
    v = ConfidenceView()
    qtbot.addWidget(v)
    hands = two_hands()
    v.set_hands(hands)
    assert len(v.values_per_hand) == 2 and np.allclose(v.values, hands[0].keypoint_scores)
    assert "■ R" in v.key_label.toHtml() and "■ L" in v.key_label.toHtml()
    v.set_hands(hands[:1])
    assert len(v.values_per_hand) == 1 and v.key_label.toPlainText() == ""
    v.set_hands(())
    assert not v.values.any()
