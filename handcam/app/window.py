"""The main window: wires a source, the capture thread, the inference worker and the views.

Threads: the capture thread reads frames into a one-place slot (newest wins), the inference worker
runs the estimator and emits immutable ``DisplayFrame``s through a queued signal, a recording's
writer thread draws and encodes, and this (GUI) thread only shows results: every hand of a frame in
its own colour (its mask, box, "L"/"R", crop thumbnail and 3D hand), their count in the status bar.
Control changes (sliders, hand side, max hands, hand size, mirror, tracking, smoothing) are new immutable values
handed to the worker; they apply to the next frame (and the current frame is run again when playback
is paused or at the end of a file).
"""
from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Callable

from ..compat import preload_triton

preload_triton()  # before Qt's GUI / OpenGL libraries are loaded: see handcam.compat

from PyQt5 import QtCore, QtGui, QtWidgets  # noqa: E402

from ..config import RunConfig  # noqa: E402
from ..errors import SourceError  # noqa: E402
from ..protocol import Estimator  # noqa: E402
from .capture import CaptureThread, LatestFrameSlot  # noqa: E402
from .layout import WindowLayout, add_menus  # noqa: E402
from .opening import ask_source, dropped_spec, open_source  # noqa: E402
from .outputs import RecordingControl, save_screenshot, stamp  # noqa: E402
from .state import WindowState, load_state, make_settings_store, save_state  # noqa: E402
from .status import StatusBar  # noqa: E402
from .worker import DisplayFrame, InferenceWorker  # noqa: E402

log = logging.getLogger(__name__)

NO_SOURCE_HINT = "No camera or video.\n\nPress O (File ▸ Open video…) or drop a video file here."


class MainWindow(QtWidgets.QMainWindow):
    """The handcam window.

    config:            the run's ``RunConfig``: starting settings (those in ``config.explicit`` win
                       over the saved window settings), output folder, and what the factory loads.
    estimator_factory: ``factory(config) -> Estimator``, called in the worker thread. It may raise
                       HandcamError (e.g. missing weights): the window then shows frames and the message.
    source:            a FrameSource, a ``SourceSpec`` or ("camera", n) / ("video", path) / ("image", path),
                       or None (nothing open).
    settings_path:     INI file for persistent window settings (default: $HANDCAM_SETTINGS or the
                       platform's place for organisation/application "handcam").
    realtime, mirror:  override the saved playback mode / mirroring.
    """

    def __init__(self, config: RunConfig | None = None,
                 estimator_factory: Callable[[RunConfig], Estimator] | None = None, source=None,
                 settings_path=None, realtime: bool | None = None, mirror: bool | None = None, parent=None):
        super().__init__(parent)
        self.config = config or RunConfig()
        self.setWindowTitle("handcam — 3D hand pose from RGB")
        self.setAcceptDrops(True)
        self.store = make_settings_store(settings_path)
        self.output_dir = Path(self.config.output_dir) if self.config.output_dir else Path.cwd()
        state = load_state(self.store, self.config.settings, self.config.explicit_settings())
        self.pipeline_settings = state.settings
        self.source = None
        self.capture: CaptureThread | None = None
        self.slot = LatestFrameSlot()
        self.last_result: DisplayFrame | None = None
        self.results_shown = 0
        self.recording = RecordingControl(self.output_dir, parent=self)
        self._closed = False
        realtime = state.realtime if realtime is None else bool(realtime)
        mirror = state.mirror if mirror is None else bool(mirror)

        self._build_ui(state, realtime=realtime, mirror=mirror)
        geometry = self.store.value("geometry")
        if isinstance(geometry, QtCore.QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1400, 860)

        factory = None if estimator_factory is None else functools.partial(estimator_factory, self.config)
        self.worker = InferenceWorker(self.slot, factory, self.pipeline_settings, mirror=mirror,
                                      tracking=state.tracking, smoothing=state.smoothing)
        self.worker.result_ready.connect(self._on_result, QtCore.Qt.QueuedConnection)
        self.worker.estimator_ready.connect(self._on_estimator_ready, QtCore.Qt.QueuedConnection)
        self.worker.estimator_failed.connect(self._on_estimator_failed, QtCore.Qt.QueuedConnection)
        self.worker.start()

        if source is None:
            self.banner.show_message("source", "Nothing is open: open a video (O), an image, or a camera.",
                                     offer_open=True)
            self.frame_view.show_text(NO_SOURCE_HINT)
        else:
            self.open(source)

    # ---------------------------------------------------------------------------- construction
    def _build_ui(self, state: WindowState, realtime: bool, mirror: bool) -> None:
        ui = WindowLayout(state, realtime=realtime, mirror=mirror)
        self.setCentralWidget(ui)
        self.banner, self.frame_view, self.crop_view = ui.banner, ui.frame_view, ui.crop_view
        self.view3d, self.confidence_view = ui.view3d, ui.confidence_view
        self.playback, self.controls = p, c = ui.playback, ui.controls
        self.status = StatusBar(self.statusBar())
        self.banner.open_requested.connect(self.open_dialog)
        p.pause_button.clicked.connect(self.toggle_pause)
        p.step_button.clicked.connect(self.step)
        p.seek_slider.valueChanged.connect(self._on_seek)
        p.realtime_box.toggled.connect(self._on_realtime)
        c.crop_slider.valueChanged.connect(lambda v: self._update_settings(crop_factor=v))
        c.threshold_slider.valueChanged.connect(lambda v: self._update_settings(mask_threshold=v))
        c.presence_slider.valueChanged.connect(lambda v: self._update_settings(presence_threshold=v))
        c.max_hands_spin.valueChanged.connect(lambda n: self._update_settings(max_hands=int(n)))
        c.opacity_slider.valueChanged.connect(self.frame_view.set_mask_opacity)  # display only
        c.hand_combo.currentTextChanged.connect(lambda t: self._update_settings(hand_side=t))
        c.hand_size.valueChanged.connect(lambda v: self._update_settings(hand_size=v))
        c.mirror_box.toggled.connect(lambda on: self._set_worker_option(self.worker.set_mirror, on))
        c.tracking_box.toggled.connect(lambda on: self._set_worker_option(self.worker.set_tracking, on))
        c.smooth_box.toggled.connect(lambda on: self._set_worker_option(self.worker.set_smoothing, on))
        c.record_button.toggled.connect(self._on_record_toggled)
        c.reset_view_button.clicked.connect(self.view3d.reset_view)
        self.recording.changed.connect(self._on_recording_changed)
        self.recording.failed.connect(self._on_record_failed)
        Qt = QtCore.Qt
        add_menus(self, {
            "&File": [("Open video…", Qt.Key_O, lambda: self.open_dialog("video")),
                      ("Open image…", None, lambda: self.open_dialog("image")),
                      ("Open camera…", None, lambda: self.open_dialog("camera")), None,
                      ("Save screenshot", Qt.Key_S, lambda: self.save_screenshot()),
                      ("Record", Qt.Key_R, c.record_button.toggle), None,
                      ("Quit", Qt.Key_Escape, self.close)],
            "&Playback": [("Pause / play", Qt.Key_Space, self.toggle_pause),
                          ("Step one frame", Qt.Key_Right, self.step)],
            "&View": [("Fullscreen", Qt.Key_F, self.toggle_fullscreen),
                      ("Reset 3D view", None, self.view3d.reset_view)],
        })

    # ---------------------------------------------------------------------------- state
    @property
    def mask_opacity(self) -> float:
        return self.frame_view.mask_opacity

    @property
    def tracking(self) -> bool:
        return self.worker.tracking

    @property
    def smoothing(self) -> bool:
        return self.worker.smoothing

    @property
    def message_text(self) -> str:
        """Everything the banner says now."""
        return self.banner.text

    @property
    def paused(self) -> bool:
        return self.capture is not None and self.capture.paused

    def window_state(self) -> WindowState:
        c = self.controls
        return WindowState(settings=self.pipeline_settings, tracking=c.tracking_box.isChecked(),
                           mirror=c.mirror_box.isChecked(), smoothing=c.smooth_box.isChecked(),
                           realtime=self.playback.realtime_box.isChecked(), mask_opacity=self.mask_opacity)

    # ---------------------------------------------------------------------------- sources
    def open(self, spec) -> bool:
        """Open a source (see ``open_source``); on failure show why and keep the window alive."""
        try:
            source = open_source(spec)
        except SourceError as e:
            self.banner.show_message("source", str(e), offer_open=True)
            if self.source is None:
                self.frame_view.show_text(NO_SOURCE_HINT)
            return False
        except Exception as e:  # never crash on a source
            log.exception("opening %r failed", spec)
            self.banner.show_message("source", f"cannot open {spec!r}: {type(e).__name__}: {e}", offer_open=True)
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
        self.worker.reset_tracking()
        self.source = source
        self.banner.clear_message("source")
        self.setWindowTitle(f"handcam — {source.description}")
        self.playback.set_source(source.frame_count, source.is_live)
        self.capture = CaptureThread(source, self.slot, realtime=self.playback.realtime_box.isChecked())
        self.capture.failed.connect(self._on_source_failed, QtCore.Qt.QueuedConnection)
        self.capture.ended.connect(self._on_source_ended, QtCore.Qt.QueuedConnection)
        self.capture.start()

    def open_dialog(self, kind: str = "video") -> None:
        """Ask for a video, an image or a camera index and open it."""
        spec = ask_source(self, kind)
        if spec is not None:
            self.open(spec)

    def dragEnterEvent(self, event: QtGui.QDragEnterEvent) -> None:
        if dropped_spec(event.mimeData()) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event: QtGui.QDropEvent) -> None:
        spec = dropped_spec(event.mimeData())
        if spec is not None:
            self.open(spec)
            event.acceptProposedAction()

    # ---------------------------------------------------------------------------- thread signals
    def _on_estimator_ready(self, device: str) -> None:
        self.status.set_device(device)
        self.banner.clear_message("estimator")

    def _on_estimator_failed(self, message: str) -> None:
        self.status.set_device(None)
        self.banner.show_message("estimator", message)

    def _on_source_failed(self, message: str) -> None:
        self.banner.show_message("source", message, offer_open=True)
        if self.last_result is None:
            self.frame_view.show_text(NO_SOURCE_HINT)
        self.playback.pause_button.setText("Play")

    def _on_source_ended(self) -> None:
        self.status.note("end of video — seek, or open another", 4000)

    def _on_result(self, shown: DisplayFrame) -> None:
        try:
            if not self._closed:
                self._show(shown)
        except Exception:  # showing must never take the app down
            log.exception("showing a result failed")
        finally:
            self.worker.result_consumed()

    def _show(self, shown: DisplayFrame) -> None:
        self.last_result = shown
        self.results_shown += 1
        self.frame_view.set_frame(shown.image, shown.result)
        hands = shown.hands
        self.crop_view.set_hands(hands)
        self.view3d.set_hands(hands)
        self.confidence_view.set_hands(hands)
        if shown.error:
            self.banner.show_message("inference", shown.error)
        elif self.banner.has("inference"):
            self.banner.clear_message("inference")
        self.playback.set_position(shown.frame.index, shown.frame.frame_count)
        self.status.frame_shown(shown)
        self.recording.write(shown)

    # ---------------------------------------------------------------------------- controls
    def _update_settings(self, **changes) -> None:
        try:
            self.pipeline_settings = self.pipeline_settings.replace(**changes)
        except ValueError as e:
            self.status.note(str(e), 4000)
            return
        self.worker.set_settings(self.pipeline_settings)
        self._rerun_if_still()

    def _rerun_if_still(self) -> None:
        """Run the shown frame again when nothing new is coming (paused, end of file, image)."""
        if self.capture is not None and (self.capture.paused or self.capture.at_end):
            self.capture.republish()

    def _set_worker_option(self, setter, on: bool) -> None:
        setter(on)  # the worker's set_mirror / set_tracking / set_smoothing
        self._rerun_if_still()

    def _on_realtime(self, on: bool) -> None:
        if self.capture is not None:
            self.capture.set_realtime(on)

    def _on_seek(self, index: int) -> None:
        if self.capture is not None and not self.source.is_live:
            self.worker.reset_tracking()
            self.capture.seek(index)

    def set_paused(self, paused: bool) -> None:
        if self.capture is None:
            return
        self.capture.set_paused(paused)
        self.playback.pause_button.setText("Play" if paused else "Pause")

    def toggle_pause(self) -> None:
        self.set_paused(not self.paused)

    def step(self) -> None:
        if self.capture is None or self.source is None or self.source.is_live:
            return
        self.set_paused(True)
        self.capture.step()

    def toggle_fullscreen(self) -> None:
        self.showNormal() if self.isFullScreen() else self.showFullScreen()

    # ---------------------------------------------------------------------------- outputs
    def save_screenshot(self, path=None) -> Path | None:
        """Save a PNG of the whole window (3D view included); returns its path."""
        path = Path(path) if path else self.output_dir / f"handcam-{stamp()}.png"
        if not save_screenshot(self, path):
            self.banner.show_message("screenshot", f"cannot write the screenshot {path}")
            return None
        self.banner.clear_message("screenshot")
        self.status.note(f"screenshot saved: {path}", 5000)
        return path

    @property
    def recorder(self):
        """The running recording's BackgroundRecorder, or None."""
        return self.recording.recorder

    def _on_record_toggled(self, on: bool) -> None:
        fps = self.source.fps if self.source is not None else None
        self.recording.set_active(on, fps, self.mask_opacity)

    def _on_recording_changed(self, on: bool, note: str) -> None:
        self.controls.set_recording(on)
        if on:
            self.banner.clear_message("record")
        self.status.note(note, 8000)

    def _on_record_failed(self, message: str) -> None:
        self.controls.set_recording(False)
        self.banner.show_message("record", message)

    # ---------------------------------------------------------------------------- shutdown
    def save_settings(self) -> None:
        save_state(self.store, self.window_state(), self.saveGeometry())

    def shutdown(self) -> None:
        """Stop every thread and release the source (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self.recording.set_active(False)
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
