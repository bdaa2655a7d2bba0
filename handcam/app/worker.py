"""The inference worker: takes the newest captured frame, runs the estimator, emits a DisplayFrame.

It runs in its own QThread and never draws. The estimator (a ``handcam.protocol.Estimator``) is
built inside that thread by an injected factory (so tests pass fakes and the window opens before
weights are loaded). Settings, mirroring, tracking and smoothing are read at the start of each frame,
so a change applies to the next one. Every frame goes through a tracker, so hands keep their ids (and
colours) and are smoothed (One Euro) whether tracking is on or off: with tracking
``estimator.tracker(smoothing=..)`` (crops reused from frame to frame), without it
``estimator.tracker(smoothing=.., redetect_every=1)`` (HandSegNet on every frame). The tracker owns
the follow-on rule (a frame of another stream, or one that steps back or jumps, starts afresh); it is
made anew when tracking or smoothing is switched, and reset when mirroring is switched and when the GUI
asks (a seek, a new source). Mirroring flips the frame and runs with ``settings.mirrored`` switched
(True for an ordinary source, False for one whose frames are already mirror images), so sides are
reported for the person while the lifting networks are given the side the image shows. Results are
immutable and reach the GUI through a queued signal; at most ``max_in_flight`` results wait for the
GUI at any time (otherwise the worker waits and the capture slot drops frames).
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
    settings:       the PipelineSettings this frame ran with (``mirrored`` as the estimator got it)
    tracking:       whether tracking (crop reuse) was on
    mirrored:       whether ``image`` is the mirrored frame
    inference_ms:   wall time of the estimator call
    finished_at:    time.monotonic() when the result was ready
    error:          a one-line message when inference failed on this frame
    smoothing:      whether the keypoints went through the One Euro filter
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
    smoothing: bool = False

    @property
    def hands(self) -> tuple[HandPose, ...]:
        """Every hand of the frame (empty without a result)."""
        return self.result.hands if self.result is not None else ()

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
                 smoothing: bool = True, max_in_flight: int = 2, parent=None):
        super().__init__(parent)
        self.slot = slot
        self._factory = estimator_factory
        self._settings = settings
        self._mirror = bool(mirror)
        self._tracking = bool(tracking)
        self._smoothing = bool(smoothing)
        self._reset = threading.Event()
        self._stop = threading.Event()
        self._in_flight = threading.Semaphore(max_in_flight)
        self.estimator: Estimator | None = None
        self._tracker: Tracker | None = None
        self._tracker_kind: tuple | None = None  # (tracking, smoothing) the tracker was made for
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
        self._tracking = bool(tracking)  # the next frame gets a tracker of the new kind

    @property
    def tracking(self) -> bool:
        return self._tracking

    def set_smoothing(self, smoothing: bool) -> None:
        self._smoothing = bool(smoothing)  # the next frame gets a tracker of the new kind

    @property
    def smoothing(self) -> bool:
        return self._smoothing

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
                  tracking: bool, smoothing: bool, mirrored: bool) -> FrameResult:
        kind = (tracking, smoothing)
        if self._tracker is None or self._tracker_kind != kind:
            options = {"smoothing": smoothing} if tracking else {"smoothing": smoothing, "redetect_every": 1}
            self._tracker = self.estimator.tracker(**options)
            self._tracker_kind = kind
            self._reset.clear()
        elif self._reset.is_set() or mirrored != self._last_mirror:
            self._reset.clear()
            self._tracker.reset()  # the previous hands say nothing about this frame
        self._last_mirror = mirrored
        return self._tracker.process(image, settings, index=frame.index, stream=frame.source_id,
                                     timestamp=frame.timestamp, with_mask=True, with_crop=True)  # shows both

    def _process(self, frame: CapturedFrame) -> DisplayFrame:
        settings, mirrored = self._settings, self._mirror
        tracking, smoothing = self._tracking, self._smoothing
        image = np.ascontiguousarray(frame.image[:, ::-1]) if mirrored else frame.image
        if mirrored:  # the flipped frame is a mirror image (or no longer one, when the source's was)
            settings = settings.replace(mirrored=not settings.mirrored)
        result, error = None, None
        t0 = time.perf_counter()
        if self.estimator is not None:
            try:
                result = self._estimate(image, frame, settings, tracking, smoothing, mirrored)
            except Exception as e:  # a bad frame must not stop the stream
                log.exception("inference failed on frame %d", frame.index)
                error = f"inference failed on frame {frame.index}: {type(e).__name__}: {e}"
        inference_ms = (time.perf_counter() - t0) * 1000.0
        self.frames_processed += 1
        if image is not frame.image:
            image.setflags(write=False)
        return DisplayFrame(frame=frame, image=image, result=result, settings=settings, tracking=tracking,
                            mirrored=mirrored, inference_ms=inference_ms, finished_at=time.monotonic(),
                            error=error, smoothing=smoothing)
