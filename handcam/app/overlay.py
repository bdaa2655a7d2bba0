"""The frame and crop views: images with the hands drawn over them as pyqtgraph layers.

One ``ViewBox`` (aspect locked, y down, mouse off) holds an ``ImageItem`` for the image and, as its
children clipped to it: on the frame view a second ``ImageItem`` for the mask tint (one label image,
each hand's pixels labelled with its colour's entry of a lookup table of ``handcam.draw.HAND_COLORS``;
its opacity is the item's ``setOpacity``, so a new opacity costs no re-render of the frame), and per
hand one line per bone in its colour, a scatter of the joints, the crop box in the hand's colour
(``hand_color(id)``) and an "L"/"R" label (``side_label``: the person's hand, as the worker's run
reported it). The crop view shows one thumbnail per hand, side by side, each framed in its hand's
colour. Items are only given coordinates the worker computed; a pixel (x, y) of the image covers
[x, x + 1) x [y, y + 1) in the view, so points sit at x + 0.5.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..compat import preload_triton

preload_triton()  # before Qt / PyOpenGL / Mesa are loaded: see handcam.compat

import pyqtgraph as pg  # noqa: E402
from PyQt5 import QtCore, QtGui, QtWidgets  # noqa: E402

from ..draw import HAND_COLORS, hand_color, side_label  # noqa: E402
from ..results import FrameResult, HandPose  # noqa: E402
from ..skeleton import BONES, KEYPOINT_COLORS, bone_colors_uint8  # noqa: E402

#: Bone / box line width and joint diameter, in screen pixels.
LINE_WIDTH = 2.0
JOINT_SIZE = 7.0
#: Width of the frame around a crop thumbnail, in screen pixels.
FRAME_WIDTH = 3.0
_BOX_INDEX = [0, 2, 2, 0, 0], [1, 1, 3, 3, 1]  # x0 y0 -> x1 y0 -> x1 y1 -> x0 y1 -> x0 y0
#: The mask layer's lookup table: label 0 is clear, label 1 + k is ``HAND_COLORS[k]``.
MASK_LUT = np.array([[0, 0, 0, 0]] + [[*c, 255] for c in HAND_COLORS], np.uint8)


def mask_label(hand: HandPose) -> int:
    """The mask layer's label of a hand's pixels (its colour's entry in ``MASK_LUT``)."""
    return 1 + int(hand.id) % len(HAND_COLORS)


def _label_item(parent: pg.GraphicsObject, z: float) -> pg.TextItem:
    item = pg.TextItem("", color=(0, 0, 0), anchor=(0, 0))
    font = QtGui.QFont()
    font.setBold(True)
    item.setFont(font)
    item.setZValue(z)
    item.setParentItem(parent)
    return item


def _set_label(item: pg.TextItem, text: str, color) -> None:
    item.fill = pg.mkBrush(*color)
    item.setText(text, color=(0, 0, 0))
    item.update()


class HandLayer:
    """One hand's skeleton (and crop box and side label) as plot items over an image (children of its
    ImageItem)."""

    def __init__(self, image: pg.ImageItem, with_box: bool, z: float = 10.0):
        self.bones = [pg.PlotCurveItem(pen=pg.mkPen(tuple(int(v) for v in c), width=LINE_WIDTH),
                                       antialias=True) for c in bone_colors_uint8()]
        brushes = [pg.mkBrush(*(int(v) for v in np.round(c * 255))) for c in KEYPOINT_COLORS]
        self.joints = pg.ScatterPlotItem(size=JOINT_SIZE, pen=None, pxMode=True)
        self._brushes = brushes
        self.box = pg.PlotCurveItem(pen=pg.mkPen(HAND_COLORS[0], width=LINE_WIDTH)) if with_box else None
        self.label = _label_item(image, z + 1) if with_box else None
        self.color: tuple | None = None
        self.items = [*self.bones, self.joints] + ([self.box] if self.box is not None else [])
        for item in self.items:
            item.setZValue(z)
            item.setParentItem(image)
        if self.label is not None:
            self.items.append(self.label)
        self.set_visible(False)

    def set_visible(self, visible: bool) -> None:
        for item in self.items:
            item.setVisible(visible)

    @property
    def visible(self) -> bool:
        return self.joints.isVisible()

    def set_hand(self, keypoints_xy: np.ndarray, box_xyxy: np.ndarray | None = None, color=None,
                 label: str | None = None, label_xy=None) -> None:
        """Show a hand: its keypoints (x, y image pixels), and on a layer with a box its crop box in
        ``color`` and ``label`` with its top-left corner at ``label_xy`` (image pixels)."""
        p = np.asarray(keypoints_xy, dtype=np.float64) + 0.5
        if not np.all(np.isfinite(p)):
            self.set_visible(False)
            return
        for (a, b), item in zip(BONES, self.bones):
            item.setData(p[[a, b], 0], p[[a, b], 1])
        self.joints.setData(pos=p, brush=self._brushes)
        color = tuple(color) if color is not None else HAND_COLORS[0]
        if self.box is not None:
            if color != self.color:
                self.box.setPen(pg.mkPen(color, width=LINE_WIDTH))
            if box_xyxy is not None:
                b = np.asarray(box_xyxy, dtype=np.float64).reshape(4) + 0.5
                self.box.setData(b[_BOX_INDEX[0]], b[_BOX_INDEX[1]])
        self.color = color
        self.set_visible(True)
        if self.label is not None:
            if label and label_xy is not None:
                _set_label(self.label, label, color)
                self.label.setPos(float(label_xy[0]), float(label_xy[1]))
            else:
                self.label.setVisible(False)


class _ImageStack(QtWidgets.QStackedWidget):
    """A text for when there is nothing to show, and a GraphicsLayoutWidget for images."""

    def __init__(self, placeholder: str = "", min_size=(160, 120), parent=None):
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
        self.addWidget(self.label)
        self.addWidget(self.graphics)
        self.updates = 0

    def show_text(self, text: str) -> None:
        self.label.setText(text)
        self.setCurrentWidget(self.label)

    @property
    def showing_image(self) -> bool:
        return self.currentWidget() is self.graphics


def _image_view(graphics_layout=None) -> tuple[pg.ViewBox, pg.ImageItem]:
    view = pg.ViewBox(lockAspect=True, invertY=True, enableMouse=False)
    view.setMenuEnabled(False)
    image = pg.ImageItem(axisOrder="row-major")
    # layers are children of the image, in its pixel coordinates, clipped to it like OpenCV drawing
    image.setFlag(QtWidgets.QGraphicsItem.ItemClipsChildrenToShape)
    view.addItem(image)
    if graphics_layout is not None:
        graphics_layout.addItem(view)
    return view, image


class FrameView(_ImageStack):
    """The frame the estimator saw, with every hand's mask tint, crop box, side label and skeleton.

    ``image_layer``: the ImageItem of the frame; ``mask_layer``: the label image of the hands' masks;
    ``hand_layers``: one HandLayer per hand shown so far (the first ``hands_shown`` are visible);
    ``updates``: how often the frame was set.
    """

    def __init__(self, placeholder: str = "", min_size=(320, 240), mask_opacity: float = 0.4, parent=None):
        super().__init__(placeholder, min_size, parent=parent)
        self.view, self.image_layer = _image_view(self.graphics.ci)
        self.hand_layers: list[HandLayer] = []
        self._shape: tuple | None = None
        self.mask_layer = pg.ImageItem(axisOrder="row-major")
        self.mask_layer.setLookupTable(MASK_LUT)
        self.mask_layer.setZValue(5)
        self.mask_layer.setParentItem(self.image_layer)
        self.set_mask_opacity(mask_opacity)

    def set_mask_opacity(self, opacity: float) -> None:
        """Display only: the mask layer's opacity (the frame is not drawn again)."""
        self.mask_opacity = float(np.clip(opacity, 0.0, 1.0))
        self.mask_layer.setOpacity(self.mask_opacity)

    @property
    def hands_shown(self) -> int:
        return sum(layer.visible for layer in self.hand_layers)

    def set_frame(self, image_rgb: np.ndarray, result: FrameResult | None) -> None:
        self.image_layer.setImage(image_rgb, autoLevels=False)
        h, w = image_rgb.shape[:2]
        if (h, w) != self._shape:
            self._shape = (h, w)
            self.view.setRange(xRange=(0, w), yRange=(0, h), padding=0)
        self.updates += 1
        self.setCurrentWidget(self.graphics)
        hands = result.hands if result is not None else ()
        self._set_masks(hands, w, h)
        while len(self.hand_layers) < len(hands):
            self.hand_layers.append(HandLayer(self.image_layer, with_box=True))
        for layer, hand in zip(self.hand_layers, hands):
            x0, y0 = (float(v) for v in np.asarray(hand.box).reshape(4)[:2])
            corner = (min(max(x0, 0.0), w - 1.0), min(max(y0, 0.0), h - 1.0))  # kept inside the frame
            layer.set_hand(hand.keypoints_2d, hand.box, hand_color(hand.id), side_label(hand), corner)
        for layer in self.hand_layers[len(hands):]:
            layer.set_visible(False)

    def _set_masks(self, hands: Sequence[HandPose], w: int, h: int) -> None:
        masked = [hand for hand in hands if hand.mask is not None]
        if not masked:
            self.mask_layer.setVisible(False)
            return
        shape = masked[0].mask.shape
        labels = np.zeros(shape, np.uint8)
        for hand in masked:  # a later hand's pixels win where masks overlap
            if hand.mask.shape == shape:
                labels[hand.mask] = mask_label(hand)
        self.mask_layer.setImage(labels, autoLevels=False, levels=(0, len(MASK_LUT)))
        self.mask_layer.setRect(QtCore.QRectF(0, 0, w, h))  # a mask of another size is stretched
        self.mask_layer.setVisible(True)


class CropThumb:
    """One hand's crop in its own ViewBox: the image, its keypoints, a frame in the hand's colour
    (around the image, so it is not clipped) and the hand's side label."""

    PADDING = 0.05

    def __init__(self):
        self.view, self.image = _image_view()
        self.layer = HandLayer(self.image, with_box=False)
        self.frame = pg.PlotCurveItem(pen=pg.mkPen(HAND_COLORS[0], width=FRAME_WIDTH))
        self.frame.setZValue(20)
        self.view.addItem(self.frame)
        self.label = _label_item(self.image, 21)
        self.color: tuple | None = None
        self._shape: tuple | None = None

    def set_hand(self, hand: HandPose) -> None:
        self.image.setImage(hand.crop, autoLevels=False)
        h, w = hand.crop.shape[:2]
        if (h, w) != self._shape:
            self._shape = (h, w)
            self.view.setRange(xRange=(0, w), yRange=(0, h), padding=self.PADDING)
            self.frame.setData(np.array([0, w, w, 0, 0], float), np.array([0, 0, h, h, 0], float))
        color = hand_color(hand.id)
        if color != self.color:
            self.color = color
            self.frame.setPen(pg.mkPen(color, width=FRAME_WIDTH))
        _set_label(self.label, side_label(hand), color)
        self.label.setPos(0.0, 0.0)
        self.layer.set_hand(hand.keypoints_crop)


class CropView(_ImageStack):
    """What PoseNet saw: one thumbnail per hand (side by side, in the order given), each with the
    keypoints found in it and framed in its hand's colour.

    ``thumbs``: the CropThumbs made so far (the first ``hands_shown`` are in the layout); ``updates``:
    how often the thumbnails were set.
    """

    def __init__(self, placeholder: str = "", min_size=(200, 200), parent=None):
        super().__init__(placeholder, min_size, parent=parent)
        self.thumbs: list[CropThumb] = []
        self.hands_shown = 0

    def set_hands(self, hands: Sequence[HandPose]) -> None:
        hands = [hand for hand in hands if hand.crop is not None]
        if not hands:
            self.show_text("no hand")
            self._arrange(0)
            return
        while len(self.thumbs) < len(hands):
            self.thumbs.append(CropThumb())
        self._arrange(len(hands))
        for thumb, hand in zip(self.thumbs, hands):
            thumb.set_hand(hand)
        self.updates += 1
        self.setCurrentWidget(self.graphics)

    def set_hand(self, hand: HandPose | None) -> None:
        """One hand (or None: none)."""
        self.set_hands(() if hand is None else (hand,))

    def _arrange(self, n: int) -> None:
        if n == self.hands_shown:
            return
        layout = self.graphics.ci
        layout.clear()
        for col, thumb in enumerate(self.thumbs[:n]):
            layout.addItem(thumb.view, row=0, col=col)
        self.hands_shown = n
