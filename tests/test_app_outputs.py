"""handcam.app.outputs: screenshots (OpenGL pixels included) and recordings written on a writer
thread into the run's output folder."""
from __future__ import annotations

import json
import os
import threading

import cv2
import numpy as np
import pytest
from app_fakes import FakeEstimator, two_hands_image, write_two_hands_video
from app_support import QtCore, image_bgr, make_window_fixture, video_fixture, wait_results, wait_settled  # noqa: F401

from handcam import draw
from handcam.config import RunConfig


def _gl_region(w, shot: np.ndarray) -> np.ndarray:
    top_left = w.view3d.mapTo(w, QtCore.QPoint(0, 0))
    scale = shot.shape[1] / w.width()  # device pixel ratio
    x, y = int(top_left.x() * scale), int(top_left.y() * scale)
    return shot[y:y + int(w.view3d.height() * scale), x:x + int(w.view3d.width() * scale)]


def test_screenshot_is_written_and_the_3d_view_is_drawn(make_window, qtbot, video, tmp_path):
    w = make_window(FakeEstimator(), ("video", video))
    wait_results(qtbot, w, 3)
    w.set_paused(True)
    wait_settled(qtbot, w)
    qtbot.keyClick(w, QtCore.Qt.Key_S)
    shots = list(tmp_path.glob("handcam-*.png"))
    assert len(shots) == 1
    shot = cv2.imread(str(shots[0]))
    assert shot is not None and shot.shape[0] >= w.height() - 1 and shot.std() > 10
    gl = _gl_region(w, shot)
    assert gl.size and gl.reshape(-1, 3).std(axis=0).max() > 8, "3D view looks blank"
    # the hand itself is drawn: coloured (non-grey) pixels in the 3D view
    b, g, r = (gl[..., i].astype(int) for i in range(3))
    colourful = (np.maximum(np.maximum(b, g), r) - np.minimum(np.minimum(b, g), r)) > 80
    assert colourful.sum() > 50
    # what the 3D view paints over the scene (its hands' "L"/"R") is in the shot too: it is its framebuffer
    fb = image_bgr(w.view3d.grabFramebuffer())
    assert fb.shape == gl.shape and (np.abs(fb.astype(int) - gl).max(axis=2) > 60).sum() < 10
    # and the 3D view without a hand still shows its grid (not a blank rectangle)
    w.view3d.set_keypoints(None)
    path = w.save_screenshot(tmp_path / "nohand.png")
    gl2 = _gl_region(w, cv2.imread(str(path)))
    assert gl2.std() > 3


def test_unwritable_screenshot_shows_a_message(make_window, tmp_path):
    w = make_window(FakeEstimator(), None)
    assert w.save_screenshot(tmp_path / "no-such-folder" / "x.png") is None
    assert "cannot write the screenshot" in w.message_text


def test_record_writes_jsonl_and_mp4_on_a_writer_thread(make_window, qtbot, video, tmp_path, monkeypatch):
    drawn_on = set()
    annotate = draw.annotate

    def spy(*a, **k):
        drawn_on.add(threading.current_thread().name)
        return annotate(*a, **k)

    monkeypatch.setattr(draw, "annotate", spy)
    w = make_window(FakeEstimator(), ("video", video))
    wait_results(qtbot, w, 1)
    qtbot.keyClick(w, QtCore.Qt.Key_R)
    assert w.recorder is not None and w.controls.record_button.isChecked()
    wait_results(qtbot, w, 5)
    qtbot.keyClick(w, QtCore.Qt.Key_R)
    assert w.recorder is None and not w.controls.record_button.isChecked()
    jsonl = list(tmp_path.glob("handcam-*.jsonl"))
    mp4 = list(tmp_path.glob("handcam-*.mp4"))
    assert len(jsonl) == 1 and len(mp4) == 1
    lines = [json.loads(s) for s in jsonl[0].read_text().splitlines()]
    assert len(lines) >= 5
    first = lines[0]
    assert "frame" in first and "timestamp" in first and len(first["hands"]) == 1
    for key in ("keypoints_2d", "keypoints_3d", "keypoint_scores", "center", "scale"):
        assert key in first["hands"][0]
    assert np.array(first["hands"][0]["keypoints_3d"]).shape == (21, 3)
    assert [r["frame"] for r in lines] == sorted(r["frame"] for r in lines)  # in order
    cap = cv2.VideoCapture(str(mp4[0]))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    assert n == len(lines)
    assert drawn_on == {"handcam-recorder"}  # annotated on the writer thread, never the GUI's


def test_a_recording_holds_every_hand(make_window, qtbot, tmp_path):
    w = make_window(FakeEstimator(), ("video", write_two_hands_video(tmp_path / "two.mp4", n_frames=40)))
    wait_results(qtbot, w, 1)
    w.controls.record_button.click()
    wait_results(qtbot, w, 4)
    w.controls.record_button.click()
    lines = [json.loads(s) for s in next(tmp_path.glob("handcam-*.jsonl")).read_text().splitlines()]
    assert len(lines) >= 4
    for line in lines:
        assert [(h["id"], h["side"]) for h in line["hands"]] == [(0, "right"), (1, "left")]
    cap = cv2.VideoCapture(str(next(tmp_path.glob("handcam-*.mp4"))))
    ok, frame = cap.read()
    cap.release()
    assert ok
    rgb = frame[..., ::-1].astype(int)
    image = two_hands_image()
    for hand_id, region in enumerate((image[..., 0] == 230, image[..., 0] == 204)):
        ys, xs = np.nonzero(region)
        inner = rgb[ys.min() + 8:ys.max() - 8, xs.min() + 8:xs.max() - 8].reshape(-1, 3).mean(0)
        tint = (image[region][0] * 0.6 + np.array(draw.hand_color(hand_id)) * 0.4)  # annotate's opacity 0.4
        assert np.abs(inner - tint).max() < 25, (hand_id, inner, tint)  # each hand tinted in its colour


def test_a_write_error_shows_in_the_banner_and_stops_the_recording(make_window, qtbot, video, monkeypatch):
    w = make_window(FakeEstimator(), ("video", video))
    wait_results(qtbot, w, 1)

    def broken(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(draw, "annotate", broken)
    w.controls.record_button.click()
    assert w.recorder is not None
    w.capture.republish()       # a frame to record even when the short clip already ended (a slow machine)
    qtbot.waitUntil(lambda: "disk full" in w.message_text, timeout=5000)
    assert "recording stopped" in w.message_text
    assert w.recorder is None and not w.controls.record_button.isChecked()
    assert "Record" in w.controls.record_button.text()
    w.capture.republish()      # the window goes on (a frame even when the short clip has ended)
    wait_results(qtbot, w, 1)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into a read-only folder")
def test_an_unwritable_output_folder_refuses_to_record(make_window, qtbot, tmp_path):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o500)
    try:
        w = make_window(FakeEstimator(), None, config=RunConfig(output_dir=out))
        w.controls.record_button.click()
        assert w.recorder is None and not w.controls.record_button.isChecked()
        assert "not writable" in w.message_text
    finally:
        out.chmod(0o700)


def test_a_folder_in_place_of_the_file_refuses_to_record(make_window, qtbot, tmp_path, monkeypatch):
    import handcam.app.outputs as outputs

    monkeypatch.setattr(outputs, "stamp", lambda: "fixed")
    (tmp_path / "handcam-fixed.mp4").mkdir()  # the video path is a folder: RecordingError before any frame
    w = make_window(FakeEstimator(), None)
    w.controls.record_button.click()
    assert w.recorder is None and not w.controls.record_button.isChecked()
    assert "it is a folder" in w.message_text
