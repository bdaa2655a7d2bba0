"""Where the window's sources come from: specs, file dialogs, dropped files."""
from __future__ import annotations

from pathlib import Path

from PyQt5 import QtCore, QtWidgets

from ..config import SourceSpec
from ..sources import IMAGE_SUFFIXES, CameraSource, StillSource, VideoSource

VIDEO_FILTER = "Videos (*.mp4 *.avi *.mov *.mkv *.webm *.m4v);;All files (*)"
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.webp);;All files (*)"


def open_source(spec):
    """A FrameSource from a ``SourceSpec`` or ("camera", index) / ("video", path) / ("image", path);
    a source object is returned as it is. Raises SourceError with a message for the user."""
    if isinstance(spec, tuple):
        spec = SourceSpec(*spec)
    if not isinstance(spec, SourceSpec):
        return spec
    if spec.kind == "camera":
        return CameraSource(int(spec.value))
    if spec.kind == "video":
        return VideoSource(spec.value)
    return StillSource.from_path(spec.value)


def spec_for_path(path) -> SourceSpec:
    """An image by its suffix, else a video."""
    return SourceSpec("image" if Path(path).suffix.lower() in IMAGE_SUFFIXES else "video", str(path))


def dropped_spec(mime: QtCore.QMimeData) -> SourceSpec | None:
    """The first local file of a drag-and-drop, or None."""
    for url in mime.urls() if mime.hasUrls() else ():
        if url.isLocalFile():
            return spec_for_path(url.toLocalFile())
    return None


def ask_source(parent: QtWidgets.QWidget, kind: str) -> SourceSpec | None:
    """Ask for a video, an image or a camera index; None when cancelled."""
    if kind == "camera":
        index, ok = QtWidgets.QInputDialog.getInt(parent, "Open camera", "camera index", 0, 0, 63)
        return SourceSpec("camera", index) if ok else None
    title, filters = ("Open video", VIDEO_FILTER) if kind == "video" else ("Open image", IMAGE_FILTER)
    path, _ = QtWidgets.QFileDialog.getOpenFileName(parent, title, "", filters)
    return SourceSpec(kind, path) if path else None
