"""Recording and export: keypoints per frame as JSON lines and an annotated MP4 (no Qt here).

One JSONL line per frame: ``frame`` (index in the source), ``timestamp`` (seconds), then
``HandPose.to_json()`` (2D keypoints, 3D keypoints, scores, centre, scale, crop box, ...), or
``"pose": null`` for a frame without a result. The video is the frame with the mask, crop box and
skeleton drawn on it (``handcam.draw.annotate``), written with OpenCV's 'mp4v' codec.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import cv2
import numpy as np

from .. import draw
from ..errors import HandcamError

log = logging.getLogger(__name__)


def pose_record(index: int, timestamp: float, pose) -> dict:
    """The JSON object written for one frame."""
    record = {"frame": int(index), "timestamp": round(float(timestamp), 6)}
    if pose is None:
        record["pose"] = None
    else:
        record.update(pose.to_json())
    return record


class RecordingError(HandcamError):
    """An output file that cannot be written."""


def _unwritable(path: Path, e: OSError) -> RecordingError:
    return RecordingError(f"cannot write {path}: {e.strerror or e}")


def _make_parent(path: Path) -> None:
    """Create the folder an output goes into (RecordingError naming the path if that fails)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _unwritable(path, e) from e


class JsonlWriter:
    def __init__(self, path):
        self.path = Path(path)
        _make_parent(self.path)
        try:
            self._f = open(self.path, "w", encoding="utf-8")
        except OSError as e:
            raise _unwritable(self.path, e) from e
        self.count = 0

    def write(self, index: int, timestamp: float, pose) -> None:
        self._f.write(json.dumps(pose_record(index, timestamp, pose), separators=(",", ":")) + "\n")
        self.count += 1

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


class VideoWriter:
    """An MP4 writer that opens on the first frame (so it knows the size) and keeps that size."""

    def __init__(self, path, fps: float):
        self.path = Path(path)
        self.fps = float(fps) if fps and fps > 0 else 30.0
        self._writer = None
        self._size = None
        self.count = 0
        _make_parent(self.path)

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
    """Writes both outputs of a recording; either path may be None."""

    def __init__(self, json_path=None, video_path=None, fps: float = 30.0, mask_opacity: float = 0.4):
        self.json_path = json_path
        self.video_path = video_path
        self.mask_opacity = mask_opacity
        self._json = JsonlWriter(json_path) if json_path else None
        try:
            self._video = VideoWriter(video_path, fps) if video_path else None
        except Exception:
            if self._json:
                self._json.close()
            raise
        self.frames = 0

    def write(self, index: int, timestamp: float, image_rgb: np.ndarray, pose,
              annotated: np.ndarray | None = None) -> None:
        if self._json is not None:
            self._json.write(index, timestamp, pose)
        if self._video is not None:
            if annotated is None:
                annotated = draw.annotate(image_rgb, pose, mask_opacity=self.mask_opacity)
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
