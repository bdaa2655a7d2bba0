"""The app's views of numbers: the rotatable 3D hand and per-keypoint confidences (the frame and crop
views, images with layers over them, are in ``handcam.app.overlay``).

Views only display what they are given; every number they show was computed by the worker.
"""
from __future__ import annotations

import numpy as np

from ..compat import preload_triton

preload_triton()  # before Qt / PyOpenGL / Mesa are loaded: see handcam.compat

import pyqtgraph as pg  # noqa: E402
from PyQt5 import QtCore, QtWidgets  # noqa: E402

try:  # the 3D view needs PyOpenGL; without it the window still works, with a note instead
    import pyqtgraph.opengl as gl
except ImportError as _gl_error:  # pragma: no cover
    gl = None
    GL_IMPORT_ERROR = f"3D view unavailable: {_gl_error} (pip install PyOpenGL)"
else:
    GL_IMPORT_ERROR = None

from ..skeleton import BONE_COLORS, BONES, FINGER_INDICES, FINGERS, KEYPOINT_COLORS, KEYPOINT_NAMES, NUM_KEYPOINTS, ROOT  # noqa: E402


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

    def reset_view(self) -> None:
        pass

    def set_keypoints(self, xyz) -> None:
        pass


class _GLHand3DView(gl.GLViewWidget if gl is not None else QtWidgets.QWidget):
    """The normalised 3D hand: bones as coloured lines, joints as points, a grid behind the hand.

    "Reset view" puts the virtual camera where the real one is: looking along the camera's +z with
    image-up as up, so the 3D hand overlays the 2D one.
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
        seg_colors = np.repeat(np.concatenate([BONE_COLORS, np.ones((len(BONES), 1))], 1), 2, axis=0)
        self._bones = gl.GLLinePlotItem(pos=np.zeros((2 * len(BONES), 3)), color=seg_colors,
                                        width=4, mode="lines", antialias=True)
        self._joints = gl.GLScatterPlotItem(
            pos=np.zeros((NUM_KEYPOINTS, 3)), size=10,
            color=np.concatenate([KEYPOINT_COLORS, np.ones((NUM_KEYPOINTS, 1))], 1), pxMode=True)
        self._bones.setVisible(False)
        self._joints.setVisible(False)
        self.addItem(self._bones)
        self.addItem(self._joints)
        self.updates = 0
        self.reset_view()

    def reset_view(self) -> None:
        self.setCameraPosition(pos=pg.Vector(0, 0, 0), distance=self.DISTANCE, elevation=0,
                               azimuth=-90)

    def set_keypoints(self, xyz: np.ndarray | None) -> None:
        if xyz is None or not np.all(np.isfinite(xyz)):
            self._bones.setVisible(False)
            self._joints.setVisible(False)
            return
        p = camera_to_view(xyz)
        seg = p[np.asarray(BONES).reshape(-1)]
        self._bones.setData(pos=seg)
        self._joints.setData(pos=p)
        self._bones.setVisible(True)
        self._joints.setVisible(True)
        self.updates += 1


#: The 3D view the window uses (a note in its place when PyOpenGL is missing).
Hand3DView = _GLHand3DView if gl is not None else _NoGLView


class ConfidenceView(pg.PlotWidget):
    """One bar per keypoint: the peak of its scoremap, coloured like its bone."""

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
        brushes = [pg.mkBrush(*(np.round(c * 255).astype(int)), 230) for c in KEYPOINT_COLORS]
        self._bars = pg.BarGraphItem(x=np.arange(NUM_KEYPOINTS), height=np.zeros(NUM_KEYPOINTS),
                                     width=0.8, brushes=brushes, pens=[pg.mkPen(None)] * NUM_KEYPOINTS)
        self.addItem(self._bars)
        self.setToolTip("peak of each keypoint's score map, in RHD order: root, then per finger "
                        "tip to base: " + ", ".join(KEYPOINT_NAMES))
        self.values = np.zeros(NUM_KEYPOINTS)

    def set_scores(self, scores: np.ndarray | None) -> None:
        self.values = np.zeros(NUM_KEYPOINTS) if scores is None else \
            np.clip(np.asarray(scores, dtype=float).reshape(-1), 0, None)
        self._bars.setOpts(height=self.values)
        top = max(1.05, float(self.values.max()) * 1.05 if self.values.size else 1.05)
        self.setYRange(0, top, padding=0)
