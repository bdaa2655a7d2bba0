"""handcam.sources: image loading and conversion, camera / video / still-image sources -- frames,
seeking and clear errors."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from app_fakes import FailingCapture, write_video

from handcam.errors import InputError, SourceError
from handcam.sources import CameraSource, StillSource, VideoSource, load_image, to_rgb8


def test_to_rgb8():
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    assert np.array_equal(to_rgb8(rgb), rgb)
    assert np.array_equal(to_rgb8(rgb, bgr=True), rgb[:, :, ::-1])
    gray = np.array([[0, 128]], np.uint8)
    assert np.array_equal(to_rgb8(gray), [[[0, 0, 0], [128, 128, 128]]])
    assert np.array_equal(to_rgb8(gray[:, :, None]), to_rgb8(gray))
    rgba = np.dstack([rgb, np.full((2, 3), 7, np.uint8)])
    assert np.array_equal(to_rgb8(rgba), rgb)
    assert np.array_equal(to_rgb8(rgb.astype(np.uint16) * 257), rgb)  # 16 bit: the high byte
    assert np.array_equal(to_rgb8(np.array([[[0.0, 0.5, 1.0]]])), [[[0, 128, 255]]])  # floats are 0..1
    out = to_rgb8(rgba, bgr=True)
    assert out.flags.c_contiguous and out.dtype == np.uint8 and out.shape == (2, 3, 3)
    with pytest.raises(InputError, match="unsupported image shape"):
        to_rgb8(np.zeros((2, 3, 2), np.uint8))
    with pytest.raises(InputError, match="unsupported pixel type"):
        to_rgb8(np.zeros((2, 3, 3), np.int32))


def test_load_image(tmp_path):
    img = np.zeros((4, 6, 3), np.uint8)
    img[..., 2] = 200  # blue in RGB
    cv2.imwrite(str(tmp_path / "b.png"), img[:, :, ::-1])
    got = load_image(tmp_path / "b.png")
    assert got.shape == (4, 6, 3) and got[0, 0, 2] == 200 and got[0, 0, 0] == 0
    with pytest.raises(InputError, match="no such file"):
        load_image(tmp_path / "none.png")
    with pytest.raises(InputError, match="is a directory"):
        load_image(tmp_path)
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(InputError, match="not an image"):
        load_image(tmp_path / "empty.png")


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


def test_image_files_by_suffix_sorted_and_optionally_recursive(tmp_path):
    from handcam.sources import image_files

    (tmp_path / "sub").mkdir()
    for name in ("b.PNG", "a.jpg", "notes.txt", "sub/c.tiff"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in image_files(tmp_path)] == ["a.jpg", "b.PNG"]
    assert [p.relative_to(tmp_path).as_posix() for p in image_files(tmp_path, recursive=True)] == \
        ["a.jpg", "b.PNG", "sub/c.tiff"]
