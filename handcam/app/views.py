"""The app's views of numbers: the rotatable 3D hands and per-keypoint confidences (the frame and crop
views, images with layers over them, are in ``handcam.app.overlay``).

Views only display what they are given; every number they show was computed by the worker. The 3D
view places several hands in one scene (``place_hands``: a layout of the worker's numbers in the view's
units, one bone 12-11 long), each marked in its hand's colour (``handcam.draw.hand_color``).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..compat import preload_triton

preload_triton()  # before Qt / PyOpenGL / Mesa are loaded: see handcam.compat

import pyqtgraph as pg  # noqa: E402
from PyQt5 import QtCore, QtGui, QtWidgets  # noqa: E402

try:  # the 3D view needs PyOpenGL; without it the window still works, with a note instead
    import pyqtgraph.opengl as gl
except ImportError as _gl_error:  # pragma: no cover
    gl = None
    GL_IMPORT_ERROR = f"3D view unavailable: {_gl_error} (pip install PyOpenGL)"
else:
    GL_IMPORT_ERROR = None

from ..draw import HAND_COLORS, hand_color, place_hands, side_label  # noqa: E402
from ..results import HandPose  # noqa: E402
from ..skeleton import (  # noqa: E402
    BONE_COLORS,
    BONES,
    FINGER_INDICES,
    FINGERS,
    KEYPOINT_COLORS,
    KEYPOINT_NAMES,
    NUM_KEYPOINTS,
    ROOT,
)

#: Radius of the ring in a hand's colour around its root (view units).
RING_RADIUS = 1.0
_RING_STEPS = 48


def share_gl_contexts() -> None:
    """pyqtgraph caches each GL item's shader program per class, which is only valid when every
    GLViewWidget's context shares objects: ask Qt for that (before the QApplication exists)."""
    if QtWidgets.QApplication.instance() is None:
        QtCore.QCoreApplication.setAttribute(QtCore.Qt.AA_ShareOpenGLContexts)


share_gl_contexts()


def camera_to_view(xyz: np.ndarray) -> np.ndarray:
    """Camera coordinates (x right, y down, z away from the camera) to the GL scene's (z up)."""
    xyz = np.asarray(xyz, dtype=np.float32)
    return np.stack([xyz[:, 0], xyz[:, 2], -xyz[:, 1]], axis=1)


class _NoGLView(QtWidgets.QLabel):
    """Stands in for the 3D view when OpenGL support is missing."""

    def __init__(self, parent=None):
        super().__init__(GL_IMPORT_ERROR or "3D view unavailable", parent)
        self.setWordWrap(True)
        self.setAlignment(QtCore.Qt.AlignCenter)
        self.updates = 0
        self.hands_shown = 0

    def reset_view(self) -> None:
        pass

    def set_keypoints(self, xyz) -> None:
        pass

    def set_hands(self, hands) -> None:
        pass


_RING = np.stack([np.cos(np.linspace(0, 2 * np.pi, _RING_STEPS + 1)), np.zeros(_RING_STEPS + 1),
                  np.sin(np.linspace(0, 2 * np.pi, _RING_STEPS + 1))], 1) * RING_RADIUS


class _GLHand:
    """One hand's GL items: bones as lines in their colours, joints as points, a ring around the root
    facing the camera and the side label, both in the hand's colour."""

    def __init__(self, view: gl.GLViewWidget):
        seg_colors = np.repeat(np.concatenate([BONE_COLORS, np.ones((len(BONES), 1))], 1), 2, axis=0)
        self.bones = gl.GLLinePlotItem(pos=np.zeros((2 * len(BONES), 3)), color=seg_colors,
                                       width=4, mode="lines", antialias=True)
        self.joints = gl.GLScatterPlotItem(
            pos=np.zeros((NUM_KEYPOINTS, 3)), size=10,
            color=np.concatenate([KEYPOINT_COLORS, np.ones((NUM_KEYPOINTS, 1))], 1), pxMode=True)
        self.ring = gl.GLLinePlotItem(pos=_RING.copy(), color=(1, 1, 1, 1), width=3, mode="line_strip",
                                      antialias=True)
        self.label = gl.GLTextItem(text="", font=QtGui.QFont("Helvetica", 14, QtGui.QFont.Bold))
        self.items = (self.bones, self.joints, self.ring, self.label)
        for item in self.items:
            view.addItem(item)
        self.color: tuple | None = None
        self.text = ""
        self.set_visible(False)

    def set_visible(self, visible: bool) -> None:
        for item in self.items:
            item.setVisible(visible)

    @property
    def visible(self) -> bool:
        return self.joints.visible()

    def set_points(self, p: np.ndarray, color, text: str) -> None:
        """``p``: 21 x 3 scene coordinates; ``color``: RGB 0..255; ``text``: the label (may be empty)."""
        self.bones.setData(pos=p[np.asarray(BONES).reshape(-1)])
        self.joints.setData(pos=p)
        rgba = tuple(c / 255.0 for c in color) + (1.0,)
        self.ring.setData(pos=_RING + p[ROOT], color=rgba)
        self.label.setData(pos=p[ROOT] + [RING_RADIUS, 0.0, -RING_RADIUS], text=text,
                           color=QtGui.QColor(*(int(c) for c in color)))
        self.color, self.text = tuple(color), text
        self.set_visible(True)
        self.label.setVisible(bool(text))


class _GLHand3DView(gl.GLViewWidget if gl is not None else QtWidgets.QWidget):
    """The normalised 3D hands in one scene (``place_hands``): per hand its bones as coloured lines,
    joints as points, a ring around its root and its "L"/"R" in the hand's colour; a grid behind them.

    "Reset view" puts the virtual camera where the real one is: looking along the camera's +z with
    image-up as up, so the 3D hands overlay the 2D ones.
    """

    DISTANCE = 22.0

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumSize(200, 200)
        self.setBackgroundColor(pg.mkColor(24, 24, 28))
        grid = gl.GLGridItem()
        grid.setSize(16, 16)
        grid.setSpacing(1, 1)
        grid.rotate(90, 1, 0, 0)  # the x-z plane of the scene = a wall facing the camera
        grid.translate(0, 6, 0)
        grid.setColor((120, 120, 130, 160))
        self.addItem(grid)
        self._floor = gl.GLGridItem()
        self._floor.setSize(16, 16)
        self._floor.setSpacing(2, 2)
        self._floor.translate(0, 0, -8)
        self._floor.setColor((80, 80, 90, 120))
        self.addItem(self._floor)
        self.addItem(gl.GLAxisItem(size=pg.Vector(1.5, 1.5, 1.5)))
        self.hands: list[_GLHand] = []
        #: the scene coordinates of each hand shown (camera axes, view units), for inspection
        self.positions: list[np.ndarray] = []
        self.updates = 0
        self.reset_view()

    def reset_view(self) -> None:
        self.setCameraPosition(pos=pg.Vector(0, 0, 0), distance=self.DISTANCE, elevation=0,
                               azimuth=-90)

    @property
    def hands_shown(self) -> int:
        return sum(h.visible for h in self.hands)

    def set_hands(self, hands: Sequence[HandPose]) -> None:
        """Every hand with finite 3D keypoints, placed by ``place_hands``."""
        hands = [h for h in hands if np.all(np.isfinite(h.keypoints_3d))]
        self._show([(p, hand_color(h.id), side_label(h)) for h, p in zip(hands, place_hands(hands))])

    def set_keypoints(self, xyz: np.ndarray | None) -> None:
        """One hand's normalised 3D keypoints (or None: none), in the first hand's colour, unlabelled."""
        ok = xyz is not None and np.all(np.isfinite(xyz))
        self._show([(np.asarray(xyz, dtype=np.float64), HAND_COLORS[0], "")] if ok else [])

    def _show(self, placed: list) -> None:
        while len(self.hands) < len(placed):
            self.hands.append(_GLHand(self))
        for item, (xyz, color, text) in zip(self.hands, placed):
            item.set_points(camera_to_view(xyz), color, text)
        for item in self.hands[len(placed):]:
            item.set_visible(False)
        self.positions = [xyz for xyz, _, _ in placed]
        if placed:
            self.updates += 1


#: The 3D view the window uses (a note in its place when PyOpenGL is missing).
Hand3DView = _GLHand3DView if gl is not None else _NoGLView


class ConfidenceView(pg.PlotWidget):
    """Bars per keypoint: the peak of its scoremap. One hand: its bars coloured like its bones; several
    hands: grouped bars per keypoint, each hand's in its colour, with a key ("L ■ R ■") in the corner."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumHeight(110)
        self.setMouseEnabled(False, False)
        self.hideButtons()
        self.setYRange(0, 1.05, padding=0)
        self.setXRange(-0.7, NUM_KEYPOINTS - 0.3, padding=0)
        self.setLabel("left", "score")
        # one label per finger under its four bars (tip ... base), the root on its own
        ticks = [(ROOT, "root")] + [(float(np.mean(FINGER_INDICES[f])), f) for f in FINGERS]
        self.getAxis("bottom").setTicks([ticks, []])
        self._keypoint_brushes = [pg.mkBrush(*(np.round(c * 255).astype(int)), 230) for c in KEYPOINT_COLORS]
        self._bars: list[pg.BarGraphItem] = []
        self.key_label = pg.TextItem("", anchor=(1, 0))
        self.key_label.setZValue(10)
        self.addItem(self.key_label)
        self.setToolTip("peak of each keypoint's score map, in RHD order: root, then per finger "
                        "tip to base: " + ", ".join(KEYPOINT_NAMES) + "; with several hands one bar per "
                        "hand in its colour")
        #: the first hand's scores (zeros without a hand) and every hand's
        self.values = np.zeros(NUM_KEYPOINTS)
        self.values_per_hand: list[np.ndarray] = []
        self._show([], [], [])

    def set_scores(self, scores: np.ndarray | None) -> None:
        """One hand's scores (or None: none), coloured like its bones."""
        self._show([] if scores is None else [scores], [None], [""])

    def set_hands(self, hands: Sequence[HandPose]) -> None:
        hands = list(hands)
        self._show([h.keypoint_scores for h in hands], [hand_color(h.id) for h in hands],
                   [side_label(h) for h in hands])

    def _bar(self, i: int) -> pg.BarGraphItem:
        while len(self._bars) <= i:
            bar = pg.BarGraphItem(x=np.arange(NUM_KEYPOINTS), height=np.zeros(NUM_KEYPOINTS), width=0.8,
                                  brushes=self._keypoint_brushes, pens=[pg.mkPen(None)] * NUM_KEYPOINTS)
            self.addItem(bar)
            self._bars.append(bar)
        return self._bars[i]

    def _show(self, scores: list, colors: list, labels: list) -> None:
        values = [np.clip(np.asarray(s, dtype=float).reshape(-1), 0, None) for s in scores]
        n = len(values)
        width = 0.8 / max(n, 1)
        for i, v in enumerate(values):
            brushes = self._keypoint_brushes if n == 1 else [pg.mkBrush(*colors[i], 230)] * NUM_KEYPOINTS
            self._bar(i).setOpts(x=np.arange(NUM_KEYPOINTS) + (i - (n - 1) / 2) * width, height=v, width=width,
                                 brushes=brushes)
            self._bar(i).setVisible(True)
        for bar in self._bars[n:]:
            bar.setVisible(False)
        if n == 0:
            self._bar(0).setOpts(height=np.zeros(NUM_KEYPOINTS))
        self.values_per_hand = values
        self.values = values[0] if values else np.zeros(NUM_KEYPOINTS)
        top = max([1.05] + [float(v.max()) * 1.05 for v in values if v.size])
        self.setYRange(0, top, padding=0)
        key = " ".join(f'<span style="color: rgb{tuple(int(c) for c in color)}">■ {label}</span>'
                       for color, label in zip(colors, labels) if color is not None and label)
        self.key_label.setHtml(key if n > 1 else "")
        self.key_label.setPos(NUM_KEYPOINTS - 0.3, top)
