"""Where frames come from: still images (here), cameras and video files (the app's sources below).

Every failure is a ``handcam.errors`` exception whose message names the problem and the fix.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .errors import InputError


def to_rgb8(image: np.ndarray, bgr: bool = False) -> np.ndarray:
    """Any common image array -> H x W x 3 uint8 RGB.

    Grayscale (H x W or H x W x 1) is replicated, RGBA/BGRA drops alpha, 16-bit keeps the high
    byte, float images are taken as 0..1. ``bgr=True`` for arrays that come from OpenCV.
    """
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4) or a.shape[0] < 1 or a.shape[1] < 1:
        raise InputError(f"unsupported image shape {a.shape}: expected H x W, H x W x 1, x 3 or x 4")
    if a.dtype == np.uint16:
        a = (a >> 8).astype(np.uint8)
    elif a.dtype.kind == "f":
        a = np.clip(np.round(a * 255.0), 0, 255).astype(np.uint8)
    elif a.dtype != np.uint8:
        raise InputError(f"unsupported pixel type {a.dtype}: expected 8- or 16-bit integers or floats")
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    elif a.shape[2] == 4:
        a = a[:, :, :3]
    if bgr:
        a = a[:, :, ::-1]
    return np.ascontiguousarray(a)


#: File name suffixes handcam reads as still images (OpenCV decodes them).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def image_files(folder, recursive: bool = False) -> list[Path]:
    """The image files (by ``IMAGE_SUFFIXES``) in ``folder``, or below it with ``recursive``, sorted."""
    entries = Path(folder).rglob("*") if recursive else Path(folder).iterdir()
    return sorted(p for p in entries if p.suffix.lower() in IMAGE_SUFFIXES)


def load_image(path) -> np.ndarray:
    """Read an image file as H x W x 3 uint8 RGB (grayscale, RGBA and 16-bit are converted)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise InputError(f"{path} is a directory; pass an image file")
    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None:
        raise InputError(f"{path}: not an image OpenCV can read (PNG, JPEG, BMP, TIFF, ...); "
                         f"is it corrupt or another kind of file?")
    return to_rgb8(img, bgr=img.ndim == 3 and img.shape[2] in (3, 4))


# --- Frame sources: cameras, video files and still images -----------------------------------------
# A source yields RGB uint8 frames one by one through ``read()`` (None at the end of a file) and
# raises SourceError with a message that says what went wrong and what to try instead.

import logging  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402

from .errors import SourceError  # noqa: E402

log = logging.getLogger(__name__)

#: A video is read at its own frame rate; when the file does not say, at this one.
DEFAULT_FPS = 30.0


class FrameSource:
    """Common shape of every source.

    is_live:      True for cameras (no seeking, frames are dropped when nobody takes them)
    fps:          frames per second the source is meant to be played at (None: unknown / as delivered)
    frame_count:  number of frames (None for cameras)
    position:     index of the frame the next ``read()`` returns
    description:  a short human-readable name ("camera 0", "clip.mp4")
    """

    is_live = False
    fps: float | None = None
    frame_count: int | None = None
    description = "source"

    def __init__(self):
        self.position = 0

    def read(self) -> "np.ndarray | None":
        raise NotImplementedError

    def seek(self, index: int) -> None:
        raise SourceError(f"{self.description} cannot seek")

    def release(self) -> None:
        pass

    @property
    def released(self) -> bool:
        return False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()

    def __iter__(self):
        while True:
            frame = self.read()
            if frame is None:
                return
            yield frame


def _bgr_to_rgb(frame: "np.ndarray") -> "np.ndarray":
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


class _CaptureSource(FrameSource):
    """A source backed by a ``cv2.VideoCapture`` in ``self._cap`` (None once released)."""

    _cap = None

    @property
    def released(self) -> bool:
        return self._cap is None

    def _check_open(self) -> None:
        if self._cap is None:
            raise SourceError(f"{self.description} was closed")

    def release(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class VideoSource(_CaptureSource):
    """A video file decoded by OpenCV (FFmpeg). Opening checks that a first frame can be decoded."""

    def __init__(self, path):
        super().__init__()
        self.path = os.fspath(path)
        self.description = os.path.basename(self.path) or self.path
        if not os.path.exists(self.path):
            raise SourceError(f"video not found: {self.path} (check the path)")
        if os.path.isdir(self.path):
            raise SourceError(f"{self.path} is a folder, not a video file")
        self._cap = cv2.VideoCapture(self.path)
        if not self._cap.isOpened():
            self._cap.release()
            raise SourceError(f"cannot open {self.path} as a video: not a video file, or a format "
                               f"OpenCV/FFmpeg cannot decode (try converting it to H.264 MP4)")
        ok, first = self._cap.read()
        if not ok or first is None:
            self._cap.release()
            raise SourceError(f"cannot decode any frame of {self.path}: the file is corrupt, "
                               f"empty or not a video")
        self._pending = first
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and np.isfinite(fps) and 0 < fps < 1000 else DEFAULT_FPS
        n = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.frame_count = n if n > 0 else None
        self.size = (first.shape[1], first.shape[0])
        log.debug("opened video %s: %sx%s, %.2f fps, %s frames", self.path, *self.size, self.fps,
                  self.frame_count)

    def read(self):
        self._check_open()
        if self._pending is not None:
            frame, self._pending = self._pending, None
        else:
            ok, frame = self._cap.read()
            if not ok or frame is None:
                if self.frame_count is not None and self.position < self.frame_count - 1:
                    log.warning("%s ended at frame %d of %d (truncated or corrupt?)",
                                 self.path, self.position, self.frame_count)
                return None
        self.position += 1
        return _bgr_to_rgb(frame)

    def seek(self, index: int) -> None:
        self._check_open()
        index = max(0, int(index))
        if self.frame_count is not None:
            index = min(index, self.frame_count - 1)
        self._pending = None
        self._cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        self.position = index

class CameraSource(_CaptureSource):
    """A camera through OpenCV. ``read()`` raises SourceError when the camera stops delivering
    frames for ``timeout_s`` seconds (unplugged, taken by another program)."""

    is_live = True

    def __init__(self, index: int = 0, timeout_s: float = 2.0, capture=None):
        super().__init__()
        self.index = int(index)
        self.timeout_s = float(timeout_s)
        self.description = f"camera {self.index}"
        self._cap = capture if capture is not None else cv2.VideoCapture(self.index)
        if not self._cap.isOpened():
            self._cap.release()
            self._cap = None
            raise SourceError(f"camera {self.index} cannot be opened (no such camera, or it is in "
                               f"use); choose another with --camera N or open a video file")
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and np.isfinite(fps) and 0 < fps < 1000 else None

    def read(self):
        self._check_open()
        start = time.monotonic()
        while True:
            ok, frame = self._cap.read()
            if ok and frame is not None:
                self.position += 1
                return _bgr_to_rgb(frame)
            if time.monotonic() - start > self.timeout_s:
                raise SourceError(f"{self.description} stopped delivering frames (unplugged or "
                                   f"taken by another program?)")
            time.sleep(0.02)

class StillSource(FrameSource):
    """One still image as a one-frame source: the first read delivers it, later reads end (None);
    ``seek(0)`` delivers it again (the window re-runs it when a setting changes)."""

    def __init__(self, image: "np.ndarray", description: str = "image"):
        super().__init__()
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise SourceError(f"{description}: expected an RGB uint8 image, got "
                               f"{image.dtype} {image.shape}")
        self.image = image
        self.description = description
        self.frame_count = 1
        self._released = False

    @classmethod
    def from_path(cls, path) -> "StillSource":
        try:
            image = load_image(path)
        except InputError as e:  # same message, as a source error
            raise SourceError(str(e)) from e
        return cls(image, os.path.basename(os.fspath(path)))

    @property
    def released(self) -> bool:
        return self._released

    def read(self):
        if self._released:
            raise SourceError(f"{self.description} was closed")
        if self.position >= 1:  # one frame, then the end (seek(0) to deliver it again)
            return None
        self.position = 1
        return self.image.copy()

    def seek(self, index: int) -> None:
        self.position = 0

    def release(self) -> None:
        self._released = True

