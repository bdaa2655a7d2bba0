"""The capture thread: reads a source and keeps only the newest frame for the inference worker.

Frames travel through a one-place ``LatestFrameSlot``: putting a frame replaces one nobody took yet
(that frame is dropped and counted), so a slow pipeline never builds a queue. Video files are paced
at their own frame rate (real-time, frames dropped when inference is slower) or, when real-time is
off, read as fast as the worker takes them (no frame dropped). Pause, step, seek and "run the last
frame again" (after a settings change) are requests the GUI thread makes and this thread carries out.
Pacing reads an injectable clock (``MonotonicClock`` by default), so tests can check it in virtual time.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import numpy as np
from PyQt5 import QtCore

from ..errors import HandcamError

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class CapturedFrame:
    """One frame as captured. ``image`` is read-only RGB uint8.

    index:        frame number in the source (0-based)
    timestamp:    seconds: position in the video for files, wall-clock time for cameras
    captured_at:  the capture clock's ``now()`` when it was read (time.monotonic(); for latency)
    capture_fps:  the rate the capture thread is reading at, frames per second
    dropped:      frames dropped so far because the worker was busy
    frame_count:  frames in the source (None for cameras)
    source_id:    tells frames of different sources (opened one after the other) apart
    """

    index: int
    timestamp: float
    captured_at: float
    image: np.ndarray
    capture_fps: float
    dropped: int
    frame_count: int | None = None
    source_id: int = 0


class MonotonicClock:
    """The capture thread's time: ``now()`` for timestamps and pacing, ``wait(cond, s)`` to sleep until a
    frame is due (``cond`` is the thread's request condition, held by the caller: a request wakes it)."""

    @staticmethod
    def now() -> float:
        return time.monotonic()

    @staticmethod
    def wait(cond: threading.Condition, seconds: float) -> None:
        cond.wait(seconds)


class LatestFrameSlot:
    """A one-place mailbox between the capture thread and the worker: the newest frame wins."""

    def __init__(self):
        self._cond = threading.Condition()
        self._frame: CapturedFrame | None = None
        self._closed = False
        self.dropped = 0
        self.delivered = 0

    def put(self, frame: CapturedFrame) -> bool:
        """Store ``frame``; returns True when it replaced a frame that was never taken (dropped)."""
        with self._cond:
            replaced = self._frame is not None
            if replaced:
                self.dropped += 1
            self._frame = frame
            self._cond.notify_all()
            return replaced

    def take(self, timeout: float = 0.1) -> CapturedFrame | None:
        """The newest frame (and empty the slot), or None after ``timeout`` seconds / when closed."""
        with self._cond:
            if self._frame is None and not self._closed:
                self._cond.wait(timeout)
            frame, self._frame = self._frame, None
            if frame is not None:
                self.delivered += 1
                self._cond.notify_all()
            return frame

    def wait_empty(self, timeout: float) -> bool:
        """Wait until the worker took the frame in the slot; True when the slot is empty."""
        with self._cond:
            if self._frame is not None and not self._closed:
                self._cond.wait(timeout)
            return self._frame is None

    def clear(self) -> None:
        with self._cond:
            self._frame = None
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def reopen(self) -> None:
        with self._cond:
            self._closed = False
            self._frame = None

    @property
    def closed(self) -> bool:
        return self._closed


class CaptureThread(QtCore.QThread):
    """Reads ``source`` into ``slot``. Signals are delivered to the GUI thread (queued)."""

    failed = QtCore.pyqtSignal(str)  # the source stopped with an error (message for the user)
    ended = QtCore.pyqtSignal()  # end of a video file

    def __init__(self, source, slot: LatestFrameSlot, realtime: bool = True, clock=None, parent=None):
        super().__init__(parent)
        self.source = source
        self.slot = slot
        self.clock = clock or MonotonicClock()
        self._idle = False
        self._cond = threading.Condition()
        self._stop = False
        self._paused = False
        self._realtime = bool(realtime)
        self._step = 0
        self._seek: int | None = None
        self._republish = False
        self._last: CapturedFrame | None = None
        self._ended = False
        self._fps = 0.0
        self._pace_origin: tuple[float, int] | None = None
        self.frames_read = 0

    # -- requests from the GUI thread ---------------------------------------------------------
    def _request(self, **changes) -> None:
        with self._cond:
            for k, v in changes.items():
                setattr(self, k, v)
            self._pace_origin = None
            self._idle = False
            self._cond.notify_all()

    def stop(self) -> None:
        self._request(_stop=True)

    def set_paused(self, paused: bool) -> None:
        self._request(_paused=bool(paused))

    @property
    def paused(self) -> bool:
        return self._paused

    def set_realtime(self, realtime: bool) -> None:
        self._request(_realtime=bool(realtime))

    def step(self) -> None:
        """Read and deliver exactly one more frame (used while paused)."""
        with self._cond:
            self._step += 1
            self._idle = False
            self._cond.notify_all()

    def seek(self, index: int) -> None:
        self._request(_seek=int(index))

    def republish(self) -> None:
        """Deliver the last frame again (the settings changed while paused or at the end)."""
        self._request(_republish=True)

    @property
    def at_end(self) -> bool:
        """The end of a file (or the one frame of a still image) was reached."""
        return self._ended

    @property
    def capture_fps(self) -> float:
        return self._fps

    @property
    def idle(self) -> bool:
        """Paused or at the end with no request pending: no frame is being read."""
        return self._idle

    # -- the thread ---------------------------------------------------------------------------
    def _publish(self, image: np.ndarray, index: int) -> None:
        now = self.clock.now()
        image.setflags(write=False)
        fps = self.source.fps
        timestamp = index / fps if (fps and not self.source.is_live) else time.time()
        frame = CapturedFrame(index=index, timestamp=timestamp, captured_at=now, image=image,
                              capture_fps=self._fps, dropped=self.slot.dropped,
                              frame_count=self.source.frame_count, source_id=id(self.source))
        self._last = frame
        self.slot.put(frame)

    def _read_one(self) -> bool:
        """Read the next frame and publish it; False at the end of the source."""
        index = self.source.position
        image = self.source.read()
        if image is None:
            if not self._ended:
                self._ended = True
                self.ended.emit()
            return False
        self._ended = False
        self.frames_read += 1
        now = self.clock.now()
        if self._t_last is not None:  # average the intervals, not their inverses
            dt = max(now - self._t_last, 1e-6)
            self._dt = dt if self._dt is None else 0.9 * self._dt + 0.1 * dt
            self._fps = 1.0 / self._dt
        self._t_last = now
        self._publish(image, index)
        return True

    def run(self) -> None:
        self._t_last = None
        self._dt = None
        try:
            self._loop()
        except HandcamError as e:
            log.warning("capture stopped: %s", e)
            self.failed.emit(str(e))
        except Exception as e:  # never let a source take the app down
            log.exception("capture failed")
            self.failed.emit(f"{self.source.description}: reading failed ({type(e).__name__}: {e})")

    def _loop(self) -> None:
        live = self.source.is_live
        while True:
            with self._cond:
                if self._stop:
                    return
                seek, self._seek = self._seek, None
                republish, self._republish = self._republish, False
                step = self._step > 0 and seek is None and not republish  # one request a turn
                if step:
                    self._step -= 1
                idle = (self._paused or self._ended) and not (step or seek is not None or republish)
                self._idle = idle
                if idle:
                    self._cond.wait(0.1)
                    continue
                realtime = self._realtime
            if seek is not None:
                self.source.seek(seek)
                self._ended = False
                self._read_one()
                continue
            if republish:
                if self._last is not None:
                    self._publish(np.array(self._last.image), self._last.index)
                continue
            if not live and not realtime and not step:
                # as fast as the worker goes: wait until it took the previous frame
                if not self.slot.wait_empty(0.05):
                    continue
            if not live and realtime and not step and self.source.fps:
                if self._pace_origin is None:
                    self._pace_origin = (self.clock.now(), self.source.position)
                t0, p0 = self._pace_origin
                due = t0 + (self.source.position - p0) / self.source.fps
                delay = due - self.clock.now()
                if delay > 0:
                    with self._cond:
                        self.clock.wait(self._cond, min(delay, 0.1))
                    continue
                if delay < -1.0:  # fell far behind (decoding slower than real time): re-anchor
                    self._pace_origin = None
            self._read_one()
