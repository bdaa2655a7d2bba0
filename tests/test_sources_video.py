"""Camera / video / still-image sources (handcam.sources): frames, seeking and clear errors."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from app_fakes import FailingCapture, write_video
from handcam.errors import SourceError
from handcam.sources import CameraSource, StillSource, VideoSource


def test_video_source_reads_every_frame_and_seeks(tmp_path):
    path = write_video(tmp_path / "v.mp4", n_frames=12, size=(64, 48), fps=25)
    src = VideoSource(path)
    assert src.fps == pytest.approx(25) and src.frame_count == 12 and src.size == (64, 48)
    frames = list(src)
    assert len(frames) == 12 and frames[0].shape == (48, 64, 3) and frames[0].dtype == np.uint8
    assert src.read() is None
    src.seek(5)
    assert src.position == 5
    again = src.read()
    assert np.abs(again.astype(int) - frames[5].astype(int)).mean() < 3
    src.release()
    assert src.released
    with pytest.raises(SourceError):
        src.read()


def test_video_source_is_rgb(tmp_path):
    path = tmp_path / "red.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 32))
    for _ in range(3):
        w.write(np.dstack([np.zeros((32, 32)), np.zeros((32, 32)), np.full((32, 32), 255)]).astype(np.uint8))
    w.release()
    frame = VideoSource(path).read()
    assert frame[16, 16, 0] > 200 and frame[16, 16, 2] < 50  # BGR red -> RGB red


def test_video_errors(tmp_path):
    with pytest.raises(SourceError, match="not found"):
        VideoSource(tmp_path / "nope.mp4")
    with pytest.raises(SourceError, match="folder"):
        VideoSource(tmp_path)
    text = tmp_path / "notes.mp4"
    text.write_text("hello\n" * 100)
    with pytest.raises(SourceError, match="notes.mp4"):
        VideoSource(text)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(SourceError):
        VideoSource(empty)


def test_camera_errors():
    with pytest.raises(SourceError, match="camera 97"):
        CameraSource(97)
    cap = FailingCapture(n_ok=3)
    cam = CameraSource(0, timeout_s=0.2, capture=cap)
    assert cam.is_live and [cam.read().shape for _ in range(3)] == [(48, 64, 3)] * 3
    with pytest.raises(SourceError, match="stopped delivering frames"):
        cam.read()
    cam.release()
    assert cap.released and cam.released


def test_still_source(tmp_path):
    img = np.zeros((10, 12, 3), np.uint8)
    img[..., 0] = 255
    path = tmp_path / "r.png"
    cv2.imwrite(str(path), img[..., ::-1])
    src = StillSource.from_path(path)
    first = src.read()
    assert first.shape == (10, 12, 3) and first[0, 0, 0] == 255
    assert src.read() is None  # one frame, then the end
    src.seek(0)
    assert src.read() is not None
    with pytest.raises(SourceError):
        StillSource.from_path(tmp_path / "nope.png")
