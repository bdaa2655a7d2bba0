"""handcam.tracking: HandTracker re-detects every N frames, after low confidence and whenever a frame
does not follow on from the previous one (size, settings, stream, index); tracked crops come from
the previous keypoints."""
import numpy as np
import pytest
import torch
from conftest import synthetic_frame

from handcam.errors import InputError
from handcam.stages.crop import HandBox, box_from_keypoints, crop_scale
from handcam.tracking import HandTracker, TrackingOptions
from handcam.transform import FrameTransform

ALWAYS = dict(redetect_every=0, min_score=-1e9)  # random networks: trust every frame


def flags(tracker, frames, **kw):
    return [tracker.process(f, **kw).hand.tracked for f in frames]


def test_options():
    o = TrackingOptions()
    assert (o.redetect_every, o.min_score, o.max_gap) == (10, 0.3, 15)
    with pytest.raises(ValueError, match="redetect_every"):
        TrackingOptions(redetect_every=-1)
    with pytest.raises(ValueError, match="max_gap"):
        TrackingOptions(max_gap=0)


def test_tracker_construction(lite_estimator):
    t = lite_estimator.tracker(redetect_every=3, min_score=0.1, max_gap=4)
    assert isinstance(t, HandTracker) and t.estimator is lite_estimator
    assert t.options == TrackingOptions(redetect_every=3, min_score=0.1, max_gap=4)
    assert HandTracker(lite_estimator, TrackingOptions(max_gap=2)).options.max_gap == 2
    with pytest.raises(TypeError):
        lite_estimator.tracker(redetect_everyy=3)
    assert (t.frames, t.detections) == (0, 0)


def test_tracking_redetects_every_n_frames(lite_estimator):
    tracker = lite_estimator.tracker(redetect_every=3, min_score=-1e9)
    assert flags(tracker, [synthetic_frame(seed=i % 2) for i in range(7)]) == \
        [False, True, True, False, True, True, False]
    result = tracker.process(synthetic_frame(), with_mask=True)     # asked for, but a tracked frame has none
    pose = result.hand
    assert pose.tracked and pose.mask_area == 0 and pose.mask is None
    assert result.timings_ms["handsegnet"] < result.timings_ms["total"] and result.to_json()["hands"][0]["tracked"]
    # counted: 8 frames, HandSegNet ran on 3 of them
    assert (tracker.frames, tracker.detections) == (8, 3)


def test_tracking_low_confidence_batches_and_new_sizes_detect(lite_estimator):
    never = lite_estimator.tracker(min_score=1e9)
    assert flags(never, [synthetic_frame()] * 3) == [False] * 3
    assert never.detections == 3
    always = lite_estimator.tracker(**ALWAYS)
    assert flags(always, [synthetic_frame()] * 3) == [False, True, True]
    assert not always.process(synthetic_frame(120, 160)).hand.tracked   # new frame size
    # batches detect: estimate_batch never tracks, and a tracker takes one frame at a time
    assert not any(r.hand.tracked for r in lite_estimator.estimate_batch([synthetic_frame()] * 2))
    with pytest.raises(InputError, match="one frame"):
        always.process(np.stack([synthetic_frame()] * 2))
    always.reset()
    assert not always.process(synthetic_frame()).hand.tracked
    assert not lite_estimator.estimate(synthetic_frame()).hand.tracked  # no tracker: every frame detected


def test_follow_on_rule_index(lite_estimator):
    """Frames dropped in between (a step up to max_gap) still follow on; an index that steps back
    (a seek) or jumps further is a new scene: detected again."""
    t = lite_estimator.tracker(**ALWAYS, max_gap=3)
    f = synthetic_frame()
    steps = [(0, False), (1, True), (4, True),      # 3 frames dropped: still follows
             (3, False),                            # stepped back
             (4, True), (8, False),                 # jumped 4 > max_gap
             (9, True), (9, False),                 # the same index again: not a following frame
             (10, True), (None, True), (11, True)]  # no index: follows on
    got = [(i, t.process(f, index=i).hand.tracked) for i, _ in steps]
    assert got == steps


def test_follow_on_rule_stream_and_settings(lite_estimator):
    t = lite_estimator.tracker(**ALWAYS)
    f = synthetic_frame()
    assert flags(t, [f] * 2, stream="a", index=0) == [False, False]  # index 0 twice: a step of 0
    assert t.process(f, stream="a", index=1).hand.tracked
    assert not t.process(f, stream="b", index=2).hand.tracked         # another stream
    assert t.process(f, stream="b", index=3, timestamp=0.12).hand.tracked
    s = lite_estimator.settings
    assert not t.process(f, s.replace(resize_mode="aspect"), stream="b", index=4).hand.tracked
    assert t.process(f, s.replace(resize_mode="aspect"), stream="b", index=5).hand.tracked
    assert not t.process(f, s.replace(input_size=(64, 96)), stream="b", index=6).hand.tracked
    # settings that keep network-input pixels (crop factor, threshold, side) keep tracking
    assert t.process(f, s.replace(input_size=(64, 96), crop_factor=1.5, hand_side="right"),
                     stream="b", index=7).hand.tracked


def test_tracked_hand_is_cropped_around_the_previous_keypoints(lite_estimator):
    t = lite_estimator.tracker(**ALWAYS)
    f = synthetic_frame(seed=3)
    first = t.process(f, index=0).hand
    second = t.process(f, index=1).hand
    assert not first.tracked and second.tracked
    assert second.presence == first.presence  # a tracked hand keeps its last detection's value
    transform = FrameTransform((240, 320), lite_estimator.resolved().input_size)
    kp_net = transform.forward(torch.tensor(first.keypoints_2d[:, ::-1].copy(), dtype=torch.float32)[None])
    box = box_from_keypoints(kp_net)
    center = transform.inverse(box.center[:, None])[0, 0].numpy()[::-1]
    np.testing.assert_allclose(second.center, center, atol=1e-3)
    np.testing.assert_allclose(second.scale, float(crop_scale(box, lite_estimator.architecture.crop_size)[0]),
                               rtol=1e-4)
    assert isinstance(box, HandBox)
