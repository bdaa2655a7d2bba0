"""The capture side without a window: the newest-frame slot and the capture thread's pacing."""
from __future__ import annotations

import threading
import time

import numpy as np
from PyQt5 import QtCore

from app_fakes import write_video
from handcam.app.capture import CapturedFrame, CaptureThread, LatestFrameSlot
from handcam.sources import VideoSource


def frame(i):
    return CapturedFrame(index=i, timestamp=i / 30, captured_at=time.monotonic(),
                         image=np.zeros((2, 2, 3), np.uint8), capture_fps=30.0, dropped=0)


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
    t = threading.Thread(target=lambda: got.append(slot.take(timeout=2.0)))
    t.start()
    time.sleep(0.05)
    slot.put(frame(7))
    t.join(1.0)
    assert got and got[0].index == 7
    assert slot.wait_empty(0.01)
    slot.put(frame(8))
    assert not slot.wait_empty(0.01)
    slot.close()
    t0 = time.monotonic()
    slot.clear()
    assert slot.take(timeout=2.0) is None and time.monotonic() - t0 < 0.5  # closed: no waiting


def test_capture_thread_plays_a_file_at_its_frame_rate(tmp_path):
    path = write_video(tmp_path / "v.mp4", n_frames=20, size=(64, 48), fps=20)
    slot = LatestFrameSlot()
    cap = CaptureThread(VideoSource(path), slot, realtime=True)
    taken = []
    ended = []
    cap.ended.connect(lambda: ended.append(1), QtCore.Qt.DirectConnection)
    t0 = time.monotonic()
    cap.start()
    while time.monotonic() - t0 < 3 and not ended:
        f = slot.take(timeout=0.05)
        if f is not None:
            taken.append(f)
    elapsed = time.monotonic() - t0
    cap.stop()
    assert cap.wait(1000)
    assert ended and cap.frames_read == 20
    assert 0.8 < elapsed < 2.5  # 20 frames at 20 fps: about one second, not as fast as decoding
    assert [f.index for f in taken] == sorted({f.index for f in taken})
    assert all(not f.image.flags.writeable for f in taken)
    assert taken[-1].timestamp == taken[-1].index / 20

