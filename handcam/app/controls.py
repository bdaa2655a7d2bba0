"""The window's control rows. The pipeline sliders are built from the settings' own metadata (range
and help text in ``handcam.settings``), so the sliders, ``main.py``'s flags and the settings agree.

``PlaybackRow``: pause, step, seek, position, real-time playback.
``ControlRow``:  crop factor, mask threshold, presence threshold, mask opacity (one line); hand side,
                 max hands, hand size, mirror, tracking, smoothing, reset 3D view, record (another). It
                 only holds widgets; the window connects them.
``HandSizeControl``: the ``hand_size`` setting: auto, bone, or the user's hand length in cm.
"""
from __future__ import annotations

from PyQt5 import QtCore, QtWidgets

from ..handsize import MEAN_HAND_LENGTH
from ..settings import PipelineSettings, setting_fields, setting_help, setting_range


def _no_focus(*widgets) -> None:
    for w in widgets:  # keys go to the window's shortcuts
        w.setFocusPolicy(QtCore.Qt.NoFocus)


class LabeledSlider(QtWidgets.QWidget):
    """A horizontal slider over a float range with its value shown next to it."""

    valueChanged = QtCore.pyqtSignal(float)

    def __init__(self, label: str, lo: float, hi: float, value: float, steps: int = 100,
                 fmt: str = "{:.2f}", parent=None):
        super().__init__(parent)
        self.lo, self.hi, self.steps, self.fmt = lo, hi, steps, fmt
        lay = QtWidgets.QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.name = QtWidgets.QLabel(label)
        self.name.setMinimumWidth(95)
        self.slider = QtWidgets.QSlider(QtCore.Qt.Horizontal)
        self.slider.setRange(0, steps)
        _no_focus(self.slider)
        self.value_label = QtWidgets.QLabel()
        self.value_label.setMinimumWidth(36)
        lay.addWidget(self.name)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.value_label)
        self.slider.valueChanged.connect(self._changed)
        self.set_value(value)
        self._update_label()

    def value(self) -> float:
        return round(self.lo + (self.hi - self.lo) * self.slider.value() / self.steps, 4)

    def set_value(self, value: float) -> None:
        value = min(max(float(value), self.lo), self.hi)
        self.slider.setValue(int(round((value - self.lo) / (self.hi - self.lo) * self.steps)))

    def set_tooltip(self, text: str) -> None:
        for w in (self.name, self.slider, self.value_label):
            w.setToolTip(text)

    def _update_label(self):
        self.value_label.setText(self.fmt.format(self.value()))

    def _changed(self, _):
        self._update_label()
        self.valueChanged.emit(self.value())


def setting_slider(name: str, value: float, step: float = 0.01) -> LabeledSlider:
    """A slider over a numeric setting's range (``setting_range``), its help as the tooltip."""
    lo, hi = setting_range(name)
    s = LabeledSlider(name.replace("_", " "), lo, hi, value, steps=max(1, int(round((hi - lo) / step))))
    s.set_tooltip(setting_help(name))
    return s


class HandSizeControl(QtWidgets.QWidget):
    """The ``hand_size`` setting: a choice of "auto", "bone" or "my hand", and the hand's length in cm (used
    with "my hand"). ``valueChanged`` carries the setting's value: "auto", "bone" or metres."""

    valueChanged = QtCore.pyqtSignal(object)
    #: (item text, hand_size mode); "my hand" stands for the spin box's length
    MODES = (("auto", "auto"), ("bone", "bone"), ("my hand", None))

    def __init__(self, value, parent=None):
        super().__init__(parent)
        lay = QtWidgets.QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.label = QtWidgets.QLabel("hand size")
        self.combo = QtWidgets.QComboBox()
        self.combo.addItems([text for text, _ in self.MODES])
        lo, hi = setting_range("hand_size")
        self.spin = QtWidgets.QDoubleSpinBox()
        self.spin.setRange(100 * lo, 100 * hi)
        self.spin.setDecimals(1)
        self.spin.setSingleStep(0.5)
        self.spin.setSuffix(" cm")
        for w in (self.label, self.combo, self.spin):
            w.setToolTip(setting_help("hand_size"))
        _no_focus(self.combo, self.spin)
        lay.addWidget(self.label)
        lay.addWidget(self.combo)
        lay.addWidget(self.spin)
        self.set_value(value)
        self.combo.currentIndexChanged.connect(self._changed)
        self.spin.valueChanged.connect(self._changed)

    def value(self):
        """The setting's value the widgets show."""
        mode = self.MODES[self.combo.currentIndex()][1]
        return mode if mode is not None else round(self.spin.value() / 100.0, 4)

    def set_value(self, value) -> None:
        """Show ``value`` ("auto", "bone" or metres) without emitting ``valueChanged``."""
        modes = [mode for _, mode in self.MODES]
        index = modes.index(value) if value in modes else modes.index(None)
        length = value if index == modes.index(None) else MEAN_HAND_LENGTH
        for w in (self.combo, self.spin):
            w.blockSignals(True)
        self.combo.setCurrentIndex(index)
        self.spin.setValue(100.0 * float(length))
        self.spin.setEnabled(modes[index] is None)
        for w in (self.combo, self.spin):
            w.blockSignals(False)

    def _changed(self, _):
        self.spin.setEnabled(self.MODES[self.combo.currentIndex()][1] is None)
        self.valueChanged.emit(self.value())


class PlaybackRow(QtWidgets.QWidget):
    def __init__(self, realtime: bool, parent=None):
        super().__init__(parent)
        lay = QtWidgets.QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.pause_button = QtWidgets.QPushButton("Pause")
        self.step_button = QtWidgets.QPushButton("Step ▸")
        self.seek_slider = QtWidgets.QSlider(QtCore.Qt.Horizontal)
        self.seek_slider.setEnabled(False)
        self.position_label = QtWidgets.QLabel("—")
        self.position_label.setMinimumWidth(110)
        self.realtime_box = QtWidgets.QCheckBox("video's own frame rate")
        self.realtime_box.setToolTip("unchecked: process a video as fast as possible, every frame")
        self.realtime_box.setChecked(realtime)
        _no_focus(self.pause_button, self.step_button, self.seek_slider, self.realtime_box)
        lay.addWidget(self.pause_button)
        lay.addWidget(self.step_button)
        lay.addWidget(self.seek_slider, 1)
        lay.addWidget(self.position_label)
        lay.addWidget(self.realtime_box)

    def set_source(self, frame_count: int | None, live: bool) -> None:
        """Ranges and enabled states for a newly opened source."""
        seekable = not live and frame_count is not None and frame_count > 1
        self.seek_slider.blockSignals(True)
        self.seek_slider.setRange(0, max(0, (frame_count or 1) - 1))
        self.seek_slider.setValue(0)
        self.seek_slider.blockSignals(False)
        self.seek_slider.setEnabled(seekable)
        self.step_button.setEnabled(not live)
        self.pause_button.setText("Pause")

    def set_position(self, index: int, frame_count: int | None) -> None:
        if frame_count:
            self.seek_slider.blockSignals(True)
            self.seek_slider.setValue(index)
            self.seek_slider.blockSignals(False)
            self.position_label.setText(f"frame {index + 1}/{frame_count}")
        else:
            self.position_label.setText(f"frame {index + 1}")


class ControlRow(QtWidgets.QWidget):
    def __init__(self, settings: PipelineSettings, tracking: bool, mirror: bool, mask_opacity: float,
                 smoothing: bool = True, parent=None):
        super().__init__(parent)
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(2)
        sliders, options = QtWidgets.QHBoxLayout(), QtWidgets.QHBoxLayout()
        outer.addLayout(sliders)
        outer.addLayout(options)
        self.crop_slider = setting_slider("crop_factor", settings.crop_factor)
        self.threshold_slider = setting_slider("mask_threshold", settings.mask_threshold)
        self.presence_slider = setting_slider("presence_threshold", settings.presence_threshold)
        self.opacity_slider = LabeledSlider("mask opacity", 0.0, 1.0, mask_opacity)
        self.opacity_slider.set_tooltip("how strongly the hand masks are tinted in (display only)")
        self.hand_combo = QtWidgets.QComboBox()
        self.hand_combo.addItems(list(setting_fields()["hand_side"].metadata["choices"]))
        self.hand_combo.setCurrentText(settings.hand_side)
        self.hand_combo.setToolTip(setting_help("hand_side"))
        lo, hi = setting_range("max_hands")
        self.max_hands_spin = QtWidgets.QSpinBox()
        self.max_hands_spin.setRange(int(lo), int(hi))
        self.max_hands_spin.setValue(int(settings.max_hands))
        self.max_hands_spin.setToolTip(setting_help("max_hands"))
        self.hand_size = HandSizeControl(settings.hand_size)
        self.mirror_box = QtWidgets.QCheckBox("mirror")
        self.mirror_box.setToolTip("flip frames left-right before estimating (selfie cameras); the L/R shown "
                                   "is then the person's hand")
        self.mirror_box.setChecked(mirror)
        self.tracking_box = QtWidgets.QCheckBox("tracking")
        self.tracking_box.setToolTip("crop around the previous frame's confident keypoints and skip "
                                     "HandSegNet (faster; the mask is not shown on tracked frames)")
        self.tracking_box.setChecked(tracking)
        self.smooth_box = QtWidgets.QCheckBox("smooth")
        self.smooth_box.setToolTip("smooth each hand's keypoints over time (One Euro filter: less jitter, "
                                   "little lag); starts afresh on a seek, a new source or a lost hand")
        self.smooth_box.setChecked(smoothing)
        self.record_button = QtWidgets.QPushButton("● Record")
        self.record_button.setCheckable(True)
        self.reset_view_button = QtWidgets.QPushButton("Reset 3D view")
        _no_focus(self.hand_combo, self.max_hands_spin, self.mirror_box, self.tracking_box, self.smooth_box,
                  self.record_button, self.reset_view_button)
        for slider in (self.crop_slider, self.threshold_slider, self.presence_slider, self.opacity_slider):
            sliders.addWidget(slider, 1)
        options.addWidget(QtWidgets.QLabel("hand"))
        options.addWidget(self.hand_combo)
        options.addWidget(QtWidgets.QLabel("max hands"))
        options.addWidget(self.max_hands_spin)
        options.addWidget(self.hand_size)
        options.addWidget(self.mirror_box)
        options.addWidget(self.tracking_box)
        options.addWidget(self.smooth_box)
        options.addStretch(1)
        options.addWidget(self.reset_view_button)
        options.addWidget(self.record_button)

    def set_recording(self, on: bool) -> None:
        """Show the recording state without emitting ``toggled``."""
        self.record_button.blockSignals(True)
        self.record_button.setChecked(on)
        self.record_button.blockSignals(False)
        self.record_button.setText("■ Stop" if on else "● Record")
