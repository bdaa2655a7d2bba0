"""handcam.app.window in a real X display (run under xvfb-run): sources, threads, playback, shutdown.

The window is driven with a fake estimator (tests/app_fakes.py) that implements
``handcam.protocol.Estimator``; ``test_real_estimator_in_window`` keeps the fake honest by running
the real pipeline (random weights) through the same window once.
"""
from __future__ import annotations

import time
import tracemalloc

import cv2
import numpy as np
import pytest
from app_fakes import FakeEstimator, ScriptedSource, two_hands_image, write_video
from app_support import QtCore, make_window_fixture, video_fixture, wait_call, wait_results, wait_settled  # noqa: F401
from PyQt5 import QtGui, QtWidgets

from handcam import draw
from handcam.config import RunConfig, SourceSpec
from handcam.results import FrameResult
from handcam.settings import PipelineSettings


def test_window_opens_on_video_and_views_update(make_window, qtbot, video):
    est = FakeEstimator()
    w = make_window(est, ("video", video))
    wait_results(qtbot, w, 5)
    assert w.frame_view.updates >= 5 and w.crop_view.updates >= 5 and w.view3d.updates >= 5
    assert w.confidence_view.values.max() > 0
    r = w.last_result
    assert isinstance(r.result, FrameResult) and r.hand is not None and not r.image.flags.writeable
    assert "cpu" in w.status.device_label.text()  # estimator.describe()
    assert "fps" in w.status.capture_label.text() and "fps" in w.status.display_label.text()
    assert "segment" in w.status.stages_label.text()  # per-stage milliseconds from result.timings_ms
    assert not w.banner.isVisible()
    assert all(c["shape"] == (240, 320, 3) and c["via"] == "tracker" and c["redetect_every"] == 1 for c in est.calls)
    assert w.status.hands_label.text().startswith("1 hand: ")


def _image_source(tmp_path, image, name="hands.png"):
    path = tmp_path / name
    cv2.imwrite(str(path), image[..., ::-1])
    return ("image", path)


def _labels(view) -> list[str]:
    return [layer.label.toPlainText() for layer in view.hand_layers if layer.visible]


def test_every_hand_is_shown_in_its_colour_with_a_count(make_window, qtbot, tmp_path):
    est = FakeEstimator()
    w = make_window(est, _image_source(tmp_path, two_hands_image()))
    qtbot.waitUntil(lambda: w.results_shown >= 1)
    hands = w.last_result.hands
    assert len(hands) == 2
    assert w.status.hands_label.text() == "2 hands: R 0.90, L 0.80"
    assert w.frame_view.hands_shown == 2 and _labels(w.frame_view) == ["R", "L"]
    boxes = [layer.box.opts["pen"].color().getRgb()[:3] for layer in w.frame_view.hand_layers[:2]]
    assert boxes == [draw.hand_color(h.id) for h in hands] and boxes[0] != boxes[1]
    assert w.crop_view.hands_shown == 2 and [t.color for t in w.crop_view.thumbs[:2]] == boxes
    assert w.view3d.hands_shown == 2 and [h.color for h in w.view3d.hands[:2]] == boxes
    assert len(w.confidence_view.values_per_hand) == 2
    w.controls.max_hands_spin.setValue(1)  # at most one hand: the larger
    qtbot.waitUntil(lambda: w.last_result.settings.max_hands == 1, timeout=3000)
    assert w.status.hands_label.text() == "1 hand: R 0.90" and w.frame_view.hands_shown == 1
    assert w.crop_view.hands_shown == 1 and w.view3d.hands_shown == 1
    w.controls.max_hands_spin.setValue(2)
    w.controls.presence_slider.set_value(0.85)  # the threshold drops the less sure hand ...
    qtbot.waitUntil(lambda: w.last_result.settings.presence_threshold == pytest.approx(0.85), timeout=3000)
    assert w.status.hands_label.text() == "1 hand: R 0.90"
    w.controls.presence_slider.set_value(0.95)  # ... and then both: an empty result
    qtbot.waitUntil(lambda: w.last_result.settings.presence_threshold == pytest.approx(0.95), timeout=3000)
    assert w.last_result.result is not None and w.last_result.hands == ()
    assert w.status.hands_label.text() == "no hand"
    assert w.frame_view.hands_shown == 0 and not w.frame_view.mask_layer.isVisible()
    assert w.crop_view.label.text() == "no hand" and w.view3d.hands_shown == 0
    assert not w.confidence_view.values.any()


def test_a_frame_without_a_hand_shows_no_skeleton(make_window, qtbot, tmp_path):
    w = make_window(FakeEstimator(), _image_source(tmp_path, np.full((240, 320, 3), 20, np.uint8)))
    qtbot.waitUntil(lambda: w.results_shown >= 1)
    assert w.last_result.result.hands == () and w.status.hands_label.text() == "no hand"
    assert w.frame_view.showing_image and w.frame_view.hands_shown == 0 and not w.frame_view.mask_layer.isVisible()
    assert not w.crop_view.showing_image and w.view3d.hands_shown == 0


def test_the_mirror_switch_shows_the_persons_side(make_window, qtbot, tmp_path):
    image = np.full((240, 320, 3), 20, np.uint8)
    image[70:170, 30:130] = 230  # in the image's left half: the fake says a right hand
    est = FakeEstimator()
    w = make_window(est, _image_source(tmp_path, image))
    qtbot.waitUntil(lambda: w.results_shown >= 1)
    assert _labels(w.frame_view) == ["R"] and not w.last_result.settings.mirrored
    assert w.frame_view.hand_layers[0].label.pos().x() < 160
    w.controls.mirror_box.setChecked(True)
    qtbot.waitUntil(lambda: w.last_result.mirrored, timeout=3000)
    # the estimator ran on the flipped frame with mirrored settings, and the shown side is what it reported
    assert est.last_call()["settings"].mirrored and w.last_result.settings.mirrored
    assert w.last_result.hand.side == "right" and _labels(w.frame_view) == ["R"]  # still the person's right
    assert w.frame_view.hand_layers[0].label.pos().x() > 160  # drawn where the flipped frame shows it
    assert w.status.hands_label.text() == "1 hand: R 0.90"


def test_a_source_spec_opens_like_a_tuple(make_window, qtbot, video):
    w = make_window(FakeEstimator(), SourceSpec("video", video))
    wait_results(qtbot, w, 2)
    assert w.source.description == "clip.mp4"


def test_pause_and_step(make_window, qtbot, video):
    est = FakeEstimator()
    w = make_window(est, ("video", video))
    wait_results(qtbot, w, 3)
    qtbot.keyClick(w, QtCore.Qt.Key_Space)
    assert w.paused
    wait_settled(qtbot, w)  # the frame in flight has landed
    n_calls, index = len(est.calls), w.last_result.frame.index
    qtbot.wait(400)
    assert len(est.calls) == n_calls and w.last_result.frame.index == index
    qtbot.keyClick(w, QtCore.Qt.Key_Right)
    qtbot.waitUntil(lambda: w.last_result.frame.index == index + 1, timeout=3000)
    w.playback.step_button.click()
    qtbot.waitUntil(lambda: w.last_result.frame.index == index + 2, timeout=3000)
    wait_settled(qtbot, w)
    assert len(est.calls) == n_calls + 2
    # seek while paused shows the frame sought
    w.playback.seek_slider.setValue(40)
    qtbot.waitUntil(lambda: w.last_result.frame.index == 40, timeout=3000)
    qtbot.keyClick(w, QtCore.Qt.Key_Space)
    assert not w.paused
    qtbot.waitUntil(lambda: w.last_result.frame.index > 41, timeout=3000)


def test_as_fast_as_possible_processes_every_frame(make_window, qtbot, tmp_path):
    path = write_video(tmp_path / "short.mp4", n_frames=25)
    est = FakeEstimator()
    w = make_window(est, ("video", path), realtime=False)
    qtbot.waitUntil(lambda: w.last_result is not None and w.last_result.frame.index == 24, timeout=8000)
    wait_settled(qtbot, w)
    assert len(est.calls) == 25 and w.slot.dropped == 0


def test_close_stops_every_thread_within_a_second(make_window, qtbot, video):
    est = FakeEstimator(delay_s=0.15)
    w = make_window(est, ("video", video))
    wait_results(qtbot, w, 2)
    capture, worker, source = w.capture, w.worker, w.source
    assert capture.isRunning() and worker.isRunning() and not source.released
    t0 = time.monotonic()
    w.close()
    assert time.monotonic() - t0 < 1.0  # one frame inside the fake networks (0.15 s) at most
    assert not capture.isRunning() and not worker.isRunning()
    assert source.released and w.source is None
    calls = len(est.calls)
    qtbot.wait(200)
    assert len(est.calls) == calls  # nothing runs after close


def test_slow_pipeline_drops_frames_and_latency_stays_bounded(make_window, qtbot, tmp_path):
    delay = 0.25
    path = write_video(tmp_path / "big.mp4", n_frames=150, size=(640, 480))
    est = FakeEstimator(delay_s=delay)
    w = make_window(est, ("video", path), realtime=True)
    wait_results(qtbot, w, 2, timeout=8000)
    tracemalloc.start()
    try:
        qtbot.wait(700)
        base, _ = tracemalloc.get_traced_memory()
        qtbot.wait(2300)
        now, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    read = w.capture.frames_read
    shown = w.results_shown
    # the video ran at ~30 fps while the pipeline managed ~4: most frames were dropped, not queued
    assert read > 3 * shown and w.slot.dropped > 0.5 * read
    assert len(est.calls) <= shown + 2  # at most the frames in flight are not shown yet
    # memory flat: 3 s of 640x480 frames queued would be ~80 MB; allow a few frames' worth
    assert (now - base) < 8e6, f"memory grew by {(now - base) / 1e6:.1f} MB"
    lat = np.array(w.status.latencies_ms)[2:] / 1000.0
    assert len(lat) >= 6
    # bounded: about one to two inference times, and not growing (a queue would add `delay` per frame)
    assert np.median(lat) < 2 * delay + 0.3 and lat.max() < 4 * delay + 1.0, lat
    assert lat[-3:].mean() < lat[:3].mean() + 0.3, lat


def _corrupt_video(tmp_path):
    good = write_video(tmp_path / "good.mp4", n_frames=30)
    data = open(good, "rb").read()
    path = tmp_path / "corrupt.mp4"
    path.write_bytes(data[: len(data) // 3])  # truncated: no index at the end
    return path


@pytest.mark.parametrize("case", ["missing", "corrupt", "text", "camera"])
def test_bad_sources_show_a_clear_message(make_window, qtbot, tmp_path, case):
    if case == "missing":
        spec, expect = ("video", tmp_path / "nope.mp4"), "not found"
    elif case == "corrupt":
        spec, expect = ("video", _corrupt_video(tmp_path)), "corrupt.mp4"
    elif case == "text":
        p = tmp_path / "notes.mp4"
        p.write_text("this is a text file, not a video\n" * 20)
        spec, expect = ("video", p), "notes.mp4"
    else:
        spec, expect = ("camera", 97), "camera 97"
    w = make_window(FakeEstimator(), spec)
    assert w.banner.isVisible() and expect in w.message_text
    assert w.banner.open_button.isVisible()  # offers to open a video instead
    assert w.capture is None
    qtbot.wait(200)
    assert w.isVisible()


def test_camera_that_stops_mid_stream(make_window, qtbot):
    source = ScriptedSource(n_ok=4)
    w = make_window(FakeEstimator(), source)
    qtbot.waitUntil(lambda: "stopped delivering frames" in w.message_text, timeout=5000)
    assert w.results_shown >= 1 and w.isVisible()
    # the window can still open something else
    assert w.open(ScriptedSource(n_ok=100))
    qtbot.waitUntil(lambda: not w.banner.isVisible(), timeout=2000)
    assert source.released


def test_no_source_offers_to_open_a_video(make_window, qtbot):
    w = make_window(FakeEstimator(), None)
    assert w.banner.isVisible() and w.banner.open_button.isVisible() and "open a video" in w.message_text
    assert not w.frame_view.showing_image


def test_drag_and_drop_opens_the_video(make_window, qtbot, video):
    w = make_window(FakeEstimator(), None)
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(video))])
    pos = QtCore.QPointF(100, 100)
    enter = QtGui.QDragEnterEvent(pos.toPoint(), QtCore.Qt.CopyAction, mime, QtCore.Qt.LeftButton,
                                  QtCore.Qt.NoModifier)
    w.dragEnterEvent(enter)
    assert enter.isAccepted()
    w.dropEvent(QtGui.QDropEvent(pos, QtCore.Qt.CopyAction, mime, QtCore.Qt.LeftButton,
                                 QtCore.Qt.NoModifier))
    wait_results(qtbot, w, 2)
    assert w.source.description == "clip.mp4" and not w.banner.isVisible()


def test_o_opens_a_video(make_window, qtbot, video, monkeypatch):
    asked = []

    def fake_dialog(*args, **kwargs):
        asked.append(args)
        return video, ""

    monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileName", staticmethod(fake_dialog))
    w = make_window(FakeEstimator(), ("camera", 97))  # no such camera: the banner offers a video
    assert w.banner.open_button.isVisible()
    qtbot.keyClick(w, QtCore.Qt.Key_O)
    assert len(asked) == 1
    wait_results(qtbot, w, 2)
    assert w.source.description == "clip.mp4" and not w.banner.isVisible()


def test_still_image(make_window, qtbot, tmp_path):
    img = np.zeros((200, 260, 3), np.uint8)
    img[50:150, 80:180] = 230
    path = tmp_path / "hand.png"
    cv2.imwrite(str(path), img)
    est = FakeEstimator()
    w = make_window(est, ("image", path))
    qtbot.waitUntil(lambda: w.results_shown >= 1)
    qtbot.waitUntil(lambda: w.capture.at_end)
    wait_settled(qtbot, w)
    qtbot.wait(300)
    assert len(est.calls) == 1  # a still image is estimated once ...
    w.controls.crop_slider.set_value(1.8)  # ... and again when a setting changes
    wait_call(qtbot, est, lambda c: c["settings"].crop_factor == pytest.approx(1.8))


def test_fullscreen_and_escape(make_window, qtbot):
    w = make_window(FakeEstimator(), None)
    qtbot.keyClick(w, QtCore.Qt.Key_F)
    qtbot.waitUntil(w.isFullScreen, timeout=2000)
    qtbot.keyClick(w, QtCore.Qt.Key_F)
    qtbot.waitUntil(lambda: not w.isFullScreen(), timeout=2000)
    qtbot.keyClick(w, QtCore.Qt.Key_Escape)
    qtbot.waitUntil(lambda: not w.isVisible(), timeout=2000)
    assert not w.worker.isRunning()


def test_output_dir_comes_from_the_config(make_window, tmp_path):
    out = tmp_path / "shots"
    out.mkdir()
    w = make_window(FakeEstimator(), None, config=RunConfig(output_dir=out))
    assert w.output_dir == out and w.recording.output_dir == out


def test_real_estimator_in_window(make_window, qtbot, tmp_path, random_estimator):
    """The same window with the real pipeline (random weights): keeps the fakes honest."""
    path = write_video(tmp_path / "real.mp4", n_frames=2)
    # presence_threshold 0: random weights' presence is about 0.5, and the checks below need a found hand
    config = RunConfig(settings=PipelineSettings(presence_threshold=0.0), output_dir=tmp_path)
    w = make_window(random_estimator, ("video", path), realtime=False, config=config)
    qtbot.waitUntil(lambda: w.last_result is not None and w.last_result.hand is not None, timeout=30000)
    hand = w.last_result.hand
    assert hand.keypoints_2d.shape == (21, 2) and hand.keypoints_3d.shape == (21, 3)
    assert hand.mask.shape == (240, 320) and hand.crop.shape == (256, 256, 3)
    assert w.view3d.updates >= 1 and w.crop_view.updates >= 1
    assert "cpu" in w.status.device_label.text()
    w.controls.crop_slider.set_value(1.5)
    qtbot.waitUntil(lambda: w.last_result.settings.crop_factor == pytest.approx(1.5), timeout=30000)
