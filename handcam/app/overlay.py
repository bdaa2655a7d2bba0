"""The frame and crop views: an image with the hands drawn over it as pyqtgraph layers.

One ``ViewBox`` (aspect locked, y down, mouse off) holds an ``ImageItem`` for the image and, as its
children clipped to it: on the frame view a second ``ImageItem`` for the mask tint (its opacity is
the item's ``setOpacity``, so a new opacity costs no re-render of the frame), and per hand one line
per bone in its colour, a scatter of the joints and the crop box. Items are only given coordinates
the worker computed; a pixel (x, y) of the image covers [x, x + 1) x [y, y + 1) in the view, so
points sit at x + 0.5.
"""
from __future__ import annotations

import numpy as np

from ..compat import preload_triton

preload_triton()  # before Qt / PyOpenGL / Mesa are loaded: see handcam.compat

import pyqtgraph as pg  # noqa: E402
from PyQt5 import QtCore, QtWidgets  # noqa: E402

from ..draw import BOX_COLOR, MASK_COLOR  # noqa: E402
from ..results import FrameResult, HandPose  # noqa: E402
from ..skeleton import BONES, KEYPOINT_COLORS, bone_colors_uint8  # noqa: E402

#: Bone / box line width and joint diameter, in screen pixels.
LINE_WIDTH = 2.0
JOINT_SIZE = 7.0
_BOX_INDEX = [0, 2, 2, 0, 0], [1, 1, 3, 3, 1]  # x0 y0 -> x1 y0 -> x1 y1 -> x0 y1 -> x0 y0


class HandLayer:
    """One hand's skeleton (and crop box) as plot items over an image (children of its ImageItem)."""

    def __init__(self, image: pg.ImageItem, with_box: bool, z: float = 10.0):
        self.bones = [pg.PlotCurveItem(pen=pg.mkPen(tuple(int(v) for v in c), width=LINE_WIDTH),
                                       antialias=True) for c in bone_colors_uint8()]
        brushes = [pg.mkBrush(*(int(v) for v in np.round(c * 255))) for c in KEYPOINT_COLORS]
        self.joints = pg.ScatterPlotItem(size=JOINT_SIZE, pen=None, pxMode=True)
        self._brushes = brushes
        self.box = pg.PlotCurveItem(pen=pg.mkPen(BOX_COLOR, width=LINE_WIDTH)) if with_box else None
        self.items = [*self.bones, self.joints] + ([self.box] if self.box is not None else [])
        for item in self.items:
            item.setZValue(z)
            item.setParentItem(image)
        self.set_visible(False)

    def set_visible(self, visible: bool) -> None:
        for item in self.items:
            item.setVisible(visible)

    def set_hand(self, keypoints_xy: np.ndarray, box_xyxy: np.ndarray | None = None) -> None:
        p = np.asarray(keypoints_xy, dtype=np.float64) + 0.5
        if not np.all(np.isfinite(p)):
            self.set_visible(False)
            return
        for (a, b), item in zip(BONES, self.bones):
            item.setData(p[[a, b], 0], p[[a, b], 1])
        self.joints.setData(pos=p, brush=self._brushes)
        if self.box is not None and box_xyxy is not None:
            b = np.asarray(box_xyxy, dtype=np.float64).reshape(4) + 0.5
            self.box.setData(b[_BOX_INDEX[0]], b[_BOX_INDEX[1]])
        self.set_visible(True)


class OverlayView(QtWidgets.QStackedWidget):
    """An image with hand layers over it, or a text when there is nothing to show.

    ``image_layer``: the ImageItem of the image; ``updates``: how often the image was set.
    """

    def __init__(self, placeholder: str = "", min_size=(160, 120), with_box: bool = True, parent=None):
        super().__init__(parent)
        self.setMinimumSize(*min_size)
        self.setSizePolicy(QtWidgets.QSizePolicy.Ignored, QtWidgets.QSizePolicy.Ignored)
        self.label = QtWidgets.QLabel(placeholder)
        self.label.setAlignment(QtCore.Qt.AlignCenter)
        self.label.setWordWrap(True)
        self.label.setStyleSheet("background-color: #202020; color: #c0c0c0;")
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground((32, 32, 32))
        self.graphics.ci.setContentsMargins(0, 0, 0, 0)
        self.view = self.graphics.addViewBox(lockAspect=True, invertY=True, enableMouse=False)
        self.view.setMenuEnabled(False)
        self.image_layer = pg.ImageItem(axisOrder="row-major")
        # layers are children of the image, in its pixel coordinates, clipped to it like OpenCV drawing
        self.image_layer.setFlag(QtWidgets.QGraphicsItem.ItemClipsChildrenToShape)
        self.view.addItem(self.image_layer)
        self.addWidget(self.label)
        self.addWidget(self.graphics)
        self._with_box = with_box
        self.hand_layers: list[HandLayer] = []
        self._shape: tuple | None = None
        self.updates = 0

    def show_text(self, text: str) -> None:
        self.label.setText(text)
        self.setCurrentWidget(self.label)

    @property
    def showing_image(self) -> bool:
        return self.currentWidget() is self.graphics

    def _set_image(self, image_rgb: np.ndarray) -> None:
        self.image_layer.setImage(image_rgb, autoLevels=False)
        if image_rgb.shape[:2] != self._shape:
            self._shape = image_rgb.shape[:2]
            h, w = self._shape
            self.view.setRange(xRange=(0, w), yRange=(0, h), padding=0)
        self.updates += 1
        self.setCurrentWidget(self.graphics)

    def _set_hands(self, hands: list[tuple[np.ndarray, np.ndarray | None]]) -> None:
        while len(self.hand_layers) < len(hands):
            self.hand_layers.append(HandLayer(self.image_layer, self._with_box))
        for layer, (keypoints, box) in zip(self.hand_layers, hands):
            layer.set_hand(keypoints, box)
        for layer in self.hand_layers[len(hands):]:
            layer.set_visible(False)

    @property
    def hands_shown(self) -> int:
        return sum(layer.joints.isVisible() for layer in self.hand_layers)


class FrameView(OverlayView):
    """The frame the estimator saw, with every hand's mask tint, crop box and skeleton."""

    def __init__(self, placeholder: str = "", min_size=(320, 240), mask_opacity: float = 0.4, parent=None):
        super().__init__(placeholder, min_size, with_box=True, parent=parent)
        self.mask_layer = pg.ImageItem(axisOrder="row-major")
        self.mask_layer.setLookupTable(np.array([[0, 0, 0, 0], [*MASK_COLOR, 255]], np.uint8))
        self.mask_layer.setZValue(5)
        self.mask_layer.setParentItem(self.image_layer)
        self.set_mask_opacity(mask_opacity)

    def set_mask_opacity(self, opacity: float) -> None:
        """Display only: the mask layer's opacity (the frame is not drawn again)."""
        self.mask_opacity = float(np.clip(opacity, 0.0, 1.0))
        self.mask_layer.setOpacity(self.mask_opacity)

    def set_frame(self, image_rgb: np.ndarray, result: FrameResult | None) -> None:
        self._set_image(image_rgb)
        hands = result.found_hands if result is not None else ()
        masks = [h.mask for h in hands if h.mask is not None]
        if masks:
            mask = masks[0] if len(masks) == 1 else np.logical_or.reduce(masks)
            self.mask_layer.setImage(mask.view(np.uint8), autoLevels=False, levels=(0, 1))
            h, w = image_rgb.shape[:2]
            self.mask_layer.setRect(QtCore.QRectF(0, 0, w, h))  # a mask of another size is stretched
            self.mask_layer.setVisible(True)
        else:
            self.mask_layer.setVisible(False)
        self._set_hands([(h.keypoints_2d, h.box) for h in hands])


class CropView(OverlayView):
    """The crop PoseNet saw, with the keypoints it found."""

    def __init__(self, placeholder: str = "", min_size=(200, 200), parent=None):
        super().__init__(placeholder, min_size, with_box=False, parent=parent)

    def set_hand(self, hand: HandPose | None) -> None:
        if hand is None or hand.crop is None:
            self.show_text("no hand pose")
            self._set_hands([])
            return
        self._set_image(hand.crop)
        self._set_hands([(hand.keypoints_crop, None)])
