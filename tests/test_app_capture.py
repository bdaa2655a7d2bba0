"""handcam.app.capture without a window: the newest-frame slot and the capture thread's pacing
(checked in the virtual time of an injected clock, not against the wall clock)."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from app_fakes import write_video
from PyQt5 import QtCore

from handcam.app.capture import CapturedFrame, CaptureThread, LatestFrameSlot
from handcam.sources import VideoSource


def frame(i):
    return CapturedFrame(index=i, timestamp=i / 30, captured_at=time.monotonic(),
                         image=np.zeros((2, 2, 3), np.uint8), capture_fps=30.0, dropped=0)


class VirtualClock:
    """Time that passes only when the capture thread waits for a frame to be due."""

    def __init__(self, start: float = 1000.0):
        self.t = start
        self.waited = 0.0

    def now(self) -> float:
        return self.t

    def wait(self, cond, seconds: float) -> None:
        self.t += seconds
        self.waited += seconds


def test_slot_keeps_only_the_newest_frame():
    slot = LatestFrameSlot()
    assert slot.take(timeout=0.01) is None
    assert slot.put(frame(0)) is False
    assert slot.put(frame(1)) is True and slot.put(frame(2)) is True
    assert slot.dropped == 2
    assert slot.take().index == 2 and slot.take(timeout=0.01) is None
    assert slot.delivered == 1


def test_slot_wakes_a_waiting_taker_and_closes():
    slot = LatestFrameSlot()
    got = []
    waiting = threading.Event()

    def taker():
        waiting.set()
        got.append(slot.take(timeout=5.0))

    t = threading.Thread(target=taker)
    t.start()
    waiting.wait(2.0)
    slot.put(frame(7))
    t.join(5.0)
    assert got and got[0].index == 7
    assert slot.wait_empty(0.01)
    slot.put(frame(8))
    assert not slot.wait_empty(0.01)
    slot.close()
    t0 = time.monotonic()
    slot.clear()
    assert slot.take(timeout=30.0) is None and time.monotonic() - t0 < 10.0  # closed: no waiting


def _play(path, realtime, clock=None):
    slot = LatestFrameSlot()
    cap = CaptureThread(VideoSource(path), slot, realtime=realtime, clock=clock)
    taken, ended = [], threading.Event()
    cap.ended.connect(ended.set, QtCore.Qt.DirectConnection)
    cap.start()
    deadline = time.monotonic() + 20  # a safety net, not a measurement
    while not ended.is_set() and time.monotonic() < deadline:
        f = slot.take(timeout=0.05)
        if f is not None:
            taken.append(f)
    f = slot.take(timeout=0.01)
    taken += [f] if f is not None else []
    cap.stop()
    assert cap.wait(5000)
    assert ended.is_set()
    return cap, slot, taken


def test_capture_thread_plays_a_file_at_its_frame_rate(tmp_path):
    path = write_video(tmp_path / "v.mp4", n_frames=20, size=(64, 48), fps=20)
    clock = VirtualClock()
    cap, _, taken = _play(path, realtime=True, clock=clock)
    assert cap.frames_read == 20 and taken
    # frame i is read when it is due: i / 20 s after the first, not as fast as decoding
    for f in taken:
        assert f.captured_at == pytest.approx(1000.0 + f.index / 20, abs=1e-9)
    assert clock.waited == pytest.approx(20 / 20, abs=1e-9)  # the end is found when frame 20 is due
    assert [f.index for f in taken] == sorted({f.index for f in taken})
    assert all(not f.image.flags.writeable for f in taken)
    assert taken[-1].timestamp == taken[-1].index / 20


def test_as_fast_as_possible_waits_for_the_taker_not_the_clock(tmp_path):
    path = write_video(tmp_path / "v.mp4", n_frames=15, size=(64, 48), fps=20)
    clock = VirtualClock()
    cap, slot, taken = _play(path, realtime=False, clock=clock)
    assert clock.waited == 0.0 and cap.frames_read == 15
    assert [f.index for f in taken] == list(range(15)) and slot.dropped == 0  # every frame, none dropped
