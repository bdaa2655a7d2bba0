"""What the window writes: screenshots and recordings, into the run's output folder.

A recording is a ``handcam.recording.BackgroundRecorder``: the GUI thread only queues each shown
frame with its result, the writer thread draws the annotated frame (``handcam.draw.annotate``) and
encodes it with its JSON line. A write error stops the recording and is reported through
``failed`` (checked on every frame and by a timer, so it surfaces even while paused).
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from PyQt5 import QtCore, QtGui, QtWidgets

from ..errors import HandcamError
from ..recording import BackgroundRecorder

log = logging.getLogger(__name__)


def stamp() -> str:
    """A file-name time stamp with milliseconds (two screenshots a second apart never collide)."""
    return time.strftime("%Y%m%d-%H%M%S") + f"-{int(time.time() * 1000) % 1000:03d}"


def save_screenshot(widget: QtWidgets.QWidget, path) -> bool:
    """A PNG of ``widget`` as shown (OpenGL views included); False when it cannot be written.

    ``QWidget.grab`` leaves out what an OpenGL view paints with a QPainter (the 3D view's "L"/"R"
    labels), so each visible OpenGL view is drawn over the grab from its own framebuffer."""
    shot = widget.grab()
    painter = QtGui.QPainter(shot)
    try:
        for view in widget.findChildren(QtWidgets.QOpenGLWidget):
            if view.isVisible() and view.window() is widget.window():
                painter.drawImage(QtCore.QRect(view.mapTo(widget, QtCore.QPoint(0, 0)), view.size()),
                                  view.grabFramebuffer())
    finally:
        painter.end()
    return bool(shot.save(os.fspath(path), "PNG"))


class RecordingControl(QtCore.QObject):
    """Starts, feeds and stops one recording at a time; ``set_active`` is the record button's slot."""

    changed = QtCore.pyqtSignal(bool, str)  # recording or not, a note for the status bar
    failed = QtCore.pyqtSignal(str)  # a message for the banner; the recording is not running

    def __init__(self, output_dir: Path, poll_ms: int = 200, parent=None):
        super().__init__(parent)
        self.output_dir = Path(output_dir)
        self.recorder: BackgroundRecorder | None = None
        self._timer = QtCore.QTimer(self)
        self._timer.setInterval(poll_ms)
        self._timer.timeout.connect(self._check)

    @property
    def active(self) -> bool:
        return self.recorder is not None

    def start(self, fps: float | None, mask_opacity: float) -> Path:
        """Open ``handcam-<time>.jsonl`` and ``.mp4``; returns the common stem. Raises
        ``RecordingError`` (a HandcamError) when they cannot be written, before any frame."""
        if self.recorder is not None:
            return Path(self.recorder.json_path).with_suffix("")
        stem = self.output_dir / f"handcam-{stamp()}"
        self.recorder = BackgroundRecorder(f"{stem}.jsonl", f"{stem}.mp4", fps=fps or 30.0,
                                           mask_opacity=mask_opacity)
        self._timer.start()
        return stem

    def set_active(self, on: bool, fps: float | None = None, mask_opacity: float = 0.4) -> None:
        """Start or stop; reports through ``changed`` / ``failed``."""
        if on and self.recorder is None:
            try:
                stem = self.start(fps, mask_opacity)
            except HandcamError as e:
                self.failed.emit(str(e))
                return
            self.changed.emit(True, f"recording to {stem}.jsonl and .mp4")
        elif not on and self.recorder is not None:
            rec = self.stop()
            if rec.error is not None:
                self.failed.emit(f"recording stopped: {rec.error}")
            self.changed.emit(False, f"recorded {rec.frames} frames to {rec.json_path}")

    def write(self, shown) -> None:
        """Queue a shown DisplayFrame (the writer thread draws and encodes it)."""
        if self.recorder is None:
            return
        frame = shown.frame
        try:
            self.recorder.write(frame.index, frame.timestamp, shown.image, shown.result, annotated=None,
                                error=shown.error)
        except HandcamError as e:
            self._fail(str(e))

    def stop(self) -> BackgroundRecorder | None:
        """Finish the recording (waits for the queued frames); returns the closed recorder."""
        rec, self.recorder = self.recorder, None
        self._timer.stop()
        if rec is not None:
            rec.close()
            log.debug("recorded %d frames to %s", rec.frames, rec.json_path)
        return rec

    def _check(self) -> None:
        if self.recorder is not None and self.recorder.error is not None:
            self._fail(str(self.recorder.error))

    def _fail(self, message: str) -> None:
        self.stop()
        self.failed.emit(f"recording stopped: {message}")
