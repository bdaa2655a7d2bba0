"""handcam.app.overlay: the frame and crop views as pyqtgraph layers (image, mask tint, skeleton, box).
A new mask opacity is the mask layer's own opacity: the frame is not rendered again."""
from __future__ import annotations

import numpy as np
import pytest
from app_fakes import FakeEstimator, fake_hand
from app_support import make_window_fixture, video_fixture, wait_results, wait_settled  # noqa: F401
from PyQt5 import QtCore

from handcam import draw
from handcam.app.overlay import CropView, FrameView
from handcam.results import FrameResult
from handcam.settings import PipelineSettings
from handcam.skeleton import BONES


def frame_and_result(hands=1, tracked=False):
    image = np.full((240, 320, 3), 60, np.uint8)
    image[80:160, 100:220] = 230
    hand = fake_hand(image, PipelineSettings(), tracked=tracked)
    return image, FrameResult((hand,) * hands, image.shape[:2])


def grab_rgb(widget) -> np.ndarray:
    img = widget.grab().toImage().convertToFormat(4)  # QImage.Format_RGB32: B, G, R, A in memory
    ptr = img.bits()
    ptr.setsize(img.byteCount())
    return np.frombuffer(ptr, np.uint8).reshape(img.height(), img.width(), 4)[..., 2::-1].copy()


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
    assert frame_view.mask_layer.isVisible() and np.array_equal(frame_view.mask_layer.image.astype(bool), hand.mask)
    assert frame_view.hands_shown == 1
    layer = frame_view.hand_layers[0]
    for (a, b), item in zip(BONES, layer.bones):  # pixel centres: +0.5 in the view
        x, y = item.getData()
        assert np.allclose(x, hand.keypoints_2d[[a, b], 0] + 0.5) and np.allclose(y, hand.keypoints_2d[[a, b], 1] + 0.5)
    bx, by = layer.box.getData()
    x0, y0, x1, y1 = hand.box + 0.5
    assert np.allclose(bx, [x0, x1, x1, x0, x0]) and np.allclose(by, [y0, y0, y1, y1, y0])
    frame_view.set_frame(*frame_and_result(hands=2))  # every hand is drawn
    assert frame_view.hands_shown == 2
    frame_view.set_frame(*frame_and_result(tracked=True))  # a tracked hand has no mask
    assert frame_view.hands_shown == 1 and not frame_view.mask_layer.isVisible()
    frame_view.set_frame(image, None)
    assert frame_view.hands_shown == 0 and not frame_view.mask_layer.isVisible()
    frame_view.show_text("nothing")
    assert not frame_view.showing_image and frame_view.label.text() == "nothing"


def test_the_rendered_tint_matches_draw_overlay_mask(frame_view, qtbot):
    image, result = frame_and_result()
    frame_view.set_frame(image, FrameResult((result.hand,), image.shape[:2]))
    shots = {}
    for opacity in (0.0, 0.5, 1.0):
        frame_view.set_mask_opacity(opacity)
        qtbot.wait(50)
        shots[opacity] = grab_rgb(frame_view)
    x, y = 106, 154  # a masked pixel away from the skeleton and the box
    p = frame_view.view.mapViewToDevice(QtCore.QPointF(x + 0.5, y + 0.5))
    p = frame_view.graphics.mapTo(frame_view, QtCore.QPoint(int(p.x()), int(p.y())))
    at = {k: shot[p.y(), p.x()].astype(int) for k, shot in shots.items()}
    expected = draw.overlay_mask(image, result.hand.mask, 0.5)[y, x].astype(int)
    assert np.abs(at[0.5] - expected).max() <= 3, (at[0.5], expected)
    assert np.abs(at[0.0] - image[y, x]).max() <= 3
    assert np.abs(at[1.0] - draw.MASK_COLOR).max() <= 3
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
    assert v.showing_image and v.updates == 1 and np.array_equal(v.image_layer.image, hand.crop)
    x, _ = v.hand_layers[0].bones[0].getData()
    a, b = BONES[0]
    assert np.allclose(x, hand.keypoints_crop[[a, b], 0] + 0.5) and v.hand_layers[0].box is None
    v.set_hand(None)
    assert not v.showing_image and v.label.text() == "no hand pose" and v.hands_shown == 0
