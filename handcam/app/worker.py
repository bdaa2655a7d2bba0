"""The inference worker: takes the newest captured frame, runs the estimator, emits a DisplayFrame.

It runs in its own QThread and never draws. The estimator (a ``handcam.protocol.Estimator``) is
built inside that thread by an injected factory (so tests pass fakes and the window opens before
weights are loaded). Settings, mirroring and tracking are read at the start of each frame, so a
change applies to the next one. With tracking on, frames go through ``estimator.tracker()``, which
owns the follow-on rule (a frame of another stream, or one that steps back or jumps, is detected
again); the GUI asks for a reset on a seek or a new source. Results are immutable and reach the GUI
through a queued signal; at most ``max_in_flight`` results wait for the GUI at any time (otherwise
the worker waits and the capture slot drops frames).
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PyQt5 import QtCore

from ..errors import HandcamError
from ..protocol import Estimator, Tracker
from ..results import FrameResult, HandPose
from ..settings import PipelineSettings
from .capture import CapturedFrame, LatestFrameSlot

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class DisplayFrame:
    """What the GUI shows for one frame.

    frame:          the captured frame (read-only)
    image:          the RGB image the estimator saw (mirrored when mirroring was on; read-only)
    result:         the estimator's FrameResult, or None (no estimator, or inference failed)
    settings:       the PipelineSettings this frame ran with
    tracking:       whether it went through the tracker
    mirrored:       whether ``image`` is the mirrored frame
    inference_ms:   wall time of the estimator call
    finished_at:    time.monotonic() when the result was ready
    error:          a one-line message when inference failed on this frame
    """

    frame: CapturedFrame
    image: np.ndarray
    result: FrameResult | None
    settings: PipelineSettings
    tracking: bool
    mirrored: bool
    inference_ms: float
    finished_at: float
    error: str | None = None

    @property
    def hand(self) -> HandPose | None:
        """The first hand, or None."""
        return self.result.hand if self.result is not None else None


class InferenceWorker(QtCore.QThread):
    result_ready = QtCore.pyqtSignal(object)  # DisplayFrame
    estimator_ready = QtCore.pyqtSignal(str)  # estimator.describe()
    estimator_failed = QtCore.pyqtSignal(str)  # message for the user (e.g. missing weights)

    def __init__(self, slot: LatestFrameSlot, estimator_factory: Callable[[], Estimator] | None,
                 settings: PipelineSettings, mirror: bool = False, tracking: bool = False,
                 max_in_flight: int = 2, parent=None):
        super().__init__(parent)
        self.slot = slot
        self._factory = estimator_factory
        self._settings = settings
        self._mirror = bool(mirror)
        self._tracking = bool(tracking)
        self._reset = threading.Event()
        self._stop = threading.Event()
        self._in_flight = threading.Semaphore(max_in_flight)
        self.estimator: Estimator | None = None
        self._tracker: Tracker | None = None
        self._last_mirror = self._mirror
        self.frames_processed = 0

    # -- called from the GUI thread (plain attribute swaps of immutable values) -----------------
    def set_settings(self, settings: PipelineSettings) -> None:
        self._settings = settings

    @property
    def settings(self) -> PipelineSettings:
        return self._settings

    def set_mirror(self, mirror: bool) -> None:
        self._mirror = bool(mirror)

    def set_tracking(self, tracking: bool) -> None:
        if tracking and not self._tracking:
            self._reset.set()  # start afresh
        self._tracking = bool(tracking)

    @property
    def tracking(self) -> bool:
        return self._tracking

    def reset_tracking(self) -> None:
        """The next frame does not follow the previous one (a seek, another source)."""
        self._reset.set()

    def result_consumed(self) -> None:
        """The GUI finished showing one result."""
        self._in_flight.release()

    def stop(self) -> None:
        self._stop.set()
        self.slot.close()

    # -- the thread -----------------------------------------------------------------------------
    def _load(self) -> Estimator | None:
        try:
            estimator = self._factory() if self._factory is not None else None
        except HandcamError as e:
            log.warning("estimator unavailable: %s", e)
            self.estimator_failed.emit(str(e))
            return None
        except Exception as e:
            log.exception("estimator could not be built")
            self.estimator_failed.emit(f"the estimator could not be loaded: {type(e).__name__}: {e}")
            return None
        if estimator is None:
            self.estimator_failed.emit("no estimator: showing frames only")
            return None
        if not isinstance(estimator, Estimator):
            self.estimator_failed.emit(f"the estimator factory returned a {type(estimator).__name__}, "
                                       f"not a handcam.protocol.Estimator: showing frames only")
            return None
        self.estimator_ready.emit(estimator.describe())
        return estimator

    def run(self) -> None:
        self.estimator = self._load()
        while not self._stop.is_set():
            if not self._in_flight.acquire(timeout=0.05):
                continue  # the GUI is behind: leave frames in the slot (newest wins)
            frame = self.slot.take(timeout=0.05)
            if frame is None or self._stop.is_set():
                self._in_flight.release()
                continue
            self.result_ready.emit(self._process(frame))
        log.debug("worker stopped after %d frames", self.frames_processed)

    def _estimate(self, image: np.ndarray, frame: CapturedFrame, settings: PipelineSettings,
                  tracking: bool, mirrored: bool) -> FrameResult:
        est = self.estimator
        if not tracking:
            return est.estimate(image, settings, with_mask=True, with_crop=True)   # the window shows both
        if self._tracker is None:
            self._tracker = est.tracker()
            self._reset.clear()
        elif self._reset.is_set() or mirrored != self._last_mirror:
            self._reset.clear()
            self._tracker.reset()  # the previous keypoints say nothing about this frame
        self._last_mirror = mirrored
        return self._tracker.process(image, settings, index=frame.index, stream=frame.source_id,
                                     timestamp=frame.timestamp, with_mask=True, with_crop=True)

    def _process(self, frame: CapturedFrame) -> DisplayFrame:
        settings, mirrored, tracking = self._settings, self._mirror, self._tracking
        image = np.ascontiguousarray(frame.image[:, ::-1]) if mirrored else frame.image
        result, error = None, None
        t0 = time.perf_counter()
        if self.estimator is not None:
            try:
                result = self._estimate(image, frame, settings, tracking, mirrored)
            except Exception as e:  # a bad frame must not stop the stream
                log.exception("inference failed on frame %d", frame.index)
                error = f"inference failed on frame {frame.index}: {type(e).__name__}: {e}"
        inference_ms = (time.perf_counter() - t0) * 1000.0
        self.frames_processed += 1
        if image is not frame.image:
            image.setflags(write=False)
        return DisplayFrame(frame=frame, image=image, result=result, settings=settings, tracking=tracking,
                            mirrored=mirrored, inference_ms=inference_ms, finished_at=time.monotonic(),
                            error=error)
