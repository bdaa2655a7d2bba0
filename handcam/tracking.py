"""HandTracker: the stateful way through a video. It owns what carries over from frame to frame.

    tracker = est.tracker()
    for index, frame in enumerate(video):
        result = tracker.process(frame, index=index)
    tracker.reset()                      # on seek / source change

A frame whose predecessor's keypoints were confident is cropped around them (tracking's first stage,
``handcam.stages.crop.box_from_keypoints``) and HandSegNet is skipped; HandSegNet runs again at least
every ``redetect_every`` frames, after a low-confidence frame, and whenever the frame does not follow
on from the previous one (another frame size or resize settings, another ``stream``, an ``index`` that
steps back or jumps more than ``max_gap`` frames; frames dropped in between are fine).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .errors import InputError
from .results import FrameResult
from .settings import PipelineSettings
from .stages import box_from_keypoints


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
class _State:
    key: tuple                 # frame shape and the settings that define network-input pixels
    stream: object
    index: int | None
    keypoints: torch.Tensor    # 1 x 21 x 2 (row, col) network-input pixels, on the device
    confident: bool
    presence: float
    side: str                  # the side and its score of the last detection (kept while tracking)
    side_score: float | None
    since_detect: int          # frames tracked since the last HandSegNet run


class HandTracker:
    """Tracks the hand of one stream of frames through an estimator (one call at a time)."""

    def __init__(self, estimator, options: TrackingOptions | None = None, **option_values):
        self.estimator = estimator
        self.options = options or TrackingOptions(**option_values)
        self._state: _State | None = None
        self.frames = 0
        self.detections = 0

    def reset(self) -> None:
        """Forget the previous frame: the next one runs HandSegNet."""
        self._state = None

    def _follows(self, st: _State, key: tuple, stream, index: int | None) -> bool:
        if st.key != key or st.stream != stream:
            return False
        if index is None or st.index is None:
            return True
        return 1 <= index - st.index <= self.options.max_gap

    def process(self, frame: np.ndarray, settings: PipelineSettings | None = None, *, index: int | None = None,
                stream=None, timestamp: float | None = None, with_mask: bool = False,
                with_crop: bool = False) -> FrameResult:
        """The hands in ``frame``, tracked from the previous frame when it allows.
        ``index``/``stream`` say where the frame comes from (for the follow-on rule); ``timestamp`` is
        accepted for filters that need it."""
        from .estimator import as_frames

        est = self.estimator
        frames = as_frames(frame)
        if len(frames) != 1:
            raise InputError(f"process() takes one frame, got {len(frames)}; a tracker follows one stream "
                             f"frame by frame (batches: estimate_batch(), which detects every frame)")
        settings = est.resolved(settings)
        key = (frames[0].shape, settings.resize_mode, tuple(settings.input_size))
        st = self._state
        every = self.options.redetect_every
        use = (st is not None and st.confident and self._follows(st, key, stream, index)
               and (every == 0 or st.since_detect + 1 < every))
        box = box_from_keypoints(st.keypoints) if use else None
        kept = dict(presence=st.presence, given_side=st.side, side_score=st.side_score) if use else {}
        results, keypoints = est.run_frames(frames, settings, box=box, with_mask=with_mask, with_crop=with_crop,
                                            **kept)
        result = results[0]
        hand = result.hands[0]
        # a hand is followed only while it is one: found, with keypoints the network is sure of
        confident = hand.hand_found and bool(np.mean(hand.keypoint_scores) >= self.options.min_score)
        self._state = _State(key, stream, index, keypoints, confident, hand.presence, hand.side, hand.side_score,
                             (st.since_detect + 1) if use else 0)
        self.frames += 1
        self.detections += 0 if use else 1
        return result
