"""handcam.app.status: the message banner and the status bar."""
from __future__ import annotations

import numpy as np
from app_fakes import FakeEstimator, two_hands_image
from app_support import QtCore  # noqa: F401
from PyQt5 import QtWidgets

from handcam.app.capture import CapturedFrame
from handcam.app.status import Banner, StatusBar, format_hands, format_timings
from handcam.app.worker import DisplayFrame
from handcam.results import FrameResult


def test_format_timings():
    assert format_timings({"segment": 12.4, "pose": 30.6, "total": 43}) == "segment 12 · pose 31 ms"
    assert format_timings({}) == "—" and format_timings(None) == "—"


def test_format_hands():
    est = FakeEstimator()
    two = est.estimate(two_hands_image())
    assert format_hands(two) == "2 hands: R 0.90, L 0.80"  # each hand's side (the person's) and presence
    assert format_hands(FrameResult(two.hands[1:], two.frame_size)) == "1 hand: L 0.80"
    assert format_hands(FrameResult((), two.frame_size)) == "no hand"
    assert format_hands(None) == "hands —"  # no result (no estimator, a failed frame)


def test_banner_shows_every_message_until_cleared(qtbot):
    b = Banner()
    qtbot.addWidget(b)
    b.show_message("source", "no camera", offer_open=True)
    b.show_message("estimator", "no weights")
    assert not b.isHidden() and b.text == "no camera\nno weights"
    assert b.has("source") and not b.open_button.isHidden()
    b.clear_message("source")  # the offer goes with the source message
    assert b.text == "no weights" and b.open_button.isHidden()
    b.clear_message("estimator")
    assert b.text == "" and b.isHidden()
    clicked = []
    b.open_requested.connect(lambda: clicked.append(1))
    b.open_button.click()
    assert clicked == [1]


def test_status_bar_reports_rates_and_latency_from_an_injected_clock(qtbot):
    window = QtWidgets.QMainWindow()
    qtbot.addWidget(window)
    now = [100.0]
    bar = StatusBar(window.statusBar(), clock=lambda: now[0])
    est = FakeEstimator()
    image = np.zeros((48, 64, 3), np.uint8)
    image[10:30, 20:40] = 230
    for i in range(3):
        frame = CapturedFrame(index=i, timestamp=i / 30, captured_at=now[0] - 0.05, image=image,
                              capture_fps=30.0, dropped=i, frame_count=None)
        bar.frame_shown(DisplayFrame(frame=frame, image=image, result=est.estimate(image), settings=est.settings,
                                     tracking=False, mirrored=False, inference_ms=20.0, finished_at=now[0]))
        now[0] += 0.1  # shown ten times a second
    assert len(bar.latencies_ms) == 3 and np.allclose(bar.latencies_ms, 50.0)
    assert abs(bar.display_fps - 10.0) < 1e-6 and bar.display_label.text() == "display 10.0 fps"
    assert bar.capture_label.text() == "capture 30.0 fps · dropped 2"
    assert bar.stages_label.text().startswith("inference 20 ms (segment")
    assert bar.latency_label.text() == "latency 50 ms"
    assert bar.hands_label.text() == "1 hand: R 0.90"
    dark = np.zeros((48, 64, 3), np.uint8)
    bar.frame_shown(DisplayFrame(frame=frame, image=dark, result=est.estimate(dark), settings=est.settings,
                                 tracking=False, mirrored=False, inference_ms=20.0, finished_at=now[0]))
    assert bar.hands_label.text() == "no hand"
    bar.set_device("cpu (fake estimator)")
    assert bar.device_label.text() == "device: cpu (fake estimator)"
    bar.set_device(None)
    assert "no estimator" in bar.device_label.text()
