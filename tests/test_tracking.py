"""handcam.tracking: HandTracker re-detects every N frames, after low confidence and whenever a frame
does not follow on from the previous one (size, settings, stream, index); tracked crops come from
the previous keypoints."""
import numpy as np
import pytest
import torch
from conftest import synthetic_frame
from core_fakes import two_hand_estimator, two_hand_frame

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
    # settings that keep network-input pixels and the hands (crop factor, mask threshold) keep tracking
    assert t.process(f, s.replace(input_size=(64, 96), crop_factor=1.5, mask_threshold=0.6),
                     stream="b", index=7).hand.tracked
    # the hand side decides the hands: detected afresh
    assert not t.process(f, s.replace(input_size=(64, 96), hand_side="right"), stream="b", index=8).hand.tracked


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
    assert isinstance(box.center, np.ndarray) and isinstance(box.size, np.ndarray)
    center = transform.inverse(box.center[:, None])[0, 0][::-1]
    np.testing.assert_allclose(second.center, center, atol=1e-3)
    np.testing.assert_allclose(second.scale, float(crop_scale(box, lite_estimator.architecture.crop_size)[0]),
                               rtol=1e-4)
    assert isinstance(box, HandBox)
    # the keypoints tracking builds the next box from are host arrays: the hand's, in network-input pixels
    results, keypoints_net = lite_estimator.run_frames([f], lite_estimator.resolved())
    assert isinstance(keypoints_net, np.ndarray) and keypoints_net.shape == (1, 21, 2)
    np.testing.assert_allclose(keypoints_net, kp_net.numpy(), atol=1e-3)
    np.testing.assert_allclose(results[0].hands[0].keypoints_2d, first.keypoints_2d, atol=1e-4)


# -- every hand: ids across frames, lost and new hands, smoothing -------------------------------------
@pytest.fixture(scope="module")
def two_hands():
    return two_hand_estimator()


def _by_id(result):
    return {h.id: h for h in result.hands}


def test_ids_follow_the_hands_through_a_sequence():
    tracker = two_hand_estimator(ring_keypoints=True).tracker(redetect_every=3)
    ids_at = []
    for i in range(8):                       # the hands move towards each other; the right one is bigger
        dx = 0.01 * i
        r = tracker.process(two_hand_frame(left=(0.5, 0.25 + dx), right=(0.5, 0.75 - dx)), index=i)
        assert len(r.hands) == 2 and [h.id for h in r.hands] == sorted(h.id for h in r.hands)
        ids_at.append({h.side: h.id for h in r.hands})
        if i % 3:
            assert all(h.tracked for h in r.hands)                  # both hands cropped in one batch
    assert all(ids == ids_at[0] for ids in ids_at) and sorted(ids_at[0].values()) == [0, 1]
    # the left hand leaves: the right hand keeps its id; the left one comes back with the smallest free id
    gone = tracker.process(two_hand_frame(left=None, right=(0.5, 0.68)), index=8)
    assert [(h.side, h.id) for h in gone.hands] == [("right", ids_at[0]["right"])]
    for i in range(9, 12):
        back = tracker.process(two_hand_frame(left=(0.5, 0.3), right=(0.5, 0.68)), index=i)
    ids = {h.side: h.id for h in back.hands}
    assert ids["right"] == ids_at[0]["right"] and ids["left"] == ids_at[0]["left"] == 1 - ids["right"]
    tracker.reset()
    again = tracker.process(two_hand_frame(), index=20)
    assert sorted(h.id for h in again.hands) == [0, 1]              # after a reset: ids from 0 again


def test_a_tracked_hand_that_is_no_longer_confident_is_lost(two_hands):
    tracker = two_hands.tracker(redetect_every=0, min_score=-1e9)
    first = tracker.process(two_hand_frame(), index=0)
    assert len(first.hands) == 2
    tracker.options = TrackingOptions(redetect_every=0, min_score=1e9)     # nothing is confident any more
    second = tracker.process(two_hand_frame(), index=1)
    assert second.hands == ()                                       # tracked, not confident: lost, not drawn
    third = tracker.process(two_hand_frame(), index=2)
    assert len(third.hands) == 2 and not any(h.tracked for h in third.hands)   # detected again


def _still_and_moving(n=24, speed=0.0, seed0=0):
    """Frames of the two hands, still with camera noise, or moving right by ``speed`` of the width per frame."""
    return [two_hand_frame(left=(0.5, 0.2 + speed * i), right=(0.5, 0.6 + speed * i), seed=seed0 + i)
            for i in range(n)]


def _track(est, frames, smoothing, hand_id=0):
    tracker = est.tracker(smoothing=smoothing, redetect_every=1)
    out = []
    for i, f in enumerate(frames):
        hand = _by_id(tracker.process(f, index=i, timestamp=i / 30.0))[hand_id]
        out.append((hand.keypoints_2d, hand.keypoints_3d))
    return np.array([o[0] for o in out]), np.array([o[1] for o in out])


def test_smoothing_reduces_jitter_of_a_still_hand(two_hands):
    """Random PoseNet weights jump by pixels from frame to frame (far more than a real network's still hand,
    benchmarks/smoothing.py), which the default beta reads as motion: the filter at its minimum cutoff here."""
    from handcam.smoothing import SmoothingOptions

    frames = _still_and_moving()
    raw2d, raw3d = _track(two_hands, frames, smoothing=False)
    smooth2d, smooth3d = _track(two_hands, frames, smoothing=SmoothingOptions(beta_2d=0.0, beta_3d=0.0))
    np.testing.assert_array_equal(smooth2d[0], raw2d[0])            # the first frame passes through

    def jitter(x):     # RMS of the frame-to-frame steps
        return float(np.sqrt(np.mean(np.square(np.diff(x, axis=0)))))

    assert jitter(raw2d) > 0.1                                     # random PoseNet weights: it jitters
    assert jitter(smooth2d) < 0.5 * jitter(raw2d) and jitter(smooth3d) < 0.5 * jitter(raw3d)


def test_smoothing_lags_a_moving_hand_by_a_bounded_delay(two_hands):
    from handcam.smoothing import SmoothingOptions

    speed = 0.01                                                     # 3.2 px per frame
    frames = _still_and_moving(n=30, speed=speed)
    raw2d, _ = _track(two_hands, frames, smoothing=False)
    opts = SmoothingOptions()
    smooth2d, _ = _track(two_hands, frames, smoothing=opts)
    step = speed * frames[0].shape[1]
    # the delay behind the unfiltered path, in frames, once the filter has settled
    lag = float(np.mean((raw2d[10:] - smooth2d[10:]).mean(axis=1)[:, 0])) / step
    slowest = 30.0 / (2 * np.pi * opts.min_cutoff_2d)               # the delay at min_cutoff, beta = 0
    assert 0 < lag < slowest
    fast = _track(two_hands, frames, smoothing=SmoothingOptions(beta_2d=10 * opts.beta_2d))[0]
    assert float(np.mean((raw2d[10:] - fast[10:]).mean(axis=1)[:, 0])) / step < lag    # beta cuts the lag


def test_a_new_hand_gets_a_fresh_filter_not_a_lost_hands():
    from handcam.results import HandPose
    from handcam.smoothing import SmoothingOptions
    from handcam.tracking import HandIdentities

    def hand(x):
        kp = np.stack([np.full(21, float(x)), np.linspace(100, 150, 21)], axis=1)
        return HandPose(id=0, side="left", side_score=None, presence=1.0, box=np.zeros(4), center=np.zeros(2),
                        scale=1.0, keypoints_2d=kp, keypoint_scores=np.ones(21), keypoints_3d=np.zeros((21, 3)),
                        keypoints_crop=np.zeros((21, 2)))

    ids = HandIdentities(SmoothingOptions())
    for i in range(5):
        out, _ = ids.update([hand(50 + i)], i / 30)
    assert out[0].id == 0 and out[0].keypoints_2d[0, 0] < 54      # smoothed: behind the moving raw 54
    # hand A is gone, hand B appears far away in the same frame: it takes the free id 0, not A's filter
    out, _ = ids.update([hand(500)], 5 / 30)
    assert out[0].id == 0 and out[0].keypoints_2d[0, 0] == 500.0


def test_changing_what_decides_the_hands_starts_afresh():
    est = two_hand_estimator(ring_keypoints=True)
    tracker = est.tracker(redetect_every=0)
    frame = two_hand_frame(left=(0.5, 0.25), right=(0.5, 0.75))
    first = tracker.process(frame, index=0)
    assert {h.side for h in first.hands} == {"left", "right"}
    assert all(h.tracked for h in tracker.process(frame, index=1).hands)
    mirrored = tracker.process(frame, est.settings.replace(mirrored=True), index=2)
    assert not any(h.tracked for h in mirrored.hands)                # detected again, not tracked
    fresh = est.estimate(frame, est.settings.replace(mirrored=True))
    assert sorted(h.side for h in mirrored.hands) == sorted(h.side for h in fresh.hands)
    by_x = sorted(mirrored.hands, key=lambda h: h.box[0])
    assert [h.side for h in by_x] == ["right", "left"]               # the image's left blob: a left hand, mirrored
    one = tracker.process(frame, est.settings.replace(mirrored=True, max_hands=1), index=3)
    assert len(one.hands) == 1 and not one.hands[0].tracked


def test_tracked_frames_are_not_refined():
    """With refinement on, a detected frame runs PoseNet again on the hand whose keypoints disagree with its
    box; a tracked frame (boxes from the keypoints already) runs it once."""
    est = two_hand_estimator(ring_keypoints=True, right_spread=0.5, metadata={"refine_crops": "True"},
                             layout="contiguous")
    batches = []
    hook = est.runnable_networks["posenet"].module.register_forward_pre_hook(lambda m, a: batches.append(len(a[0])))
    tracker = est.tracker(redetect_every=0)
    frame = two_hand_frame(left=(0.5, 0.25), right=(0.5, 0.75), size=0.22)
    try:
        first = tracker.process(frame, index=0)
        assert batches == [2, 1] and not any(h.tracked for h in first.hands)
        second = tracker.process(frame, index=1)
    finally:
        hook.remove()
    assert batches == [2, 1, 2] and len(second.hands) == 2 and all(h.tracked for h in second.hands)


def _posed_hand(p, uv, k, scale, hand_id=0, shift=0.0):
    """A HandPose as the estimator makes it: normalised ``p``, 2D ``uv``, the camera solve at ``scale``."""
    from handcam.camera import camera_keypoints
    from handcam.results import HandPose

    return HandPose(id=hand_id, side="left", side_score=None, presence=1.0, box=np.zeros(4), center=np.zeros(2),
                    scale=1.0, keypoints_2d=uv + shift, keypoint_scores=np.ones(21), keypoints_3d=p,
                    keypoints_crop=np.zeros((21, 2)), camera_scale=scale,
                    keypoints_3d_camera=camera_keypoints(p, uv + shift, k, scale, refine_steps=1))


def _true_hand(seed=0):
    from test_handsize import hand_from_bones

    from handcam.camera import Intrinsics, project_points
    from handcam.handsize import MEAN_BONE_LENGTHS

    rng = np.random.default_rng(seed)
    k = Intrinsics(500.0, 500.0, 319.5, 239.5)
    truth = hand_from_bones(MEAN_BONE_LENGTHS, rng) * 0.6 + np.array([0.0, 0.0, 0.5])
    uv = project_points(torch.from_numpy(truth), k).numpy()
    return (truth - truth[0]) / np.linalg.norm(truth[12] - truth[11]), uv, k, rng


def test_a_tracked_hands_scale_is_steady_so_its_depth_does_not_jump():
    from handcam.handsize import fit_scale
    from handcam.tracking import HandIdentities

    p, uv, k, rng = _true_hand()
    key = ("auto", 0.045)
    # per-frame fitted sizes with 5 % noise: the camera-space depth follows each one
    ids, raw, steady = HandIdentities(), [], []
    for i in range(60):
        hand = _posed_hand(p, uv, k, 0.045 * np.exp(rng.normal(0, 0.05)))
        out, _ = ids.update([hand], i / 30, size_key=key)
        raw.append(hand.keypoints_3d_camera[0, 2])
        steady.append(out[0].keypoints_3d_camera[0, 2])
        # resized about the camera centre: the same 2D projection, the steady scale recorded
        np.testing.assert_allclose(out[0].keypoints_3d_camera / out[0].camera_scale,
                                   hand.keypoints_3d_camera / hand.camera_scale, rtol=1e-9)
    raw, steady = np.array(raw[10:]), np.array(steady[10:])         # once a few frames are in the history
    assert raw.std() > 5 * steady.std()
    assert np.abs(np.diff(raw)).mean() > 8 * np.abs(np.diff(steady)).mean()
    # through the fit itself (noisy normalised hands: their shape moves the depth too, not only their size)
    ids, raw, steady = HandIdentities(), [], []
    for i in range(60):
        q = p + rng.normal(0, 0.05, p.shape)
        q[0] = 0.0
        hand = _posed_hand(q, uv, k, float(fit_scale(q)))
        out, _ = ids.update([hand], i / 30, size_key=key)
        raw.append(hand.keypoints_3d_camera[0, 2])
        steady.append(out[0].keypoints_3d_camera[0, 2])
    assert np.std(raw[10:]) > 1.2 * np.std(steady[10:])
    # without a size key the hands keep the scales they came with
    hand = _posed_hand(p, uv, k, 0.05)
    assert ids.update([hand], 3.0)[0][0] is hand


def test_a_new_hand_starts_with_its_own_scale():
    from handcam.tracking import HandIdentities

    p, uv, k, _ = _true_hand(1)
    key = ("auto", 0.045)
    ids = HandIdentities()
    for i in range(5):
        out, _ = ids.update([_posed_hand(p, uv, k, 0.040)], i / 30, size_key=key)
    out, _ = ids.update([_posed_hand(p, uv, k, 0.060)], 5 / 30, size_key=key)
    assert out[0].id == 0 and out[0].camera_scale == 0.040        # the same hand: its median holds
    # hand A is gone and hand B appears far away in the same frame: id 0 again, but B's own scale
    b = _posed_hand(p, uv, k, 0.060, shift=300.0)
    out, _ = ids.update([b], 6 / 30, size_key=key)
    assert out[0].id == 0 and out[0] is b and out[0].camera_scale == 0.060
    # other settings (another hand_size or bone length): every hand afresh
    out, _ = ids.update([_posed_hand(p, uv, k, 0.050, shift=300.0)], 7 / 30, size_key=("auto", 0.05))
    assert out[0].camera_scale == 0.050
    ids.reset()
    out, _ = ids.update([_posed_hand(p, uv, k, 0.045, shift=300.0)], 8 / 30, size_key=("auto", 0.05))
    assert out[0].camera_scale == 0.045


def test_the_tracker_holds_each_hands_scale_steady(two_hands):
    """Detecting every frame, the tracker's hands are the estimator's with each id's camera-space hand resized to
    the running median of its per-frame fitted scales."""
    import math

    frames = _still_and_moving(n=6)
    tracker = two_hands.tracker(redetect_every=1)
    fitted = two_hands.settings.replace(hand_size="auto")
    history: dict = {}
    for i, frame in enumerate(frames):
        raw = {h.side: h for h in two_hands.estimate(frame, fitted).hands}
        for hand in tracker.process(frame, fitted, index=i).hands:
            seen = history.setdefault(hand.id, [])
            seen.append(raw[hand.side].camera_scale)
            ordered = sorted(seen)
            lo, hi = ordered[(len(seen) - 1) // 2], ordered[len(seen) // 2]
            assert hand.camera_scale == pytest.approx(math.sqrt(lo * hi), rel=1e-12)
            np.testing.assert_allclose(hand.keypoints_3d_camera, raw[hand.side].keypoints_3d_camera
                                       * (hand.camera_scale / raw[hand.side].camera_scale), rtol=1e-9)
    assert len(history) == 2 and len(set(history[0])) > 1           # random networks: the fits vary
