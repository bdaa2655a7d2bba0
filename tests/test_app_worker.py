"""handcam.app.worker: the inference thread on its own (frames put into its slot by hand) and the
window's tracking and smoothing controls. Every frame goes through a tracker (ids and smoothing with
tracking off too). Waits are on results counted, never on fixed sleeps."""
from __future__ import annotations

import time

import numpy as np
import pytest
from app_fakes import HAND_3D, FakeEstimator
from app_support import QtCore, make_window_fixture, video_fixture, wait_call, wait_results, wait_settled  # noqa: F401

from handcam.app.capture import CapturedFrame, LatestFrameSlot
from handcam.app.worker import DisplayFrame, InferenceWorker
from handcam.errors import WeightsNotFoundError
from handcam.results import FrameResult
from handcam.settings import PipelineSettings
from handcam.tracking import TrackingOptions


def frame(index, source_id=1, marker=False):
    image = np.zeros((48, 64, 3), np.uint8)
    image[10:30, 20:40] = 230
    if marker:
        image[:4, :4] = 255
    image.setflags(write=False)
    return CapturedFrame(index=index, timestamp=index / 30, captured_at=time.monotonic(), image=image,
                         capture_fps=30.0, dropped=0, frame_count=100, source_id=source_id)


class Harness:
    """A started worker whose signals are collected in the worker thread; ``consume`` says whether
    each result is handed back at once (the GUI keeping up)."""

    def __init__(self, qtbot, factory, consume=True, **kw):
        self.qtbot = qtbot
        self.slot = LatestFrameSlot()
        self.results: list[DisplayFrame] = []
        self.ready: list[str] = []
        self.failed: list[str] = []
        self.worker = InferenceWorker(self.slot, factory, kw.pop("settings", PipelineSettings()), **kw)
        direct = QtCore.Qt.DirectConnection
        self.worker.result_ready.connect(self._on_result, direct)
        self.worker.estimator_ready.connect(self.ready.append, direct)
        self.worker.estimator_failed.connect(self.failed.append, direct)
        self.consume = consume
        self.worker.start()

    def _on_result(self, r):
        self.results.append(r)
        if self.consume:
            self.worker.result_consumed()

    def run(self, f, timeout: int = 3000) -> DisplayFrame:
        n = len(self.results)
        self.slot.put(f)
        self.qtbot.waitUntil(lambda: len(self.results) > n, timeout=timeout)
        return self.results[-1]

    def stop(self):
        self.worker.stop()
        assert self.worker.wait(3000)


@pytest.fixture
def harness(qtbot):
    made = []

    def make(factory, **kw):
        made.append(Harness(qtbot, factory, **kw))
        return made[-1]

    yield make
    for h in made:
        h.stop()


def test_display_frames_hold_the_library_result(harness):
    est = FakeEstimator()
    h = harness(lambda: est, settings=PipelineSettings(crop_factor=1.5))
    r = h.run(frame(0))
    assert isinstance(r, DisplayFrame) and isinstance(r.result, FrameResult)
    assert r.hand is r.result.hand and r.hands == r.result.hands and r.hand.keypoints_2d.shape == (21, 2)
    assert r.settings.crop_factor == 1.5 and est.last_call()["settings"].crop_factor == 1.5
    assert not r.tracking and not r.mirrored and r.error is None and r.inference_ms >= 0
    assert h.ready == ["cpu (fake estimator)"] and h.failed == []
    # tracking off: a tracker that detects every frame (ids and smoothing), smoothing on by default
    call = est.last_call()
    assert call["via"] == "tracker" and call["redetect_every"] == 1 and call["smoothing"] is True
    assert r.smoothing and not r.hand.tracked and r.hand.mask is not None


def test_mirroring_flips_what_the_estimator_sees_and_reports_the_persons_side(harness):
    est = FakeEstimator()
    h = harness(lambda: est, mirror=True)
    r = h.run(frame(0, marker=True))
    assert r.mirrored and est.last_call()["corner"].max() == 0 and not r.image.flags.writeable
    # it ran with mirrored settings, and says so: sides are the person's
    assert est.last_call()["settings"].mirrored and r.settings.mirrored
    assert r.hand.side == "right"  # as the estimator reported it for the person ...
    assert np.allclose(r.hand.keypoints_3d[:, 0], HAND_3D[:, 0])  # ... lifted as the image's left hand
    h.worker.set_mirror(False)
    r = h.run(frame(1, marker=True))
    assert r.image[0, 0].min() == 255 and not r.settings.mirrored and not est.last_call()["settings"].mirrored
    assert r.hand.side == "right" and np.allclose(r.hand.keypoints_3d[:, 0], -HAND_3D[:, 0])  # the same hand


def test_mirroring_a_mirrored_source_runs_unmirrored(harness):
    est = FakeEstimator()
    h = harness(lambda: est, mirror=True, settings=PipelineSettings(mirrored=True))
    assert not h.run(frame(0)).settings.mirrored and not est.last_call()["settings"].mirrored
    h.worker.set_mirror(False)
    assert h.run(frame(1)).settings.mirrored


def test_tracking_goes_through_the_tracker_with_index_and_stream(harness):
    est = FakeEstimator()
    h = harness(lambda: est, tracking=True)
    tracked = [h.run(frame(i)).hand.tracked for i in range(3)]
    assert tracked == [False, True, True]
    assert [(c["via"], c["index"], c["stream"]) for c in est.calls] == [("tracker", i, 1) for i in range(3)]
    assert len(est.trackers) == 1  # one tracker, held across frames
    assert est.trackers[0].options.redetect_every == TrackingOptions().redetect_every  # the default
    assert not h.run(frame(40)).hand.tracked  # the tracker's follow-on rule: a jump is detected
    assert not h.run(frame(41, source_id=2)).hand.tracked  # another stream too
    assert est.resets == 0
    h.worker.reset_tracking()  # a seek in the GUI
    assert not h.run(frame(42, source_id=2)).hand.tracked and est.resets == 1
    h.worker.set_mirror(True)  # mirrored frames do not follow unmirrored ones
    assert not h.run(frame(43, source_id=2)).hand.tracked and est.resets == 2
    h.worker.set_tracking(False)  # a tracker that detects every frame
    r = h.run(frame(44, source_id=2))
    assert not r.tracking and len(est.trackers) == 2 and est.last_call()["redetect_every"] == 1
    assert not h.run(frame(45, source_id=2)).hand.tracked
    h.worker.set_tracking(True)  # back on: a new tracker, starting afresh
    r = h.run(frame(46, source_id=2))
    assert r.tracking and not r.hand.tracked and len(est.trackers) == 3
    assert h.run(frame(47, source_id=2)).hand.tracked


def test_the_smoothing_switch_gives_the_tracker_smoothing(harness):
    est = FakeEstimator()
    h = harness(lambda: est, smoothing=False)
    assert not h.run(frame(0)).smoothing and est.trackers[-1].smoothing is False
    h.worker.set_smoothing(True)
    r = h.run(frame(1))
    assert r.smoothing and h.worker.smoothing and len(est.trackers) == 2 and est.trackers[-1].smoothing is True
    assert est.last_call()["smoothing"] is True
    h.worker.set_tracking(True)  # tracking keeps the smoothing
    assert h.run(frame(2)).tracking and est.trackers[-1].smoothing is True
    assert est.trackers[-1].options.redetect_every != 1


def test_a_failing_frame_is_reported_and_the_stream_goes_on(harness):
    est = FakeEstimator(fail_on={1})
    h = harness(lambda: est)
    assert h.run(frame(0)).error is None
    bad = h.run(frame(1))
    assert bad.result is None and "frame 1" in bad.error and "fake failure" in bad.error
    assert h.run(frame(2)).result is not None


@pytest.mark.parametrize("case", ["missing", "crash", "none", "not-an-estimator"])
def test_factory_problems_leave_frames_only(harness, case):
    def factory():
        if case == "missing":
            raise WeightsNotFoundError("no weights found; get them with python -m handcam.weights download")
        if case == "crash":
            raise RuntimeError("boom")
        return None if case == "none" else object()

    h = harness(factory)
    r = h.run(frame(0))
    assert r.result is None and r.error is None and r.image is not None
    assert len(h.failed) == 1 and h.ready == []
    expect = {"missing": "weights", "crash": "boom", "none": "frames only",
              "not-an-estimator": "handcam.protocol.Estimator"}[case]
    assert expect in h.failed[0]


def test_at_most_two_results_wait_for_the_gui(harness, qtbot):
    est = FakeEstimator()
    h = harness(lambda: est, consume=False)
    for i in range(6):
        h.slot.put(frame(i))
        if i < 2:
            qtbot.waitUntil(lambda: len(h.results) == i + 1, timeout=3000)
    qtbot.waitUntil(lambda: h.slot.dropped >= 3, timeout=3000)
    assert len(h.results) == 2 and len(est.calls) == 2  # the worker waits; the slot drops
    h.worker.result_consumed()
    qtbot.waitUntil(lambda: len(h.results) == 3, timeout=3000)
    assert h.results[-1].frame.index == 5  # the newest frame, not a queue


def test_tracking_toggle_and_reset_on_seek(make_window, qtbot, video):
    est = FakeEstimator()
    w = make_window(est, ("video", video))
    wait_results(qtbot, w, 2)
    assert est.last_call()["redetect_every"] == 1 and not w.tracking  # detects every frame
    w.controls.tracking_box.setChecked(True)
    wait_call(qtbot, est, lambda c: c["redetect_every"] != 1)
    assert w.tracking
    w.set_paused(True)
    wait_settled(qtbot, w)
    resets, index = est.resets, w.last_result.frame.index
    w.playback.step_button.click()  # the next frame follows on: tracked from the previous one
    qtbot.waitUntil(lambda: w.last_result.frame.index == index + 1, timeout=3000)
    wait_settled(qtbot, w)
    assert est.resets == resets and w.last_result.hand.tracked and w.last_result.tracking
    w.playback.seek_slider.setValue(2)  # a jump back: tracking starts afresh
    qtbot.waitUntil(lambda: est.resets == resets + 1, timeout=3000)
    qtbot.waitUntil(lambda: w.last_result.frame.index == 2, timeout=3000)
    assert not w.last_result.hand.tracked


def test_the_real_tracker_runs_in_the_worker(harness, random_estimator):
    """The real estimator's tracker through the same path (keeps FakeTracker honest)."""
    # presence_threshold 0: random weights' presence is about 0.5, and the checks below need a found hand
    h = harness(lambda: random_estimator, tracking=True, settings=PipelineSettings(presence_threshold=0.0))
    # a real first frame includes the CPU backend's one-time ONNX export and session setup (seconds on a
    # busy CPU): a generous limit; the wait still ends as soon as the result is there
    results = [h.run(frame(i), timeout=60_000) for i in range(2)]
    assert all(r.error is None and r.tracking and isinstance(r.result, FrameResult) for r in results)
    assert all(r.settings.presence_threshold == 0.0 for r in results)
    hand = results[0].hand
    assert hand is not None and hand.keypoints_2d.shape == (21, 2) and not hand.tracked
    assert all(r.smoothing for r in results) and results[1].hand.id == hand.id  # smoothed, the same id
    assert h.ready and "cpu" in h.ready[0]
