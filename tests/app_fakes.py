"""Fakes for the app, headless and recording tests (no Qt here): an estimator and its tracker that
implement ``handcam.protocol``, sources, generated videos.

The fake estimator computes a real (if crude) result from the frame so that what the app draws
depends on what it was called with: the mask is the pixels brighter than ``mask_threshold``, the crop
box is the mask's box enlarged by ``crop_factor``, keypoints are a fixed hand placed in that box. It
returns the library's own ``FrameResult`` / ``HandPose``.
"""
from __future__ import annotations

import threading
import time

import cv2
import numpy as np

from handcam.errors import SourceError
from handcam.results import FrameResult, HandPose
from handcam.settings import PipelineSettings
from handcam.skeleton import NUM_KEYPOINTS
from handcam.tracking import TrackingOptions

# a flat open hand in [0, 1]^2 (x, y), RHD order: root, then thumb..little tip -> base
_FINGER_X = np.linspace(0.15, 0.85, 5)
_HAND = [(0.5, 0.85)]
for fx in _FINGER_X:
    for j, y in enumerate((0.1, 0.25, 0.4, 0.55)):
        _HAND.append((0.5 + (fx - 0.5) * (1.0 - 0.15 * j), y))
HAND_TEMPLATE = np.asarray(_HAND, dtype=np.float64)
HAND_3D = np.concatenate([(HAND_TEMPLATE - HAND_TEMPLATE[0]) * 8.0,
                          np.linspace(0, 1, NUM_KEYPOINTS)[:, None]], axis=1)


def fake_hand(frame: np.ndarray, s: PipelineSettings, tracked: bool = False) -> HandPose:
    """The fake pipeline on one frame (a tracked hand has no mask, like the real one)."""
    gray = frame.mean(axis=2)
    mask = gray > 255.0 * s.mask_threshold
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    if len(xs):
        cx, cy = (xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2
        size = max(xs.max() - xs.min(), ys.max() - ys.min(), 8) * s.crop_factor
    else:
        cx, cy, size = w / 2, h / 2, min(h, w) * s.crop_factor / 2
    box = np.array([cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2])
    kp2d = box[:2] + HAND_TEMPLATE * size
    x0, y0 = int(round(box[0])), int(round(box[1]))
    side_px = max(1, int(round(size)))
    padded = cv2.copyMakeBorder(frame, side_px, side_px, side_px, side_px,
                                cv2.BORDER_CONSTANT, value=(128, 128, 128))
    patch = padded[y0 + side_px:y0 + 2 * side_px, x0 + side_px:x0 + 2 * side_px]
    crop = cv2.resize(patch, (256, 256)) if patch.size else np.full((256, 256, 3), 128, np.uint8)
    scores = np.clip(0.3 + 0.7 * mask.mean() * 10, 0, 1) * np.linspace(0.5, 1.0, NUM_KEYPOINTS)
    xyz = HAND_3D.copy()
    if s.hand_side == "right":
        xyz[:, 0] *= -1
    return HandPose(id=0, side=s.hand_side, side_score=None, presence=float(mask.any()), box=box,
                    center=np.array([cx, cy]), scale=256.0 / size, keypoints_2d=kp2d,
                    keypoint_scores=scores, keypoints_3d=xyz, keypoints_crop=HAND_TEMPLATE * 256,
                    mask=None if tracked else mask, mask_area=0 if tracked else int(mask.sum()),
                    crop=crop, tracked=tracked)


class FakeEstimator:
    """A ``handcam.protocol.Estimator``. Every call is recorded in ``calls`` (settings, side, shape,
    top-left pixel, time, and for tracker calls whether the frame was tracked)."""

    def __init__(self, settings: PipelineSettings | None = None, delay_s: float = 0.0,
                 fail_on: set | None = None):
        self.settings = settings or PipelineSettings()
        self.delay_s = delay_s
        self.fail_on = set(fail_on or ())  # call numbers (0-based) that raise
        self.device = "cpu"
        self.calls: list[dict] = []
        self.trackers: list[FakeTracker] = []
        self.resets = 0
        self._lock = threading.Lock()

    def describe(self) -> str:
        return "cpu (fake estimator)"

    def _run(self, frame, settings, tracked=False, **record) -> FrameResult:
        s = settings or self.settings
        frame = np.asarray(frame)
        assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8
        with self._lock:
            n = len(self.calls)
            self.calls.append({"settings": s, "hand_side": s.hand_side, "shape": frame.shape,
                               "corner": frame[0, 0].copy(), "time": time.monotonic(),
                               "tracked": tracked, **record})
        t0 = time.perf_counter()
        if self.delay_s:
            time.sleep(self.delay_s)
        if n in self.fail_on:
            raise RuntimeError(f"fake failure on call {n}")
        hand = fake_hand(frame, s, tracked=tracked)
        ms = (time.perf_counter() - t0) * 1000
        return FrameResult((hand,), frame.shape[:2],
                           {"segment": ms * 0.5, "pose": ms * 0.4, "lift": ms * 0.1, "total": ms})

    def estimate(self, frame, settings=None, *, with_mask=False, with_crop=False) -> FrameResult:
        return self._run(frame, settings, via="estimate")

    def estimate_batch(self, frames, settings=None, *, with_mask=False, with_crop=False) -> list[FrameResult]:
        return [self._run(f, settings, via="estimate_batch") for f in frames]

    def tracker(self, **options) -> "FakeTracker":
        t = FakeTracker(self, TrackingOptions(**options))
        with self._lock:
            self.trackers.append(t)
        return t

    def last_call(self):
        with self._lock:
            return self.calls[-1] if self.calls else None

    def _count_reset(self):
        with self._lock:
            self.resets += 1


class FakeTracker:
    """A ``handcam.protocol.Tracker`` with the real one's follow-on rule: a frame of the same stream
    at most ``max_gap`` frames after the previous one is tracked (no mask), any other is detected."""

    def __init__(self, estimator: FakeEstimator, options: TrackingOptions):
        self.estimator = estimator
        self.options = options
        self._previous = None  # (stream, index)
        self.resets = 0
        self.detections = 0

    def reset(self) -> None:
        self._previous = None
        self.resets += 1
        self.estimator._count_reset()

    def process(self, frame, settings=None, *, index=None, stream=None, timestamp=None, with_mask=False,
                with_crop=False) -> FrameResult:
        prev, self._previous = self._previous, (stream, index)
        follows = (prev is not None and prev[0] == stream and index is not None and prev[1] is not None
                   and 1 <= index - prev[1] <= self.options.max_gap)
        self.detections += 0 if follows else 1
        return self.estimator._run(frame, settings, tracked=follows, via="tracker", index=index,
                                   stream=stream)


def write_video(path, n_frames: int = 60, size=(320, 240), fps: float = 30.0, marker=False) -> str:
    """A generated clip: a bright disc ("hand") moving over a dark textured background.

    With ``marker`` the top-left pixel block is white, so a mirrored frame can be told apart.
    """
    w, h = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    assert writer.isOpened()
    rng = np.random.default_rng(0)
    background = rng.integers(0, 60, size=(h, w, 3), dtype=np.uint8)
    for i in range(n_frames):
        img = background.copy()
        cx = int(w * (0.3 + 0.4 * i / max(1, n_frames - 1)))
        cv2.circle(img, (cx, h // 2), h // 5, (230, 210, 190), -1)
        cv2.putText(img, str(i), (5, h - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1)
        if marker:
            img[:8, :8] = 255
        writer.write(img)
    writer.release()
    return str(path)


class ScriptedSource:
    """A fake live source: ``n_ok`` frames, then it fails like an unplugged camera."""

    is_live = True
    fps = None
    frame_count = None
    description = "fake camera"

    def __init__(self, n_ok: int = 5, size=(240, 320), period_s: float = 0.02):
        self.n_ok = n_ok
        self.position = 0
        self.size = size
        self.period_s = period_s
        self._released = False

    def read(self):
        if self._released:
            raise SourceError("fake camera was closed")
        time.sleep(self.period_s)
        if self.position >= self.n_ok:
            raise SourceError("fake camera stopped delivering frames (unplugged?)")
        self.position += 1
        img = np.zeros(self.size + (3,), np.uint8)
        img[60:120, 100:180] = 220
        return img

    def seek(self, index):
        raise SourceError("cannot seek a camera")

    def release(self):
        self._released = True

    @property
    def released(self):
        return self._released


class FailingCapture:
    """Stands in for cv2.VideoCapture: opens, delivers ``n_ok`` frames, then read() fails."""

    def __init__(self, n_ok: int = 3):
        self.n_ok = n_ok
        self.reads = 0
        self.released = False

    def isOpened(self):
        return not self.released

    def get(self, prop):
        return 30.0 if prop == cv2.CAP_PROP_FPS else 0.0

    def read(self):
        self.reads += 1
        if self.reads > self.n_ok:
            return False, None
        return True, np.full((48, 64, 3), 100, np.uint8)

    def release(self):
        self.released = True
