"""HandTracker: the stateful way through a video. It owns what carries over from frame to frame:
each hand's crop, its id, and its One Euro filters.

    tracker = est.tracker(smoothing=True)
    for index, frame in enumerate(video):
        result = tracker.process(frame, index=index, timestamp=seconds)
    tracker.reset()                      # on seek / source change

A frame whose predecessor's hands were all confident is cropped around their keypoints (tracking's first
stage, ``handcam.stages.crop.box_from_keypoints``; all hands as one batch) and HandSegNet is skipped; a
tracked hand whose keypoints are no longer confident is lost (not reported). HandSegNet runs again at
least every ``redetect_every`` frames (so a hand that enters is found), on the frame after a hand was
lost or none was there, and whenever the frame does not follow on from the previous one (another frame
size, resize, mirror, hand side, max-hands or presence setting, another ``stream``, an ``index`` that
steps back or jumps more than ``max_gap`` frames; frames dropped in between are fine). Detected hands take
the ids of the hands they continue (the nearest previous hand within its own extent), new hands the
smallest free id. Each hand's camera-space scale (its size, ``handcam.handsize``) is held steady over its
frames: the running median of its per-frame scales, fresh for a new hand. With smoothing, each hand's
keypoints go through a One Euro filter (``handcam.smoothing``), fresh for a new hand, dropped when its hand
is lost or the stream does not follow on; the crops follow the unfiltered keypoints.
"""
from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass

import numpy as np

from .errors import InputError
from .handsize import SteadyScales, rescaled, scale_source
from .pipeline import as_frames
from .results import FrameResult
from .settings import PipelineSettings
from .stages import HandBox, box_from_keypoints


@dataclass(frozen=True)
class KnownHands:
    """Hands of a frame known before HandSegNet runs (tracking): their boxes in network-input pixels, and
    what each keeps from the detection it follows (presence, the person's side and its score)."""

    box: HandBox
    presence: tuple[float, ...]
    sides: tuple[str, ...]
    side_scores: tuple[float | None, ...]


@dataclass(frozen=True)
class TrackingOptions:
    """redetect_every: run HandSegNet at least every N-th frame (0: only when confidence drops);
    min_score: mean keypoint score (scoremap peak) a frame needs for the next one to be tracked from it;
    max_gap: largest index step after which a frame still counts as following on."""

    redetect_every: int = 10
    min_score: float = 0.3
    max_gap: int = 15

    def __post_init__(self):
        if self.redetect_every < 0:
            raise ValueError(f"redetect_every must be >= 0, got {self.redetect_every}")
        if self.max_gap < 1:
            raise ValueError(f"max_gap must be >= 1, got {self.max_gap}")


@dataclass(frozen=True)
class _Track:
    """One followed hand: its id, keypoints (21 x 2 row/col network-input pixels, a host array) and what
    it keeps from its detection."""

    id: int
    keypoints: np.ndarray
    presence: float
    side: str
    side_score: float | None


@dataclass(frozen=True)
class _State:
    key: tuple                 # frame shape and the settings that define network-input pixels
    stream: object
    index: int | None
    tracks: tuple              # the hands to follow (all confident), ordered by id
    lost: bool                 # a hand of the last frame was lost: detect the next one
    since_detect: int          # frames tracked since the last HandSegNet run


#: Frame rate assumed for the filters' clock when a frame comes without a timestamp (its index, or the
#: count of frames processed, over this rate).
ASSUMED_FPS = 30.0
#: A detected hand continues a previous one when its keypoints' centre lies within this many of the
#: previous hand's keypoint extents of the previous centre.
MATCH_DISTANCE = 1.0
#: Two tracked hands whose keypoint boxes overlap this much (intersection over the smaller) are one hand.
DUPLICATE_OVERLAP = 0.6


def _centre_extent(kp: np.ndarray) -> tuple[np.ndarray, float]:
    lo, hi = kp.min(0), kp.max(0)
    return 0.5 * (lo + hi), float(max((hi - lo).max(), 1.0))


def match_hands(previous: list[np.ndarray], current: list[np.ndarray]) -> dict[int, int]:
    """current index -> previous index, pairing each hand's 21 x 2 keypoints (frame pixels) with the
    nearest unpaired previous hand whose extent (times ``MATCH_DISTANCE``) covers the distance of their
    centres; greedy, nearest pairs first."""
    pairs = []
    for i, cur in enumerate(current):
        c, _ = _centre_extent(cur)
        for j, prev in enumerate(previous):
            pc, extent = _centre_extent(prev)
            d = float(np.linalg.norm(c - pc))
            if d <= MATCH_DISTANCE * extent:
                pairs.append((d, i, j))
    out: dict[int, int] = {}
    used = set()
    for _, i, j in sorted(pairs):
        if i not in out and j not in used:
            out[i] = j
            used.add(j)
    return out


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection of two keypoint sets' boxes over the smaller box."""
    lo, hi = np.maximum(a.min(0), b.min(0)), np.minimum(a.max(0), b.max(0))
    inter = float(np.prod(np.clip(hi - lo, 0, None)))
    small = min(float(np.prod(a.max(0) - a.min(0))), float(np.prod(b.max(0) - b.min(0))))
    return inter / small if small > 0 else 0.0


class HandIdentities:
    """Ids that follow hands from frame to frame (``match_hands`` against the previous frame's hands; a new
    hand takes the smallest id not in use, so ids stay small and a hand's colour by id stays put), each
    id's steady camera-space scale, and its One Euro filter (``smoothing``: a ``SmoothingOptions``, or None
    for none). One stream at a time;
    ``reset`` on a seek or another source. The tracker uses it; so can a caller that detects every frame
    (``HandPoseEstimator.estimate_batch`` over a video)."""

    def __init__(self, smoothing=None):
        self.smoothing = smoothing
        self._last: dict[int, np.ndarray] = {}        # id -> the frame keypoints it was last seen with
        self._smoothers: dict = {}
        self._scales = SteadyScales()

    def reset(self) -> None:
        """Forget every hand: the next ones get new ids, fresh filters and fresh scales."""
        self._last.clear()
        self._smoothers.clear()
        self._scales.reset()

    def update(self, hands, t: float, ids: list[int] | None = None, *, size_key=None) -> tuple[tuple, list[int]]:
        """(the frame's hands with their ids, smoothed, ordered by id; the ids in the order given). The ids
        are ``ids`` when the caller knows them, else each hand is matched to the previous frame's hands; new
        hands get new ids. A hand not seen in this frame is forgotten (its filter and scale too).

        size_key: what the hands' ``camera_scale`` came from (``handsize.scale_source(settings)``); given, each
        id's camera-space hand is resized to its steady scale (``handsize.SteadyScales``, afresh for a new id
        and whenever ``size_key`` changes); None: the hands keep the scales they came with."""
        if ids is None:
            previous = list(self._last.items())
            matched = match_hands([kp for _, kp in previous], [h.keypoints_2d for h in hands])
            ids = [previous[matched[i]][0] if i in matched else None for i in range(len(hands))]
            free = (n for n in itertools.count() if n not in ids)     # a new hand: the smallest free id
            new = [next(free) if i is None else None for i in ids]
            # ... and a fresh filter and scale (not those of a hand lost before)
            self._scales.forget(new)
            for i in new:
                self._smoothers.pop(i, None)
            ids = [n if i is None else i for i, n in zip(ids, new)]
        self._last = {i: np.asarray(h.keypoints_2d) for i, h in zip(ids, hands)}
        for gone in set(self._smoothers) - set(ids):
            del self._smoothers[gone]
        self._scales.forget(self._scales.ids() - set(ids))
        out = [self._smooth(self._steady(h if h.id == i else dataclasses.replace(h, id=i), size_key), t)
               for i, h in zip(ids, hands)]
        return tuple(sorted(out, key=lambda h: h.id)), ids

    def _steady(self, hand, size_key):
        if size_key is None or hand.camera_scale is None:
            return hand
        scale = self._scales(hand.id, hand.camera_scale, size_key)
        return hand if scale == hand.camera_scale else rescaled(hand, scale)

    def _smooth(self, hand, t: float):
        if self.smoothing is None:
            return hand
        from .smoothing import HandSmoother

        smoother = self._smoothers.setdefault(hand.id, HandSmoother(self.smoothing))
        return smoother(hand, t)


class HandTracker:
    """Tracks the hands of one stream of frames through an estimator (one call at a time).

    ``options``: when to track and when to detect (``TrackingOptions``); ``smoothing``: True (default
    ``SmoothingOptions``), a ``SmoothingOptions``, or False/None for none."""

    def __init__(self, estimator, options: TrackingOptions | None = None, smoothing=False, **option_values):
        from .smoothing import SmoothingOptions

        self.estimator = estimator
        self.options = options or TrackingOptions(**option_values)
        if smoothing is True:
            smoothing = SmoothingOptions()
        self.smoothing = smoothing or None
        self._state: _State | None = None
        self.identities = HandIdentities(self.smoothing)
        self.frames = 0
        self.detections = 0

    def reset(self) -> None:
        """Forget the previous frames (hands, ids, filters): the next frame runs HandSegNet."""
        self._state = None
        self.identities.reset()

    def _follows(self, st: _State, key: tuple, stream, index: int | None) -> bool:
        if st.key != key or st.stream != stream:
            return False
        if index is None or st.index is None:
            return True
        return 1 <= index - st.index <= self.options.max_gap

    def process(self, frame: np.ndarray, settings: PipelineSettings | None = None, *, index: int | None = None,
                stream=None, timestamp: float | None = None, with_mask: bool = False,
                with_crop: bool = False) -> FrameResult:
        """The hands in ``frame``, tracked from the previous frame when it allows. ``index``/``stream`` say
        where the frame comes from (for the follow-on rule); ``timestamp`` (seconds) is the filters' clock
        (default: ``index``, else the frame count, at ``ASSUMED_FPS``)."""
        est = self.estimator
        frames = as_frames(frame)
        if len(frames) != 1:
            raise InputError(f"process() takes one frame, got {len(frames)}; a tracker follows one stream "
                             f"frame by frame (batches: estimate_batch(), which detects every frame)")
        settings = est.resolved(settings)
        # what decides the hands of a frame: another value of any of these starts afresh (new ids, filters)
        key = (frames[0].shape, settings.resize_mode, tuple(settings.input_size), settings.mirrored,
               settings.max_hands, settings.presence_threshold, settings.hand_side)
        st = self._state
        follows = st is not None and self._follows(st, key, stream, index)
        if not follows:
            self.identities.reset()
        every = self.options.redetect_every
        use = (follows and st.tracks and not st.lost and (every == 0 or st.since_detect + 1 < every))
        known = None
        if use:
            tracks = st.tracks
            known = KnownHands(box_from_keypoints(np.stack([t.keypoints for t in tracks])),
                               tuple(t.presence for t in tracks), tuple(t.side for t in tracks),
                               tuple(t.side_score for t in tracks))
        results, keypoints = est.run_frames(frames, settings, known, with_mask=with_mask, with_crop=with_crop)
        hands = list(results[0].hands)
        # a tracked hand is followed only while it is one: keypoints the network is sure of, not the
        # same hand as another tracked one
        keep, lost = [], False
        for i, hand in enumerate(hands):
            confident = bool(hand.keypoint_scores.mean() >= self.options.min_score)
            duplicate = any(_overlap(hand.keypoints_2d, hands[j].keypoints_2d) >= DUPLICATE_OVERLAP for j in keep)
            if use and (not confident or duplicate):
                lost = True
                continue
            lost |= not confident
            keep.append(i)
        t = timestamp if timestamp is not None else (index if index is not None else self.frames) / ASSUMED_FPS
        out, ids = self.identities.update([hands[i] for i in keep], t,
                                          [st.tracks[i].id for i in keep] if use else None,
                                          size_key=scale_source(settings))
        raw = {hand_id: i for hand_id, i in zip(ids, keep)}   # the tracks follow the unfiltered keypoints
        tracks = tuple(_Track(h.id, keypoints[raw[h.id]], h.presence, h.side, h.side_score) for h in out)
        self._state = _State(key, stream, index, tracks, lost, (st.since_detect + 1) if use else 0)
        self.frames += 1
        self.detections += 0 if use else 1
        if len(out) == len(results[0].hands) and all(a is b for a, b in zip(out, results[0].hands)):
            return results[0]            # the hands as the estimator made them (no new ids, no smoothing)
        return dataclasses.replace(results[0], hands=out)
