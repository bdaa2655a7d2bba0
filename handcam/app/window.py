"""The main window: wires a source, the capture thread, the inference worker and the views.

Threads: the capture thread reads frames into a one-place slot (newest wins), the inference worker
runs the estimator and emits immutable ``FrameResult``s through a queued signal, and this (GUI)
thread only draws them. Control changes (sliders, hand side, mirror) are new immutable
``PipelineSettings`` handed to the worker; they apply to the next frame (and the current frame is
run again when playback is paused or at the end of a file).
"""
from __future__ import annotations

import collections
import logging
import os
import time
from pathlib import Path

from ..compat import preload_triton

preload_triton()  # before Qt's GUI / OpenGL libraries are loaded: see handcam.compat

from PyQt5 import QtCore, QtGui, QtWidgets  # noqa: E402

from .. import draw  # noqa: E402
from ..errors import HandcamError, SourceError  # noqa: E402
from ..pose import PipelineSettings  # noqa: E402
from ..skeleton import HAND_SIDES  # noqa: E402
from ..sources import CameraSource, StillSource, VideoSource  # noqa: E402
from .capture import CaptureThread, LatestFrameSlot  # noqa: E402
from .recording import Recorder  # noqa: E402
from .views import ConfidenceView, Hand3DView, ImageView  # noqa: E402
from .worker import FrameResult, InferenceWorker  # noqa: E402

log = logging.getLogger(__name__)

ORGANIZATION = "handcam"
APPLICATION = "handcam"
#: An INI file to keep the window's settings in instead of the platform's default place.
SETTINGS_ENV = "HANDCAM_SETTINGS"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}

NO_SOURCE_HINT = ("No camera or video.\n\nPress O (File ▸ Open video…) or drop a video file here.")

CROP_RANGE = (1.0, 2.0)
THRESHOLD_RANGE = (0.05, 0.95)


def open_source(spec):
    """A FrameSource from ("camera", index) / ("video", path) / ("image", path) or a source itself.

    Raises SourceError with a message for the user.
    """
    if spec is None or hasattr(spec, "read"):
        return spec
    kind, value = spec
    if kind == "camera":
        return CameraSource(int(value))
    if kind == "video":
        return VideoSource(value)
    if kind == "image":
        return StillSource.from_path(value)
    raise ValueError(f"unknown source kind {kind!r}")


def make_settings_store(path=None) -> QtCore.QSettings:
    """QSettings in an INI file at ``path`` (or $HANDCAM_SETTINGS), else the platform default."""
    path = path or os.environ.get(SETTINGS_ENV)
    if path:
        return QtCore.QSettings(os.fspath(path), QtCore.QSettings.IniFormat)
    return QtCore.QSettings(QtCore.QSettings.IniFormat, QtCore.QSettings.UserScope,
                            ORGANIZATION, APPLICATION)


def _format_timings(timings: dict) -> str:
    if not timings:
        return "—"
    parts = [f"{k} {v:.0f}" for k, v in timings.items() if k not in ("total",)]
    return " · ".join(parts) + " ms"


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
        self.slider.setFocusPolicy(QtCore.Qt.NoFocus)
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

    def _update_label(self):
        self.value_label.setText(self.fmt.format(self.value()))

    def _changed(self, _):
        self._update_label()
        self.valueChanged.emit(self.value())


class MainWindow(QtWidgets.QMainWindow):
    """The handcam window.

    estimator_factory: a callable returning an estimator (``est(frame, hand_side=, settings=)`` ->
                       HandPose); it runs in the worker thread. It may raise HandcamError (e.g.
                       missing weights): the window then shows frames and the message.
    source:            a FrameSource, or ("camera", n) / ("video", path) / ("image", path), or None.
    settings_path:     INI file for persistent window settings (default: $HANDCAM_SETTINGS or the
                       platform's place for organisation/application "handcam").
    output_dir:        where screenshots and recordings go (default: the current directory).
    pipeline_settings: the estimator's settings to start from (resize mode, input size ...); crop
                       factor, mask threshold and hand side come from the saved window settings
                       unless ``hand_side`` / ``setting_overrides`` (e.g. from the command line) say.
    """

    def __init__(self, estimator_factory=None, source=None, settings_path=None, hand_side=None,
                 pipeline_settings: PipelineSettings | None = None, output_dir=None,
                 realtime: bool | None = None, mirror: bool | None = None,
                 setting_overrides: dict | None = None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("handcam — 3D hand pose from RGB")
        self.setAcceptDrops(True)
        self.store = make_settings_store(settings_path)
        self.output_dir = Path(output_dir) if output_dir else Path.cwd()
        base = pipeline_settings or PipelineSettings()
        crop = float(self.store.value("crop_factor", base.crop_factor))
        thr = float(self.store.value("mask_threshold", base.mask_threshold))
        side = hand_side or str(self.store.value("hand_side", base.hand_side))
        tracking = self.store.value("tracking", base.tracking, type=bool)
        if side not in HAND_SIDES:
            side = base.hand_side
        self.pipeline_settings = base.replace(
            crop_factor=min(max(crop, CROP_RANGE[0]), CROP_RANGE[1]),
            mask_threshold=min(max(thr, THRESHOLD_RANGE[0]), THRESHOLD_RANGE[1]),
            hand_side=side, tracking=bool(tracking))
        if setting_overrides:
            self.pipeline_settings = self.pipeline_settings.replace(**setting_overrides)
        self.mask_opacity = float(self.store.value("mask_opacity", 0.4))
        if mirror is None:
            mirror = self.store.value("mirror", False, type=bool)
        if realtime is None:
            realtime = self.store.value("realtime", True, type=bool)

        self.source = None
        self.capture: CaptureThread | None = None
        self.slot = LatestFrameSlot()
        self.last_result: FrameResult | None = None
        self.results_shown = 0
        self.latencies_ms = collections.deque(maxlen=500)
        self._display_fps = 0.0
        self._t_display = None
        self._display_dt = None
        self.recorder: Recorder | None = None
        self.device_text = "loading…"
        self._messages: dict[str, str] = {}
        self._closed = False

        self._build_ui(mirror=bool(mirror), realtime=bool(realtime))
        self._build_actions()
        geometry = self.store.value("geometry")
        if isinstance(geometry, QtCore.QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1400, 860)

        self.worker = InferenceWorker(self.slot, estimator_factory, self.pipeline_settings,
                                      mirror=bool(mirror))
        self.worker.result_ready.connect(self._on_result, QtCore.Qt.QueuedConnection)
        self.worker.estimator_ready.connect(self._on_estimator_ready, QtCore.Qt.QueuedConnection)
        self.worker.estimator_failed.connect(self._on_estimator_failed, QtCore.Qt.QueuedConnection)
        self.worker.start()

        if source is None:
            self._show_message("source", "Nothing is open: open a video (O), an image, or a camera.",
                               offer_open=True)
            self.frame_view.show_text(NO_SOURCE_HINT)
        else:
            self.open(source)

    # ---------------------------------------------------------------------------- construction
    def _build_ui(self, mirror: bool, realtime: bool) -> None:
        central = QtWidgets.QWidget()
        outer = QtWidgets.QVBoxLayout(central)
        outer.setContentsMargins(6, 6, 6, 6)

        # the message banner (source problems, missing weights) with an "Open video…" offer
        self.banner = QtWidgets.QFrame()
        self.banner.setStyleSheet("QFrame { background: #5a1f1f; border-radius: 4px; }"
                                  "QLabel { color: #ffe0e0; }")
        bl = QtWidgets.QHBoxLayout(self.banner)
        self.banner_label = QtWidgets.QLabel()
        self.banner_label.setWordWrap(True)
        self.banner_label.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
        self.banner_open = QtWidgets.QPushButton("Open video…")
        self.banner_open.setFocusPolicy(QtCore.Qt.NoFocus)
        self.banner_open.clicked.connect(self.open_video_dialog)
        bl.addWidget(self.banner_label, 1)
        bl.addWidget(self.banner_open)
        self.banner.hide()
        outer.addWidget(self.banner)

        split = QtWidgets.QSplitter(QtCore.Qt.Horizontal)
        self.frame_view = ImageView("no frame yet", min_size=(320, 240))
        split.addWidget(self.frame_view)
        right = QtWidgets.QSplitter(QtCore.Qt.Vertical)
        top = QtWidgets.QWidget()
        tl = QtWidgets.QHBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        self.crop_view = ImageView("crop (256×256)", min_size=(200, 200))
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

        # playback row
        play = QtWidgets.QHBoxLayout()
        self.pause_button = QtWidgets.QPushButton("Pause")
        self.step_button = QtWidgets.QPushButton("Step ▸")
        self.seek_slider = QtWidgets.QSlider(QtCore.Qt.Horizontal)
        self.seek_slider.setEnabled(False)
        self.position_label = QtWidgets.QLabel("—")
        self.position_label.setMinimumWidth(110)
        self.realtime_box = QtWidgets.QCheckBox("video's own frame rate")
        self.realtime_box.setToolTip("unchecked: process a video as fast as possible, every frame")
        self.realtime_box.setChecked(realtime)
        for w in (self.pause_button, self.step_button, self.seek_slider, self.realtime_box):
            w.setFocusPolicy(QtCore.Qt.NoFocus)
        play.addWidget(self.pause_button)
        play.addWidget(self.step_button)
        play.addWidget(self.seek_slider, 1)
        play.addWidget(self.position_label)
        play.addWidget(self.realtime_box)
        outer.addLayout(play)

        # pipeline and display controls
        controls = QtWidgets.QHBoxLayout()
        s = self.pipeline_settings
        self.crop_slider = LabeledSlider("crop factor", *CROP_RANGE, s.crop_factor)
        self.threshold_slider = LabeledSlider("mask threshold", *THRESHOLD_RANGE, s.mask_threshold,
                                              steps=90)
        self.opacity_slider = LabeledSlider("mask opacity", 0.0, 1.0, self.mask_opacity)
        self.hand_combo = QtWidgets.QComboBox()
        self.hand_combo.addItems(list(HAND_SIDES))
        self.hand_combo.setCurrentText(s.hand_side)
        self.hand_combo.setFocusPolicy(QtCore.Qt.NoFocus)
        self.mirror_box = QtWidgets.QCheckBox("mirror")
        self.mirror_box.setToolTip("flip frames left-right before estimating (selfie cameras)")
        self.mirror_box.setChecked(mirror)
        self.mirror_box.setFocusPolicy(QtCore.Qt.NoFocus)
        self.tracking_box = QtWidgets.QCheckBox("tracking")
        self.tracking_box.setToolTip("crop around the previous frame's confident keypoints and skip "
                                     "HandSegNet (faster; the mask is not shown on tracked frames)")
        self.tracking_box.setChecked(s.tracking)
        self.tracking_box.setFocusPolicy(QtCore.Qt.NoFocus)
        self.record_button = QtWidgets.QPushButton("● Record")
        self.record_button.setCheckable(True)
        self.reset_view_button = QtWidgets.QPushButton("Reset 3D view")
        for w in (self.record_button, self.reset_view_button):
            w.setFocusPolicy(QtCore.Qt.NoFocus)
        controls.addWidget(self.crop_slider, 2)
        controls.addWidget(self.threshold_slider, 2)
        controls.addWidget(self.opacity_slider, 2)
        controls.addWidget(QtWidgets.QLabel("hand"))
        controls.addWidget(self.hand_combo)
        controls.addWidget(self.mirror_box)
        controls.addWidget(self.tracking_box)
        controls.addWidget(self.reset_view_button)
        controls.addWidget(self.record_button)
        outer.addLayout(controls)
        self.setCentralWidget(central)

        # status bar: device · capture fps · inference ms per stage · display fps · latency
        sb = self.statusBar()
        self.device_label = QtWidgets.QLabel("device: loading…")
        self.capture_label = QtWidgets.QLabel("capture — fps")
        self.stages_label = QtWidgets.QLabel("inference —")
        self.display_label = QtWidgets.QLabel("display — fps")
        self.latency_label = QtWidgets.QLabel("latency —")
        for w in (self.device_label, self.capture_label, self.stages_label, self.display_label,
                  self.latency_label):
            sb.addPermanentWidget(w)

        self.pause_button.clicked.connect(self.toggle_pause)
        self.step_button.clicked.connect(self.step)
        self.seek_slider.valueChanged.connect(self._on_seek)
        self.realtime_box.toggled.connect(self._on_realtime)
        self.crop_slider.valueChanged.connect(lambda v: self._update_settings(crop_factor=v))
        self.threshold_slider.valueChanged.connect(lambda v: self._update_settings(mask_threshold=v))
        self.opacity_slider.valueChanged.connect(self._on_opacity)
        self.hand_combo.currentTextChanged.connect(lambda t: self._update_settings(hand_side=t))
        self.mirror_box.toggled.connect(self._on_mirror)
        self.tracking_box.toggled.connect(lambda on: self._update_settings(tracking=bool(on)))
        self.record_button.toggled.connect(self._on_record_toggled)
        self.reset_view_button.clicked.connect(self.view3d.reset_view)

    def _build_actions(self) -> None:
        def action(text, shortcut, slot, menu, checkable=False):
            a = QtWidgets.QAction(text, self)
            if shortcut is not None:
                a.setShortcut(QtGui.QKeySequence(shortcut))
                a.setShortcutContext(QtCore.Qt.WindowShortcut)
            a.setCheckable(checkable)
            a.triggered.connect(slot)
            menu.addAction(a)
            self.addAction(a)
            return a

        mb = self.menuBar()
        file_menu = mb.addMenu("&File")
        self.open_action = action("Open video…", QtCore.Qt.Key_O, self.open_video_dialog, file_menu)
        action("Open image…", None, self.open_image_dialog, file_menu)
        action("Open camera…", None, self.open_camera_dialog, file_menu)
        file_menu.addSeparator()
        action("Save screenshot", QtCore.Qt.Key_S, lambda: self.save_screenshot(), file_menu)
        self.record_action = action("Record", QtCore.Qt.Key_R, self.record_button.toggle, file_menu)
        file_menu.addSeparator()
        action("Quit", QtCore.Qt.Key_Escape, self.close, file_menu)
        play_menu = mb.addMenu("&Playback")
        action("Pause / play", QtCore.Qt.Key_Space, self.toggle_pause, play_menu)
        action("Step one frame", QtCore.Qt.Key_Right, self.step, play_menu)
        view_menu = mb.addMenu("&View")
        action("Fullscreen", QtCore.Qt.Key_F, self.toggle_fullscreen, view_menu)
        action("Reset 3D view", None, self.view3d.reset_view, view_menu)

    # ---------------------------------------------------------------------------- sources
    def open(self, spec) -> bool:
        """Open a source (see ``open_source``); on failure show why and keep the window alive."""
        try:
            source = open_source(spec)
        except SourceError as e:
            self._show_message("source", str(e), offer_open=True)
            if self.source is None:
                self.frame_view.show_text(NO_SOURCE_HINT)
            return False
        except Exception as e:  # never crash on a source
            log.exception("opening %r failed", spec)
            self._show_message("source", f"cannot open {spec!r}: {type(e).__name__}: {e}",
                               offer_open=True)
            return False
        self._start_source(source)
        return True

    def _stop_capture(self) -> None:
        if self.capture is not None:
            self.capture.stop()
            if not self.capture.wait(3000):
                log.warning("the capture thread did not stop within 3 s")
            self.capture = None
        if self.source is not None:
            self.source.release()
            self.source = None

    def _start_source(self, source) -> None:
        self._stop_capture()
        self.slot.clear()
        self.source = source
        self._clear_message("source")
        self.setWindowTitle(f"handcam — {source.description}")
        n = source.frame_count
        seekable = not source.is_live and n is not None and n > 1
        self.seek_slider.blockSignals(True)
        self.seek_slider.setRange(0, max(0, (n or 1) - 1))
        self.seek_slider.setValue(0)
        self.seek_slider.blockSignals(False)
        self.seek_slider.setEnabled(seekable)
        self.step_button.setEnabled(not source.is_live)
        self.capture = CaptureThread(source, self.slot, realtime=self.realtime_box.isChecked())
        self.capture.failed.connect(self._on_source_failed, QtCore.Qt.QueuedConnection)
        self.capture.ended.connect(self._on_source_ended, QtCore.Qt.QueuedConnection)
        self.pause_button.setText("Pause")
        self.capture.start()

    def open_video_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self, "Open video", "", "Videos (*.mp4 *.avi *.mov *.mkv *.webm *.m4v);;All files (*)")
        if path:
            self.open(("video", path))

    def open_image_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self, "Open image", "", "Images (*.png *.jpg *.jpeg *.bmp *.webp);;All files (*)")
        if path:
            self.open(("image", path))

    def open_camera_dialog(self) -> None:
        index, ok = QtWidgets.QInputDialog.getInt(self, "Open camera", "camera index", 0, 0, 63)
        if ok:
            self.open(("camera", index))

    def dragEnterEvent(self, event: QtGui.QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QtGui.QDropEvent) -> None:
        for url in event.mimeData().urls():
            if url.isLocalFile():
                path = url.toLocalFile()
                kind = "image" if Path(path).suffix.lower() in IMAGE_SUFFIXES else "video"
                self.open((kind, path))
                event.acceptProposedAction()
                return

    # ---------------------------------------------------------------------------- messages
    def _show_message(self, key: str, text: str, offer_open: bool = False) -> None:
        self._messages[key] = text
        if offer_open:
            self._messages.setdefault("_offer_open", "")
        self._refresh_banner()

    def _clear_message(self, key: str) -> None:
        self._messages.pop(key, None)
        if key == "source":
            self._messages.pop("_offer_open", None)
        self._refresh_banner()

    def _refresh_banner(self) -> None:
        texts = [v for k, v in self._messages.items() if not k.startswith("_") and v]
        self.banner_label.setText("\n".join(texts))
        self.banner_open.setVisible("_offer_open" in self._messages)
        self.banner.setVisible(bool(texts))

    @property
    def message_text(self) -> str:
        """Everything the banner says now (for tests and the status line)."""
        return self.banner_label.text() if self.banner.isVisible() or self._messages else ""

    # ---------------------------------------------------------------------------- worker signals
    def _on_estimator_ready(self, device: str) -> None:
        self.device_text = device
        self.device_label.setText(f"device: {device}")
        self._clear_message("estimator")

    def _on_estimator_failed(self, message: str) -> None:
        self.device_text = "none"
        self.device_label.setText("device: — (no estimator)")
        self._show_message("estimator", message)

    def _on_source_failed(self, message: str) -> None:
        self._show_message("source", message, offer_open=True)
        if self.last_result is None:
            self.frame_view.show_text(NO_SOURCE_HINT)
        self.pause_button.setText("Play")

    def _on_source_ended(self) -> None:
        self.statusBar().showMessage("end of video — seek, or open another", 4000)

    def _on_result(self, result: FrameResult) -> None:
        try:
            if not self._closed:
                self._draw_result(result)
        except Exception:  # drawing must never take the app down
            log.exception("drawing a result failed")
        finally:
            self.worker.result_consumed()

    def _draw_result(self, result: FrameResult) -> None:
        now = time.monotonic()
        self.last_result = result
        self.results_shown += 1
        self.latencies_ms.append((now - result.frame.captured_at) * 1000.0)
        if self._t_display is not None:  # average the intervals, not their inverses
            dt = max(now - self._t_display, 1e-6)
            self._display_dt = dt if self._display_dt is None else 0.8 * self._display_dt + 0.2 * dt
            self._display_fps = 1.0 / self._display_dt
        self._t_display = now
        annotated = self._redraw(result)
        if result.error:
            self._show_message("inference", result.error)
        elif "inference" in self._messages:
            self._clear_message("inference")
        frame = result.frame
        if frame.frame_count:
            self.seek_slider.blockSignals(True)
            self.seek_slider.setValue(frame.index)
            self.seek_slider.blockSignals(False)
            self.position_label.setText(f"frame {frame.index + 1}/{frame.frame_count}")
        else:
            self.position_label.setText(f"frame {frame.index + 1}")
        self.capture_label.setText(f"capture {frame.capture_fps:.1f} fps · dropped {frame.dropped}")
        stages = _format_timings(result.timings_ms)
        self.stages_label.setText(f"inference {result.inference_ms:.0f} ms ({stages})")
        self.display_label.setText(f"display {self._display_fps:.1f} fps")
        self.latency_label.setText(f"latency {self.latencies_ms[-1]:.0f} ms")
        if self.recorder is not None:
            try:
                self.recorder.write(frame.index, frame.timestamp, result.image, result.pose,
                                    annotated=annotated)
            except HandcamError as e:
                self._show_message("record", str(e))
                self.record_button.setChecked(False)

    def _redraw(self, result: FrameResult):
        pose = result.pose
        annotated = draw.annotate(result.image, pose, mask_opacity=self.mask_opacity)
        self.frame_view.set_image(annotated)
        if pose is not None:
            self.crop_view.set_image(draw.draw_crop(pose))
            self.view3d.set_keypoints(pose.keypoints_3d)
            self.confidence_view.set_scores(pose.keypoint_scores)
        else:
            self.crop_view.show_text("no hand pose")
            self.view3d.set_keypoints(None)
            self.confidence_view.set_scores(None)
        return annotated

    # ---------------------------------------------------------------------------- controls
    def _update_settings(self, **changes) -> None:
        try:
            self.pipeline_settings = self.pipeline_settings.replace(**changes)
        except ValueError as e:
            self.statusBar().showMessage(str(e), 4000)
            return
        self.worker.set_settings(self.pipeline_settings)
        self._rerun_if_still()

    def _rerun_if_still(self) -> None:
        """Run the shown frame again when nothing new is coming (paused, end of file, image)."""
        if self.capture is not None and (self.capture.paused or self.capture.at_end):
            self.capture.republish()

    def _on_opacity(self, value: float) -> None:
        self.mask_opacity = value
        if self.last_result is not None:
            self._redraw(self.last_result)

    def _on_mirror(self, on: bool) -> None:
        self.worker.set_mirror(on)
        self._rerun_if_still()

    def _on_realtime(self, on: bool) -> None:
        if self.capture is not None:
            self.capture.set_realtime(on)

    def _on_seek(self, index: int) -> None:
        if self.capture is not None and not self.source.is_live:
            self.capture.seek(index)

    @property
    def paused(self) -> bool:
        return self.capture is not None and self.capture.paused

    def set_paused(self, paused: bool) -> None:
        if self.capture is None:
            return
        self.capture.set_paused(paused)
        self.pause_button.setText("Play" if paused else "Pause")

    def toggle_pause(self) -> None:
        self.set_paused(not self.paused)

    def step(self) -> None:
        if self.capture is None or self.source is None or self.source.is_live:
            return
        self.set_paused(True)
        self.capture.step()

    def toggle_fullscreen(self) -> None:
        self.showNormal() if self.isFullScreen() else self.showFullScreen()

    def _stamp(self) -> str:
        return time.strftime("%Y%m%d-%H%M%S") + f"-{int(time.time() * 1000) % 1000:03d}"

    def save_screenshot(self, path=None) -> Path | None:
        """Save a PNG of the whole window (3D view included); returns its path."""
        path = Path(path) if path else self.output_dir / f"handcam-{self._stamp()}.png"
        pixmap = self.grab()
        if not pixmap.save(os.fspath(path), "PNG"):
            self._show_message("screenshot", f"cannot write the screenshot {path}")
            return None
        self._clear_message("screenshot")
        self.statusBar().showMessage(f"screenshot saved: {path}", 5000)
        return path

    def _on_record_toggled(self, on: bool) -> None:
        if on and self.recorder is None:
            stem = self.output_dir / f"handcam-{self._stamp()}"
            fps = (self.source.fps if self.source is not None else None) or 30.0
            try:
                self.recorder = Recorder(f"{stem}.jsonl", f"{stem}.mp4", fps=fps,
                                         mask_opacity=self.mask_opacity)
            except HandcamError as e:
                self._show_message("record", str(e))
                self.record_button.blockSignals(True)
                self.record_button.setChecked(False)
                self.record_button.blockSignals(False)
                return
            self._clear_message("record")
            self.record_button.setText("■ Stop")
            self.statusBar().showMessage(f"recording to {stem}.jsonl and .mp4", 5000)
        elif not on and self.recorder is not None:
            rec, self.recorder = self.recorder, None
            rec.close()
            self.record_button.setText("● Record")
            self.statusBar().showMessage(f"recorded {rec.frames} frames to {rec.json_path}", 8000)

    # ---------------------------------------------------------------------------- shutdown
    def save_settings(self) -> None:
        st = self.store
        st.setValue("geometry", self.saveGeometry())
        st.setValue("crop_factor", self.pipeline_settings.crop_factor)
        st.setValue("mask_threshold", self.pipeline_settings.mask_threshold)
        st.setValue("hand_side", self.pipeline_settings.hand_side)
        st.setValue("tracking", self.pipeline_settings.tracking)
        st.setValue("mask_opacity", self.mask_opacity)
        st.setValue("mirror", self.mirror_box.isChecked())
        st.setValue("realtime", self.realtime_box.isChecked())
        st.sync()

    def shutdown(self) -> None:
        """Stop both threads and release the source (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self.recorder is not None:
            self.record_button.setChecked(False)
        if self.capture is not None:
            self.capture.stop()
        self.worker.stop()
        self._stop_capture()
        if not self.worker.wait(10000):
            log.warning("the inference worker is still busy; waiting for it to finish its frame")
            self.worker.wait()

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        try:
            self.save_settings()
        finally:
            self.hide()  # gone at once, even if a frame is still inside the networks
            self.shutdown()
        super().closeEvent(event)
