"""handcam.figure: the release's 2x2 result figure."""
import cv2
import numpy as np
import pytest
from conftest import synthetic_frame

from handcam import figure
from handcam.errors import InputError


def test_result_figure_panels(lite_estimator):
    frame = synthetic_frame()
    hand = lite_estimator.estimate(frame, with_mask=True, with_crop=True).hand
    assert hand.mask is not None and hand.crop is not None
    fig = figure.result_figure(frame, hand, title="test")
    p, pad = figure.PANEL, 8
    assert fig.shape == (2 * p + 3 * pad + 24, 2 * p + 3 * pad, 3) and fig.dtype == np.uint8
    top_left = fig[24 + pad:24 + pad + p, pad:pad + p]
    assert top_left.std() > 10  # the frame
    bottom_right = fig[24 + 2 * pad + p:24 + 2 * pad + 2 * p, 2 * pad + p:2 * pad + 2 * p]
    assert (bottom_right != 255).any()  # the 3D skeleton and its grid on white
    assert (fig[:24] != 255).any()      # the title
    assert (figure.result_figure(frame, hand)[:24] == 255).all()


def test_result_figure_without_mask_or_crop(lite_estimator):
    frame = synthetic_frame(120, 200)
    hand = lite_estimator.estimate(frame, with_mask=False, with_crop=False).hand
    assert hand.mask is None and hand.crop is None
    fig = figure.result_figure(frame, hand)
    p, pad = figure.PANEL, 8
    mask_panel = fig[24 + 2 * pad + p:24 + 2 * pad + 2 * p, pad:pad + p]
    assert mask_panel.max() <= 128  # an empty mask with grey margins


def test_render_3d_and_view():
    r = figure.view_rotation()
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    panel = figure.render_3d(np.random.default_rng(0).normal(size=(21, 3)), size=100)
    assert panel.shape == (100, 100, 3) and (panel != 255).any()
    assert figure.render_3d(np.full((21, 3), np.nan), size=50).shape == (50, 50, 3)


def test_save_figure(tmp_path, lite_estimator):
    frame = synthetic_frame()
    hand = lite_estimator.estimate(frame, with_mask=True, with_crop=True).hand
    figure.save_figure(tmp_path / "f.png", frame, hand)
    assert cv2.imread(str(tmp_path / "f.png")).shape == figure.result_figure(frame, hand).shape
    with pytest.raises(InputError, match="could not write the figure"):
        figure.save_figure(tmp_path / "missing" / "f.png", frame, hand)
    with pytest.raises(InputError, match="extension"):
        figure.save_figure(tmp_path / "f.unknown", frame, hand)


def test_a_single_hand_fills_the_3d_panel_and_several_share_it():
    from core_fakes import two_hand_estimator, two_hand_frame

    from handcam.figure import PANEL, result_figure

    est = two_hand_estimator(ring_keypoints=True)
    frame = two_hand_frame()
    result = est.estimate(frame, with_mask=True, with_crop=True)
    assert len(result.hands) == 2

    def drawn_extent(fig):      # the 3D panel (bottom right): pixels that are neither white nor the grey grid
        y, x = 24 + 8 + PANEL + 8, 8 + PANEL + 8
        panel = fig[y:y + PANEL, x:x + PANEL].astype(int)
        ink = (np.abs(panel - panel.mean(axis=2, keepdims=True)).sum(axis=2) > 60)   # coloured pixels
        rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
        return (rows[-1] - rows[0], cols[-1] - cols[0]) if rows.size else (0, 0)

    one = drawn_extent(result_figure(frame, result.hands[0]))
    both = drawn_extent(result_figure(frame, result))
    assert max(one) > 0.5 * PANEL                  # one hand is drawn as the release does: filling the panel
    assert max(both) > 0.5 * PANEL
    assert result_figure(frame, list(result.hands)).shape == result_figure(frame, result).shape
    empty = result_figure(frame, est.estimate(two_hand_frame(left=None, right=None)))
    assert drawn_extent(empty) == (0, 0)           # no hand: nothing drawn in 3D
