"""handcam.app.views: the 3D hand (pyqtgraph OpenGL) and the per-keypoint confidence bars."""
from __future__ import annotations

import numpy as np
from app_fakes import HAND_3D, FakeEstimator
from app_support import make_window_fixture  # noqa: F401

from handcam.app.views import ConfidenceView, Hand3DView, camera_to_view
from handcam.skeleton import NUM_KEYPOINTS


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
    assert v.updates == 1
    bad = HAND_3D.copy()
    bad[3] = np.nan
    v.set_keypoints(bad)  # hidden, not drawn with holes
    v.set_keypoints(None)
    assert v.updates == 1


def test_confidence_bars_follow_the_scores(qtbot):
    v = ConfidenceView()
    qtbot.addWidget(v)
    scores = np.linspace(0.1, 1.3, NUM_KEYPOINTS)
    v.set_scores(scores)
    assert np.allclose(v.values, scores)
    assert v.getViewBox().viewRange()[1][1] >= 1.3  # the axis grows with a score above 1
    v.set_scores(None)
    assert not v.values.any()
