"""Shared pieces of the window tests (run them under xvfb-run): a display check, window fixtures and
waits on events (results shown, calls made, threads settled) instead of fixed sleeps.

Import the fixtures into a test module to use them: ``from app_support import make_window_fixture``
gives the ``make_window`` fixture, ``video_fixture`` the ``video`` one.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
    pytest.skip("the app tests need an X display: run them under xvfb-run (see README)",
                allow_module_level=True)

from app_fakes import FakeEstimator, write_video  # noqa: E402
from PyQt5 import QtCore, QtGui  # noqa: E402

from handcam.app.views import share_gl_contexts  # noqa: E402
from handcam.app.window import MainWindow  # noqa: E402
from handcam.config import RunConfig  # noqa: E402

share_gl_contexts()  # before pytest-qt creates the QApplication


@pytest.fixture(name="video")
def video_fixture(tmp_path):
    return write_video(tmp_path / "clip.mp4", n_frames=60, marker=True)


def show_window(qtbot, w, size=(1300, 800)):
    w.resize(*size)
    qtbot.addWidget(w)
    with qtbot.waitActive(w, timeout=3000):  # shortcuts need the active window
        w.show()
        w.activateWindow()
    return w


@pytest.fixture(name="make_window")
def make_window_fixture(qtbot, tmp_path, monkeypatch):
    """make(estimator=None, source=None, factory=None, config=None, **MainWindow options) -> a shown
    window writing into tmp_path, with its settings in tmp_path/settings.ini."""
    monkeypatch.setenv("HANDCAM_SETTINGS", str(tmp_path / "settings.ini"))
    made = []

    def make(estimator=None, source=None, factory=None, config=None, **kw):
        est = estimator if estimator is not None else FakeEstimator()
        config = config or RunConfig(output_dir=tmp_path)
        w = MainWindow(config, factory or (lambda _config: est), source=source, **kw)
        made.append(show_window(qtbot, w))
        return w

    yield make
    for w in made:
        w.close()


def wait_results(qtbot, w, n, timeout=5000):
    start = w.results_shown
    qtbot.waitUntil(lambda: w.results_shown >= start + n, timeout=timeout)


def wait_call(qtbot, est, predicate, timeout=3000):
    qtbot.waitUntil(lambda: est.last_call() is not None and predicate(est.last_call()), timeout=timeout)


def wait_settled(qtbot, w, timeout=3000):
    """Paused (or at the end) with nothing in flight: the capture thread is idle, the slot is empty
    and every frame the worker took has been run and shown."""
    qtbot.waitUntil(lambda: w.capture is not None and w.capture.idle and w.slot.wait_empty(0)
                    and w.slot.delivered == w.worker.frames_processed == w.results_shown, timeout=timeout)


__all__ = ["MainWindow", "QtCore", "make_window_fixture", "show_window", "video_fixture", "wait_call",
           "wait_results", "wait_settled"]


def image_bgr(image: QtGui.QImage) -> np.ndarray:
    """A copy of a QImage's pixels as an H x W x 3 BGR array (the copy is made while the image is alive:
    a view into a freed QImage reads whatever the allocator wrote there since)."""
    image = image.convertToFormat(QtGui.QImage.Format_RGB32)  # B, G, R, A in memory
    ptr = image.bits()
    ptr.setsize(image.byteCount())
    rows = np.frombuffer(ptr, np.uint8).reshape(image.height(), image.bytesPerLine())
    return rows[:, :image.width() * 4].reshape(image.height(), image.width(), 4)[..., :3].copy()
