"""What the window looks like: the banner, the views, the control rows, the menus. Widgets only;
``handcam.app.window`` connects them to the threads.

    ┌ banner (messages) ───────────────────────────────────────────┐
    │ frame view (per hand: mask, box, │ crops     │ 3D hands view │
    │   L/R label, skeleton)           │ keypoint confidences      │
    │ playback row: pause, step, seek, position, real-time         │
    │ control rows: crop factor, mask / presence threshold, mask   │
    │   opacity; hand side, max hands, mirror, tracking, smooth... │
    └ status: hands · device · capture · inference · fps · latency ┘
"""
from __future__ import annotations

from PyQt5 import QtCore, QtGui, QtWidgets

from .controls import ControlRow, PlaybackRow
from .overlay import CropView, FrameView
from .state import WindowState
from .status import Banner
from .views import ConfidenceView, Hand3DView


class WindowLayout(QtWidgets.QWidget):
    """The central widget of the window."""

    def __init__(self, state: WindowState, realtime: bool, mirror: bool, parent=None):
        super().__init__(parent)
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        self.banner = Banner()  # source problems, missing weights ... with an "Open video…" offer
        outer.addWidget(self.banner)

        split = QtWidgets.QSplitter(QtCore.Qt.Horizontal)
        self.frame_view = FrameView("no frame yet", mask_opacity=state.mask_opacity)
        split.addWidget(self.frame_view)
        right = QtWidgets.QSplitter(QtCore.Qt.Vertical)
        top = QtWidgets.QWidget()
        tl = QtWidgets.QHBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        self.crop_view = CropView("crops (256×256)")
        self.view3d = Hand3DView()
        tl.addWidget(self.crop_view, 1)
        tl.addWidget(self.view3d, 1)
        right.addWidget(top)
        self.confidence_view = ConfidenceView()
        right.addWidget(self.confidence_view)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 1)
        split.addWidget(right)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        outer.addWidget(split, 1)

        self.playback = PlaybackRow(realtime)
        outer.addWidget(self.playback)
        self.controls = ControlRow(state.settings, state.tracking, mirror, state.mask_opacity,
                                   smoothing=state.smoothing)
        outer.addWidget(self.controls)


def add_menus(window: QtWidgets.QMainWindow, menus: dict) -> dict:
    """``menus``: menu title -> [(text, shortcut or None, slot) or None for a separator]. Every
    shortcut works anywhere in the window. Returns text -> QAction."""
    actions = {}
    for title, entries in menus.items():
        menu = window.menuBar().addMenu(title)
        for entry in entries:
            if entry is None:
                menu.addSeparator()
                continue
            text, shortcut, slot = entry
            a = QtWidgets.QAction(text, window)
            if shortcut is not None:
                a.setShortcut(QtGui.QKeySequence(shortcut))
                a.setShortcutContext(QtCore.Qt.WindowShortcut)
            a.triggered.connect(slot)
            menu.addAction(a)
            window.addAction(a)
            actions[text] = a
    return actions
