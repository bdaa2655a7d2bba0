"""handcam.app.overlay: the frame and crop views as pyqtgraph layers (image, mask tint, skeleton, box,
side label), every hand in its own colour. A new mask opacity is the mask layer's own opacity: the
frame is not rendered again."""
from __future__ import annotations

import numpy as np
import pytest
from app_fakes import FakeEstimator, fake_hand, two_hands_image
from app_support import image_bgr, make_window_fixture, video_fixture, wait_results, wait_settled  # noqa: F401
from PyQt5 import QtCore

from handcam import draw
from handcam.app.overlay import CropView, FrameView, mask_label
from handcam.results import FrameResult
from handcam.settings import PipelineSettings
from handcam.skeleton import BONES


def frame_and_result(tracked=False):
    image = np.full((240, 320, 3), 60, np.uint8)
    image[80:160, 100:220] = 230
    hand = fake_hand(image, PipelineSettings(), tracked=tracked)
    return image, FrameResult((hand,), image.shape[:2])


def two_hands(tracked=False):
    image = two_hands_image()
    result = FakeEstimator().tracker().process(image) if tracked else FakeEstimator().estimate(image)
    assert len(result.hands) == 2
    return image, result


def grab_rgb(widget) -> np.ndarray:
    return image_bgr(widget.grab().toImage())[..., ::-1].copy()


def shown_at(view, shot, x, y) -> np.ndarray:
    """The colour of frame pixel (x, y) in a grab of the view."""
    p = view.view.mapViewToDevice(QtCore.QPointF(x + 0.5, y + 0.5))
    p = view.graphics.mapTo(view, QtCore.QPoint(int(p.x()), int(p.y())))
    return shot[p.y(), p.x()].astype(int)


def pen_rgb(item) -> tuple:
    c = item.opts["pen"].color()
    return c.red(), c.green(), c.blue()


@pytest.fixture
def frame_view(qtbot):
    v = FrameView(min_size=(320, 240))
    v.resize(320, 240)
    qtbot.addWidget(v)
    v.show()
    qtbot.waitExposed(v)
    return v


def test_the_layers_hold_what_the_result_says(frame_view):
    image, result = frame_and_result()
    hand = result.hand
    frame_view.set_frame(image, result)
    assert frame_view.showing_image and frame_view.updates == 1
    assert np.array_equal(frame_view.image_layer.image, image)
    assert frame_view.mask_layer.isVisible()
    assert np.array_equal(frame_view.mask_layer.image == mask_label(hand), hand.mask)
    assert frame_view.hands_shown == 1
    layer = frame_view.hand_layers[0]
    for (a, b), item in zip(BONES, layer.bones):  # pixel centres: +0.5 in the view
        x, y = item.getData()
        assert np.allclose(x, hand.keypoints_2d[[a, b], 0] + 0.5) and np.allclose(y, hand.keypoints_2d[[a, b], 1] + 0.5)
    bx, by = layer.box.getData()
    x0, y0, x1, y1 = hand.box + 0.5
    assert np.allclose(bx, [x0, x1, x1, x0, x0]) and np.allclose(by, [y0, y0, y1, y1, y0])
    assert layer.label.isVisible() and layer.label.toPlainText() == draw.side_label(hand)
    frame_view.set_frame(*frame_and_result(tracked=True))  # a tracked hand has no mask
    assert frame_view.hands_shown == 1 and not frame_view.mask_layer.isVisible()
    frame_view.set_frame(image, None)
    assert frame_view.hands_shown == 0 and not frame_view.mask_layer.isVisible()
    assert not layer.label.isVisible()
    frame_view.show_text("nothing")
    assert not frame_view.showing_image and frame_view.label.text() == "nothing"


def test_every_hand_is_drawn_in_its_own_colour_with_its_side(frame_view, qtbot):
    image, result = two_hands()
    frame_view.set_frame(image, result)
    assert frame_view.hands_shown == 2
    colours, labels = [], []
    for layer, hand in zip(frame_view.hand_layers, result.hands):
        assert np.allclose(layer.bones[0].getData()[0], hand.keypoints_2d[list(BONES[0]), 0] + 0.5)
        assert pen_rgb(layer.box) == draw.hand_color(hand.id)
        assert layer.label.isVisible() and layer.label.fill.color().getRgb()[:3] == draw.hand_color(hand.id)
        colours.append(pen_rgb(layer.box))
        labels.append(layer.label.toPlainText())
        # the label sits at the box's top-left corner, kept inside the frame
        x0, y0 = hand.box[:2]
        assert (layer.label.pos().x(), layer.label.pos().y()) == pytest.approx((max(x0, 0), max(y0, 0)))
    assert colours[0] != colours[1]
    assert labels == [draw.side_label(h) for h in result.hands] == ["R", "L"]  # as the estimator reports them
    # one label image: each hand's pixels carry its own colour's entry
    for hand in result.hands:
        assert np.all(frame_view.mask_layer.image[hand.mask] == mask_label(hand))
    assert mask_label(result.hands[0]) != mask_label(result.hands[1])
    # rendered: each hand's pixels tinted like handcam.draw.annotate tints them
    frame_view.set_mask_opacity(0.5)
    qtbot.wait(50)
    shot = grab_rgb(frame_view)
    for hand in result.hands:
        ys, xs = np.nonzero(hand.mask)
        x, y = int(xs.min()) + 3, int(ys.max()) - 3  # inside the mask, off the skeleton and the box
        expected = draw.overlay_mask(image, hand.mask, 0.5, draw.hand_color(hand.id))[y, x].astype(int)
        assert np.abs(shown_at(frame_view, shot, x, y) - expected).max() <= 3
    # a frame without hands: no skeleton, no mask, no label
    frame_view.set_frame(image, FrameResult((), image.shape[:2]))
    assert frame_view.hands_shown == 0 and not frame_view.mask_layer.isVisible()
    assert not any(layer.label.isVisible() or layer.box.isVisible() for layer in frame_view.hand_layers)


def test_the_rendered_tint_matches_draw_overlay_mask(frame_view, qtbot):
    image, result = frame_and_result()
    frame_view.set_frame(image, result)
    shots = {}
    for opacity in (0.0, 0.5, 1.0):
        frame_view.set_mask_opacity(opacity)
        qtbot.wait(50)
        shots[opacity] = grab_rgb(frame_view)
    x, y = 106, 154  # a masked pixel away from the skeleton and the box
    at = {k: shown_at(frame_view, shot, x, y) for k, shot in shots.items()}
    color = draw.hand_color(result.hand.id)
    expected = draw.overlay_mask(image, result.hand.mask, 0.5, color)[y, x].astype(int)
    assert np.abs(at[0.5] - expected).max() <= 3, (at[0.5], expected)
    assert np.abs(at[0.0] - image[y, x]).max() <= 3
    assert np.abs(at[1.0] - color).max() <= 3
    assert frame_view.updates == 1  # three opacities, one rendering of the frame


def test_moving_the_opacity_slider_does_not_render_the_frame_again(make_window, qtbot, video, monkeypatch):
    w = make_window(FakeEstimator(), ("video", video))
    wait_results(qtbot, w, 2)
    w.set_paused(True)
    wait_settled(qtbot, w)
    set_image = []
    layer = w.frame_view.image_layer
    original = layer.setImage
    monkeypatch.setattr(layer, "setImage", lambda *a, **k: (set_image.append(1), original(*a, **k)))

    def no_annotate(*a, **k):
        raise AssertionError("the GUI drew the frame with OpenCV")

    monkeypatch.setattr(draw, "annotate", no_annotate)
    monkeypatch.setattr(draw, "overlay_mask", no_annotate)
    for value in (0.0, 0.3, 0.9, 1.0):
        w.controls.opacity_slider.set_value(value)
        qtbot.wait(20)
        assert w.frame_view.mask_layer.opacity() == pytest.approx(value)
    assert set_image == [] and w.mask_opacity == pytest.approx(1.0)


def test_crop_view_shows_the_crop_and_its_keypoints(qtbot):
    v = CropView()
    qtbot.addWidget(v)
    _, result = frame_and_result()
    hand = result.hand
    v.set_hand(hand)
    thumb = v.thumbs[0]
    assert v.showing_image and v.updates == 1 and v.hands_shown == 1
    assert np.array_equal(thumb.image.image, hand.crop)
    x, _ = thumb.layer.bones[0].getData()
    a, b = BONES[0]
    assert np.allclose(x, hand.keypoints_crop[[a, b], 0] + 0.5) and thumb.layer.box is None
    v.set_hand(None)
    assert not v.showing_image and v.label.text() == "no hand" and v.hands_shown == 0


def test_crop_view_shows_one_framed_thumbnail_per_hand(qtbot):
    v = CropView()
    v.resize(400, 200)
    qtbot.addWidget(v)
    v.show()
    qtbot.waitExposed(v)
    _, result = two_hands()
    v.set_hands(result.hands)
    assert v.hands_shown == 2 and len(v.graphics.ci.items) == 2
    for thumb, hand in zip(v.thumbs, result.hands):
        assert np.array_equal(thumb.image.image, hand.crop) and thumb.layer.visible
        assert pen_rgb(thumb.frame) == draw.hand_color(hand.id)
        assert thumb.label.toPlainText() == draw.side_label(hand)
    qtbot.wait(50)
    left, right = (t.view.sceneBoundingRect() for t in v.thumbs[:2])
    assert right.left() >= left.right() - 1  # side by side
    v.set_hands(result.hands[:1])  # one hand left: one thumbnail
    assert v.hands_shown == 1 and len(v.graphics.ci.items) == 1
    v.set_hands(())
    assert not v.showing_image and v.label.text() == "no hand"
    v.set_hands(result.hands)
    assert v.hands_shown == 2 and v.showing_image
