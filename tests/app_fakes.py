"""Fakes for the app, headless and recording tests (no Qt here): an estimator and its tracker that
implement ``handcam.protocol``, sources, generated videos.

The fake estimator computes a real (if crude) result from the frame so that what the app draws
depends on what it was called with: every bright region (pixels brighter than ``mask_threshold``,
at least ``MIN_HAND_AREA`` of the frame) is a hand, the largest first, at most ``max_hands`` of them;
a hand's mask is its region, its crop box the region's box enlarged by ``crop_factor``, its keypoints a
fixed hand placed in that box, its presence the region's mean brightness (hands below
``presence_threshold`` are not reported). Sides follow the library's rule: a given ``hand_side`` names
the person's hand; with 'auto' a region in the image's left half shows a right hand (a person facing the
camera), and with ``mirrored`` settings the reported side is the opposite of the image's. The camera-space
3D is the normalised hand scaled by ``bone_length_m`` at a depth from the box size. It returns the
library's own ``FrameResult`` / ``HandPose``.
"""
from __future__ import annotations

import dataclasses
import math
import threading
import time

import cv2
import numpy as np

from handcam.errors import SourceError
from handcam.results import FrameResult, HandPose
from handcam.settings import PipelineSettings
from handcam.skeleton import HAND_SIDES, NUM_KEYPOINTS, SCALE_BONE
from handcam.tracking import TrackingOptions, match_hands

# a flat open hand in [0, 1]^2 (x, y), RHD order: root, then thumb..little tip -> base
_FINGER_X = np.linspace(0.15, 0.85, 5)
_HAND = [(0.5, 0.85)]
for fx in _FINGER_X:
    for j, y in enumerate((0.1, 0.25, 0.4, 0.55)):
        _HAND.append((0.5 + (fx - 0.5) * (1.0 - 0.15 * j), y))
HAND_TEMPLATE = np.asarray(_HAND, dtype=np.float64)
_HAND_3D = np.concatenate([(HAND_TEMPLATE - HAND_TEMPLATE[0]) * 8.0,
                           np.linspace(0, 1, NUM_KEYPOINTS)[:, None]], axis=1)
#: The fake's normalised 3D hand: root at the origin, bone 12-11 of length 1 (like the library's).
HAND_3D = _HAND_3D / np.linalg.norm(_HAND_3D[SCALE_BONE[0]] - _HAND_3D[SCALE_BONE[1]])
#: A bright region is a hand when it covers at least this share of the frame.
MIN_HAND_AREA = 0.01
#: The width in metres the fake's camera-space 3D gives a hand's box (sets its depth).
HAND_BOX_M = 0.2


def _other(side: str) -> str:
    return HAND_SIDES[1 - HAND_SIDES.index(side)]


def hand_regions(frame: np.ndarray, s: PipelineSettings) -> list[np.ndarray]:
    """The frame's bright regions (bool masks) of at least ``MIN_HAND_AREA``, largest first."""
    gray = np.asarray(frame).mean(axis=2)
    mask = (gray > 255.0 * s.mask_threshold).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    h, w = mask.shape
    keep = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= MIN_HAND_AREA * h * w]
    keep.sort(key=lambda i: (-stats[i, cv2.CC_STAT_AREA], stats[i, cv2.CC_STAT_LEFT]))
    return [labels == i for i in keep]


def fake_hand(frame: np.ndarray, s: PipelineSettings, tracked: bool = False, region: np.ndarray | None = None,
              hand_id: int = 0, camera_3d: bool = True) -> HandPose:
    """The fake pipeline on one region of a frame (default: its largest bright region, or none: a hand
    of presence 0 in the middle). A tracked hand has no mask, like the real one."""
    frame = np.asarray(frame)
    gray = frame.mean(axis=2)
    if region is None:
        regions = hand_regions(frame, s)
        region = regions[0] if regions else np.zeros(gray.shape, bool)
    mask = region
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
    if s.hand_side == "auto":  # what the image shows, then the person's hand
        shown = "right" if cx < w / 2 else "left"
        side, side_score = (_other(shown) if s.mirrored else shown), 0.9
    else:
        side, side_score = s.hand_side, None
        shown = _other(side) if s.mirrored else side
    xyz = HAND_3D.copy()
    if shown == "right":  # the side the lifting networks were given
        xyz[:, 0] *= -1
    camera = None
    if camera_3d:
        f = (w / 2) / math.tan(math.radians(s.fov_deg) / 2)
        z = f * HAND_BOX_M / size
        camera = xyz * s.bone_length_m + np.array([(cx - w / 2) * z / f, (cy - h / 2) * z / f, z])
    presence = float(gray[mask].mean() / 255.0) if len(xs) else 0.0
    return HandPose(id=hand_id, side=side, side_score=side_score, presence=presence, box=box,
                    center=np.array([cx, cy]), scale=256.0 / size, keypoints_2d=kp2d,
                    keypoint_scores=scores, keypoints_3d=xyz, keypoints_crop=HAND_TEMPLATE * 256,
                    keypoints_3d_camera=camera, mask=None if tracked else mask,
                    mask_area=0 if tracked else int(mask.sum()), crop=crop, tracked=tracked)


def fake_hands(frame: np.ndarray, s: PipelineSettings, tracked: bool = False, camera_3d: bool = True
               ) -> list[HandPose]:
    """Every hand the fake pipeline reports in a frame (ids 0.. by size)."""
    hands = [fake_hand(frame, s, tracked, region, 0, camera_3d) for region in hand_regions(frame, s)[:s.max_hands]]
    return [dataclasses.replace(h, id=i) for i, h in enumerate(h for h in hands if h.presence >= s.presence_threshold)]


class FakeEstimator:
    """A ``handcam.protocol.Estimator``. Every call is recorded in ``calls`` (settings, side, shape,
    top-left pixel, time, and for tracker calls whether the frame was tracked and the tracker's
    ``redetect_every`` and ``smoothing``). ``camera_3d``: give the hands camera-space 3D."""

    def __init__(self, settings: PipelineSettings | None = None, delay_s: float = 0.0,
                 fail_on: set | None = None, camera_3d: bool = True):
        self.settings = settings or PipelineSettings()
        self.delay_s = delay_s
        self.fail_on = set(fail_on or ())  # call numbers (0-based) that raise
        self.camera_3d = camera_3d
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
        hands = fake_hands(frame, s, tracked=tracked, camera_3d=self.camera_3d)
        ms = (time.perf_counter() - t0) * 1000
        return FrameResult(hands, frame.shape[:2],
                           {"segment": ms * 0.5, "pose": ms * 0.4, "lift": ms * 0.1, "total": ms})

    def estimate(self, frame, settings=None, *, with_mask=False, with_crop=False) -> FrameResult:
        return self._run(frame, settings, via="estimate")

    def estimate_batch(self, frames, settings=None, *, with_mask=False, with_crop=False) -> list[FrameResult]:
        return [self._run(f, settings, via="estimate_batch") for f in frames]

    def tracker(self, smoothing=False, **options) -> "FakeTracker":
        t = FakeTracker(self, TrackingOptions(**options), smoothing=smoothing)
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
    at most ``max_gap`` frames after the previous one is tracked (no mask) unless ``redetect_every``
    asks for a detection (1: every frame), any other is detected. Hands keep their ids from frame to
    frame (``handcam.tracking.match_hands``); ``smoothing`` is only recorded."""

    def __init__(self, estimator: FakeEstimator, options: TrackingOptions, smoothing=False):
        self.estimator = estimator
        self.options = options
        self.smoothing = smoothing
        self._previous = None  # (stream, index)
        self._hands: list[HandPose] = []  # the previous frame's
        self._since_detect = 0
        self._next_id = 0
        self.resets = 0
        self.detections = 0

    def reset(self) -> None:
        self._previous = None
        self._hands = []
        self.resets += 1
        self.estimator._count_reset()

    def process(self, frame, settings=None, *, index=None, stream=None, timestamp=None, with_mask=False,
                with_crop=False) -> FrameResult:
        prev, self._previous = self._previous, (stream, index)
        follows = (prev is not None and prev[0] == stream and index is not None and prev[1] is not None
                   and 1 <= index - prev[1] <= self.options.max_gap)
        every = self.options.redetect_every
        tracked = follows and bool(self._hands) and (every == 0 or self._since_detect + 1 < every)
        self._since_detect = self._since_detect + 1 if tracked else 0
        self.detections += 0 if tracked else 1
        result = self.estimator._run(frame, settings, tracked=tracked, via="tracker", index=index,
                                     stream=stream, redetect_every=every, smoothing=self.smoothing)
        previous = self._hands if follows else []
        matched = match_hands([h.keypoints_2d for h in previous], [h.keypoints_2d for h in result.hands])
        hands = []
        for i, hand in enumerate(result.hands):
            if i in matched:
                hand_id = previous[matched[i]].id
            else:
                hand_id, self._next_id = self._next_id, self._next_id + 1
            hands.append(dataclasses.replace(hand, id=hand_id))
        self._hands = sorted(hands, key=lambda h: h.id)
        return dataclasses.replace(result, hands=tuple(self._hands))


def two_hands_image(size=(240, 320)) -> np.ndarray:
    """A dark frame with two bright regions the fake estimator reports as two hands: the larger one
    (id 0, presence 0.9) in the image's left half (a right hand), a smaller one (id 1, presence 0.8)
    in its right half (a left hand)."""
    h, w = size
    image = np.full((h, w, 3), 30, np.uint8)
    image[int(0.3 * h):int(0.72 * h), int(0.1 * w):int(0.4 * w)] = 230
    image[int(0.35 * h):int(0.68 * h), int(0.62 * w):int(0.87 * w)] = 204
    return image


def write_two_hands_video(path, n_frames: int = 20, size=(240, 320), fps: float = 30.0) -> str:
    """``two_hands_image`` shifted by a pixel or two from frame to frame."""
    h, w = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    assert writer.isOpened()
    image = two_hands_image(size)
    for i in range(n_frames):
        writer.write(np.ascontiguousarray(np.roll(image, i % 3, axis=1)[..., ::-1]))
    writer.release()
    return str(path)


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
