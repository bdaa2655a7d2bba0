"""handcam.recording: one JSON line per frame, an annotated MP4, and the writer-thread recorder."""
from __future__ import annotations

import json
import threading
import time

import cv2
import numpy as np
import pytest
from app_fakes import FakeEstimator

from handcam import draw
from handcam.recording import BackgroundRecorder, Recorder, RecordingError, frame_record
from handcam.results import SCHEMA_VERSION


def frames(n, size=(48, 64)):
    est = FakeEstimator()
    out = []
    for i in range(n):
        image = np.full(size + (3,), 40, np.uint8)
        image[10:30, 10 + i:30 + i] = 230
        out.append((i, image, est.estimate(image)))
    return out


def video_frames(path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    return n


def test_frame_record_with_and_without_a_result():
    (_, _, result), = frames(1)
    r = frame_record(7, 0.25, result)
    assert r["frame"] == 7 and r["timestamp"] == 0.25 and r["schema"] == SCHEMA_VERSION
    assert len(r["hands"]) == 1 and np.array(r["hands"][0]["keypoints_2d"]).shape == (21, 2)
    assert frame_record(8, 0.3, None, "inference failed") == {"frame": 8, "timestamp": 0.3, "schema": SCHEMA_VERSION,
                                                              "hands": None, "error": "inference failed"}
    assert "error" not in frame_record(9, 0.3, None)


def test_recorder_writes_a_jsonl_line_and_a_video_frame_per_frame(tmp_path):
    jsonl, mp4 = tmp_path / "r.jsonl", tmp_path / "r.mp4"
    with Recorder(jsonl, mp4, fps=10) as rec:
        for i, image, result in frames(5):
            rec.write(i, i / 10, image, result)
        rec.write(5, 0.5, image, None, error="inference failed")
        rec.write(6, 0.6, np.zeros((96, 128, 3), np.uint8), None)  # another size: resized to the first
        assert rec.frames == 7
    lines = [json.loads(s) for s in jsonl.read_text().splitlines()]
    assert [r["frame"] for r in lines] == list(range(7))
    assert lines[5]["hands"] is None and lines[5]["error"] == "inference failed"
    assert video_frames(mp4) == 7
    cap = cv2.VideoCapture(str(mp4))
    ok, first = cap.read()
    cap.release()
    assert ok and first.shape == (48, 64, 3)


def test_the_video_frames_are_annotated(tmp_path):
    (i, image, result), = frames(1)
    with Recorder(None, tmp_path / "a.mp4", fps=10, mask_opacity=1.0) as rec:
        rec.write(i, 0.0, image, result)
    cap = cv2.VideoCapture(str(tmp_path / "a.mp4"))
    ok, bgr = cap.read()
    cap.release()
    expected = draw.annotate(image, result, mask_opacity=1.0)
    assert ok and np.abs(bgr[..., ::-1].astype(int) - expected).mean() < 12  # mp4v is lossy
    assert np.abs(bgr[..., ::-1].astype(int) - image).mean() > 20


def test_background_recorder_writes_everything_in_order(tmp_path):
    jsonl, mp4 = tmp_path / "b.jsonl", tmp_path / "b.mp4"
    rec = BackgroundRecorder(jsonl, mp4, fps=10, max_queue=2)  # a small queue: writers wait, none dropped
    items = frames(30)
    for i, image, result in items:
        rec.write(i, i / 10, image, result)
    rec.close()
    assert rec.error is None and rec.frames == 30
    lines = [json.loads(s) for s in jsonl.read_text().splitlines()]
    assert [r["frame"] for r in lines] == list(range(30))
    assert lines[4] == json.loads(json.dumps(frame_record(4, 0.4, items[4][2])))
    assert video_frames(mp4) == 30


def test_background_recorder_reports_a_write_error_and_stops(tmp_path, monkeypatch):
    calls = []

    def failing(image, result, **kw):
        calls.append(threading.current_thread().name)
        if len(calls) == 3:
            raise OSError("disk full")
        return image.copy()

    monkeypatch.setattr(draw, "annotate", failing)
    rec = BackgroundRecorder(tmp_path / "e.jsonl", tmp_path / "e.mp4", fps=10)
    items = frames(6)
    for i, image, result in items[:3]:
        rec.write(i, i / 10, image, result)
    deadline = time.monotonic() + 10
    while rec.error is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert isinstance(rec.error, RecordingError) and "disk full" in str(rec.error)
    with pytest.raises(RecordingError, match="disk full"):
        rec.write(3, 0.3, items[3][1], items[3][2])  # later writes raise the error
    rec.close()
    assert rec.frames == 2 and calls == ["handcam-recorder"] * 3  # drawn on the writer thread


@pytest.mark.parametrize("which", ["json", "video"])
@pytest.mark.parametrize("cls", [Recorder, BackgroundRecorder])
def test_an_unwritable_path_fails_before_any_frame(tmp_path, cls, which):
    bad = tmp_path / "missing-folder" / f"x.{'jsonl' if which == 'json' else 'mp4'}"
    good = tmp_path / f"ok.{'mp4' if which == 'json' else 'jsonl'}"
    paths = (bad, good) if which == "json" else (good, bad)
    threads = {t.name for t in threading.enumerate()}
    with pytest.raises(RecordingError, match="does not exist"):
        cls(*paths)
    assert "handcam-recorder" not in {t.name for t in threading.enumerate()} - threads
    (tmp_path / "dir.mp4").mkdir()
    with pytest.raises(RecordingError, match="it is a folder"):
        cls(None, tmp_path / "dir.mp4")
