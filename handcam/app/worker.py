"""The inference worker: takes the newest captured frame, runs the estimator, emits a FrameResult.

It runs in its own QThread and never draws. The estimator is built inside that thread by an
injected factory (so tests pass fakes and the window opens before weights are loaded); settings,
hand side and mirroring are read at the start of each frame, so a change applies to the next one.
Results are immutable and reach the GUI through a queued signal; at most ``max_in_flight`` results
wait for the GUI at any time (otherwise the worker waits and the capture slot drops frames).
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import numpy as np
from PyQt5 import QtCore

from ..errors import HandcamError
from ..pose import HandPose, PipelineSettings
from .capture import CapturedFrame, LatestFrameSlot

log = logging.getLogger(__name__)

#: With tracking on, a frame at most this many frames after the previous one run is tracked from it.
TRACK_MAX_GAP = 15


@dataclass(frozen=True, eq=False)
class FrameResult:
    """What the GUI draws for one frame.

    frame:          the captured frame (read-only)
    image:          the RGB image the estimator saw (mirrored when mirroring was on; read-only)
    pose:           the estimator's HandPose, or None (no estimator, or inference failed)
    settings:       the PipelineSettings this frame ran with
    mirrored:       whether ``image`` is the mirrored frame
    inference_ms:   wall time of the estimator call
    finished_at:    time.monotonic() when the result was ready
    error:          a one-line message when inference failed on this frame
    """

    frame: CapturedFrame
    image: np.ndarray
    pose: HandPose | None
    settings: PipelineSettings
    mirrored: bool
    inference_ms: float
    finished_at: float
    error: str | None = None
    timings_ms: dict = field(default_factory=dict)


def describe_device(estimator) -> str:
    device = getattr(estimator, "device", None)
    if device is None:
        return "no estimator"
    text = str(device)
    try:
        import torch

        if getattr(device, "type", None) == "cuda" and torch.cuda.is_available():
            text = f"cuda ({torch.cuda.get_device_name(device)})"
        elif getattr(device, "type", None) == "cpu":
            text = f"cpu ({torch.get_num_threads()} threads, {getattr(estimator, 'backend', 'torch')})"
    except Exception:  # the description is cosmetic
        pass
    return text


class InferenceWorker(QtCore.QThread):
    result_ready = QtCore.pyqtSignal(object)  # FrameResult
    estimator_ready = QtCore.pyqtSignal(str)  # device description
    estimator_failed = QtCore.pyqtSignal(str)  # message for the user (e.g. missing weights)

    def __init__(self, slot: LatestFrameSlot, estimator_factory, settings: PipelineSettings,
                 mirror: bool = False, max_in_flight: int = 2, parent=None):
        super().__init__(parent)
        self.slot = slot
        self._factory = estimator_factory
        self._settings = settings
        self._mirror = bool(mirror)
        self._stop = threading.Event()
        self._in_flight = threading.Semaphore(max_in_flight)
        self.estimator = None
        self.frames_processed = 0
        self._previous: tuple[int, int] | None = None  # (source_id, index) of the last frame run

    # -- called from the GUI thread (plain attribute swaps of immutable values) -----------------
    def set_settings(self, settings: PipelineSettings) -> None:
        self._settings = settings

    @property
    def settings(self) -> PipelineSettings:
        return self._settings

    def set_mirror(self, mirror: bool) -> None:
        self._mirror = bool(mirror)

    def result_consumed(self) -> None:
        """The GUI finished drawing one result."""
        self._in_flight.release()

    def stop(self) -> None:
        self._stop.set()
        self.slot.close()

    # -- the thread -----------------------------------------------------------------------------
    def _load(self):
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
        else:
            self.estimator_ready.emit(describe_device(estimator))
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

    def _process(self, frame: CapturedFrame) -> FrameResult:
        settings = self._settings
        mirrored = self._mirror
        image = np.ascontiguousarray(frame.image[:, ::-1]) if mirrored else frame.image
        pose, error, timings = None, None, {}
        # tracking follows the previous frame run: forget it when this one does not follow on
        # (another source, a seek, a step back, the same frame again with new settings); frames
        # dropped in between are fine, the hand moved little
        here = (frame.source_id, frame.index)
        follows = (self._previous is not None and here[0] == self._previous[0]
                   and 1 <= here[1] - self._previous[1] <= TRACK_MAX_GAP)
        self._previous = here
        if settings.tracking and not follows and hasattr(self.estimator, "reset_tracking"):
            self.estimator.reset_tracking()
        t0 = time.perf_counter()
        if self.estimator is not None:
            try:
                pose = self.estimator(image, hand_side=settings.hand_side, settings=settings)
                timings = dict(getattr(pose, "timings_ms", {}) or {})
            except Exception as e:  # a bad frame must not stop the stream
                log.exception("inference failed on frame %d", frame.index)
                error = f"inference failed on frame {frame.index}: {type(e).__name__}: {e}"
        inference_ms = (time.perf_counter() - t0) * 1000.0
        self.frames_processed += 1
        if image is not frame.image:
            image.setflags(write=False)
        return FrameResult(frame=frame, image=image, pose=pose, settings=settings, mirrored=mirrored,
                           inference_ms=inference_ms, finished_at=time.monotonic(), error=error,
                           timings_ms=timings)
