"""Recording and export: results per frame as JSON lines and an annotated MP4 (no Qt here).

One JSONL line per frame: ``frame`` (index in the source), ``timestamp`` (seconds), then
``FrameResult.to_json()`` (``schema``, ``frame_size``, ``hands`` [...], ``timings_ms``), or
``"hands": null`` (with ``error`` when known) for a frame without a result. The video is the frame
with each hand's mask, crop box and skeleton drawn on it (``handcam.draw.annotate``), written with
OpenCV's 'mp4v' codec.

``Recorder`` writes in the caller's thread (the headless runner); ``BackgroundRecorder`` hands the
frames to a writer thread through a bounded queue, so that a GUI thread never waits for the encoder.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import threading
from pathlib import Path

import cv2
import numpy as np

from . import draw
from .config import check_output_path
from .errors import HandcamError, InputError
from .results import SCHEMA_VERSION

log = logging.getLogger(__name__)


def frame_record(index: int, timestamp: float, result, error: str | None = None) -> dict:
    """The JSON object written for one frame (``result``: a FrameResult, or None)."""
    record = {"frame": int(index), "timestamp": round(float(timestamp), 6)}
    if result is None:
        record.update({"schema": SCHEMA_VERSION, "hands": None})
        if error:
            record["error"] = error
    else:
        record.update(result.to_json())
    return record


class RecordingError(HandcamError):
    """An output file that cannot be written."""


def _open_checked(path: Path) -> Path:
    try:
        return check_output_path(path)
    except InputError as e:
        raise RecordingError(str(e)) from None


class JsonlWriter:
    def __init__(self, path):
        self.path = _open_checked(Path(path))
        try:
            self._f = open(self.path, "w", encoding="utf-8")
        except OSError as e:
            raise RecordingError(f"cannot write {self.path}: {e.strerror or e}") from e
        self.count = 0

    def write(self, index: int, timestamp: float, result, error: str | None = None) -> None:
        self._f.write(json.dumps(frame_record(index, timestamp, result, error), separators=(",", ":")) + "\n")
        self.count += 1

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


class VideoWriter:
    """An MP4 writer that opens on the first frame (so it knows the size) and keeps that size."""

    def __init__(self, path, fps: float):
        self.path = _open_checked(Path(path))
        self.fps = float(fps) if fps and fps > 0 else 30.0
        self._writer = None
        self._size = None
        self.count = 0

    def write(self, image_rgb: np.ndarray) -> None:
        h, w = image_rgb.shape[:2]
        if self._writer is None:
            self._size = (w, h)
            self._writer = cv2.VideoWriter(os.fspath(self.path), cv2.VideoWriter_fourcc(*"mp4v"),
                                           self.fps, self._size)
            if not self._writer.isOpened():
                self._writer = None
                raise RecordingError(f"cannot write the video {self.path} (mp4v codec unavailable "
                                     f"or the folder is not writable)")
        if (w, h) != self._size:
            image_rgb = cv2.resize(image_rgb, self._size, interpolation=cv2.INTER_AREA)
        self._writer.write(cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))
        self.count += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None


class Recorder:
    """Writes both outputs of a recording in the caller's thread; either path may be None. Both paths
    are checked when it is made (before any frame is processed)."""

    def __init__(self, json_path=None, video_path=None, fps: float = 30.0, mask_opacity: float = 0.4):
        self.json_path = json_path
        self.video_path = video_path
        self.mask_opacity = mask_opacity
        # the video writer only checks its path here (it opens on the first frame): made first, so that
        # a bad video path fails before the JSON file is created
        self._video = VideoWriter(video_path, fps) if video_path else None
        self._json = JsonlWriter(json_path) if json_path else None
        self.frames = 0

    def write(self, index: int, timestamp: float, image_rgb: np.ndarray, result,
              annotated: np.ndarray | None = None, error: str | None = None) -> None:
        if self._json is not None:
            self._json.write(index, timestamp, result, error)
        if self._video is not None:
            if annotated is None:
                annotated = draw.annotate(image_rgb, result, mask_opacity=self.mask_opacity)
            self._video.write(annotated)
        self.frames += 1

    def close(self) -> None:
        if self._json is not None:
            self._json.close()
        if self._video is not None:
            self._video.close()
        log.debug("recorded %d frames to %s %s", self.frames, self.json_path or "", self.video_path or "")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class BackgroundRecorder:
    """A ``Recorder`` whose writes happen on a writer thread. ``write`` only queues (the frame and
    result are immutable); when the queue is full the caller waits (nothing is dropped). A write
    error stops the recording: ``error`` holds it and later writes raise it. ``close`` drains the
    queue and joins the thread."""

    def __init__(self, json_path=None, video_path=None, fps: float = 30.0, mask_opacity: float = 0.4,
                 max_queue: int = 64):
        self._recorder = Recorder(json_path, video_path, fps=fps, mask_opacity=mask_opacity)
        self.json_path, self.video_path = json_path, video_path
        self._queue: queue.Queue = queue.Queue(maxsize=max_queue)
        self.error: RecordingError | None = None
        self._thread = threading.Thread(target=self._run, name="handcam-recorder", daemon=True)
        self._thread.start()

    @property
    def frames(self) -> int:
        return self._recorder.frames

    def write(self, index: int, timestamp: float, image_rgb: np.ndarray, result,
              annotated: np.ndarray | None = None, error: str | None = None) -> None:
        if self.error is not None:
            raise self.error
        self._queue.put((index, timestamp, image_rgb, result, annotated, error))

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self.error is not None:
                continue
            try:
                self._recorder.write(*item)
            except HandcamError as e:
                self.error = e if isinstance(e, RecordingError) else RecordingError(str(e))
            except Exception as e:  # noqa: BLE001 - a broken encoder must not kill the thread silently
                log.exception("recording failed")
                self.error = RecordingError(f"recording failed: {type(e).__name__}: {e}")

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self._recorder.close()
