"""handcam.estimator: the public estimator -- results, batching, frame sizes and modes, video, the
lite family, weights round trip, CPU/CUDA agreement."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import synthetic_frame
from core_fakes import blob_estimator, blob_networks, two_hand_estimator, two_hand_frame

from handcam.errors import InputError, WeightsError
from handcam.estimator import (
    PRESENCE_CALIBRATION_KEY,
    HandPoseEstimator,
    as_frames,
    frame_mask_area,
    iter_batches,
    parse_calibration,
)
from handcam.models import lite, registry
from handcam.pipeline import STAGES
from handcam.results import FrameResult, HandPose
from handcam.settings import PipelineSettings, RuntimeOptions
from handcam.stages.segment import calibrated_presence


def test_result_fields(random_estimator):
    frame = synthetic_frame()
    plain = random_estimator.estimate(frame)       # the mask and the crop only when asked for
    assert plain.hand.mask is None and plain.hand.crop is None and plain.hand.mask_area > 0
    result = random_estimator.estimate(frame, with_mask=True, with_crop=True)
    assert result.hand.mask_area == plain.hand.mask_area
    np.testing.assert_array_equal(result.hand.keypoints_2d, plain.hand.keypoints_2d)
    assert isinstance(result, FrameResult) and len(result.hands) == 1 and result.frame_size == (240, 320)
    pose = result.hand
    assert isinstance(pose, HandPose) and pose.id == 0 and pose.side == "left" and not pose.tracked
    assert pose.mask.shape == (240, 320) and pose.mask.dtype == bool
    assert pose.crop.shape == (256, 256, 3) and pose.crop.dtype == np.uint8
    assert pose.keypoints_2d.shape == (21, 2) and pose.keypoint_scores.shape == (21,)
    assert pose.keypoints_3d.shape == (21, 3)
    assert pose.center.shape == (2,) and pose.box.shape == (4,)
    assert set(STAGES) <= set(result.timings_ms) and result.timings_ms["total"] > 0
    assert pose.mask_area == int(pose.mask.sum())
    assert 0.0 <= pose.presence <= 1.0
    # keypoints lie inside the crop box, crop coordinates map back through centre and scale
    np.testing.assert_allclose(pose.keypoints_2d, (pose.keypoints_crop - 128) / pose.scale + pose.center, atol=1e-4)
    # the release's back-mapping ((p - 128) / scale + c) and box (c - side // 2) differ by < 1 px + 1 step
    x0, y0, x1, y1 = pose.box
    tol = 1.0 + 1.0 / pose.scale
    assert np.all(pose.keypoints_2d[:, 0] >= x0 - tol) and np.all(pose.keypoints_2d[:, 0] <= x1 + tol)
    assert np.all(pose.keypoints_2d[:, 1] >= y0 - tol) and np.all(pose.keypoints_2d[:, 1] <= y1 + tol)
    j = result.to_json()
    assert set(j["hands"][0]) >= {"keypoints_2d", "keypoint_scores", "keypoints_3d", "center", "scale", "box",
                                  "mask_area"}
    assert set(j["timings_ms"]) >= set(STAGES) | {"total"}


def test_batch_equals_single(random_estimator):
    frames = [synthetic_frame(seed=s) for s in range(3)]
    batch = random_estimator.estimate_batch(np.stack(frames), with_mask=True)
    assert len(batch) == 3 and all(isinstance(r, FrameResult) for r in batch)
    for f, b in zip(frames, batch):
        s = random_estimator.estimate(f, with_mask=True).hand
        b = b.hand
        np.testing.assert_allclose(b.keypoints_2d, s.keypoints_2d, atol=1e-3)
        np.testing.assert_allclose(b.keypoints_3d, s.keypoints_3d, atol=1e-4)
        np.testing.assert_array_equal(b.mask, s.mask)


def test_mixed_sizes_and_tiny_frames(random_estimator):
    results = random_estimator.estimate_batch([synthetic_frame(), synthetic_frame(120, 160),
                                               np.zeros((1, 1, 3), np.uint8)], with_mask=True)
    assert [r.hand.mask.shape for r in results] == [(240, 320), (120, 160), (1, 1)]
    assert [r.frame_size for r in results] == [(240, 320), (120, 160), (1, 1)]


def test_faithful_mode_scales_keypoints_with_the_frame(random_estimator):
    small = synthetic_frame()
    big = np.repeat(np.repeat(small, 2, axis=0), 2, axis=1)  # 480 x 640, same content
    a, b = random_estimator.estimate(small).hand, random_estimator.estimate(big).hand
    # the network input is (almost) the same image; frame coordinates scale by 2 (half-pixel centres)
    np.testing.assert_allclose(b.center, (a.center + 0.5) * 2 - 0.5, atol=2.0)
    close = np.abs(b.keypoints_2d - ((a.keypoints_2d + 0.5) * 2 - 0.5)).max(axis=1) < 4.0
    assert close.mean() > 0.8


def test_aspect_mode_full_res_crop(random_estimator):
    s = PipelineSettings(resize_mode="aspect")
    frame = synthetic_frame(320, 320)
    pose = random_estimator.estimate(frame, settings=s).hand
    x0, y0, x1, y1 = pose.box
    assert abs((x1 - x0) - (y1 - y0)) < 1e-3  # square in the frame: no distortion
    np.testing.assert_allclose(pose.keypoints_2d, (pose.keypoints_crop - 128) * (x1 - x0) / 256 + pose.center,
                               atol=1e-3)


def test_settings_take_effect(random_estimator):
    frame = synthetic_frame()
    a = random_estimator.estimate(frame).hand
    b = random_estimator.estimate(frame, settings=random_estimator.settings.replace(crop_factor=2.0)).hand
    if a.scale < 5.0 and a.scale > 0.25:
        assert b.scale < a.scale
    c = random_estimator.estimate(frame, settings=random_estimator.settings.replace(hand_side="right")).hand
    assert c.side == "right" and a.side == "left"
    assert not np.allclose(c.keypoints_3d, a.keypoints_3d)


def test_settings_attribute_is_the_default_of_every_call(lite_estimator):
    est = HandPoseEstimator(lite_estimator.networks, device="cpu", settings=PipelineSettings(hand_side="right"))
    assert est.settings.hand_side == "right" and est.estimate(synthetic_frame()).hand.side == "right"
    est.settings = est.settings.replace(hand_side="left")
    assert est.estimate(synthetic_frame()).hand.side == "left"


def test_resolved_fills_in_the_family_size(random_estimator, lite_estimator):
    assert random_estimator.resolved().input_size == (240, 320)
    assert lite_estimator.resolved().input_size == (120, 160)
    s = PipelineSettings(input_size=(64, 96), crop_factor=1.5)
    assert lite_estimator.resolved(s) is s
    assert lite_estimator.resolved(PipelineSettings(crop_factor=1.5)) == s.replace(input_size=(120, 160))
    assert lite_estimator.settings.input_size is None  # the attribute itself is left alone


def test_bad_frames(random_estimator):
    with pytest.raises(InputError, match="H x W x 3"):
        random_estimator.estimate(np.zeros((10, 10), np.uint8))
    with pytest.raises(InputError, match="uint8"):
        random_estimator.estimate(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(InputError, match="no frames"):
        random_estimator.estimate_batch([])
    with pytest.raises(InputError, match="empty frame"):
        random_estimator.estimate(np.zeros((0, 10, 3), np.uint8))
    with pytest.raises(InputError, match="estimate_batch"):
        random_estimator.estimate(np.zeros((2, 10, 10, 3), np.uint8))


def test_as_frames_and_iter_batches():
    f = np.zeros((4, 5, 3), np.uint8)
    assert len(as_frames(f)) == 1 and len(as_frames(np.stack([f, f]))) == 2 and len(as_frames([f, f, f])) == 3
    g = np.zeros((6, 5, 3), np.uint8)
    assert [len(b) for b in iter_batches([f, f, f, g, g, f], 2)] == [2, 1, 2, 1]  # size changes split
    assert [len(b) for b in iter_batches([f] * 5, 1)] == [1] * 5
    with pytest.raises(ValueError, match="batch_size"):
        list(iter_batches([f], 0))


@pytest.mark.parametrize("net_hw,frame_hw", [((120, 160), (240, 320)), ((240, 320), (97, 131)),
                                             ((24, 32), (480, 641)), ((8, 8), (8, 8))])
def test_frame_mask_area_counts_the_upsampled_mask(net_hw, frame_hw):
    masks = torch.rand(3, *net_hw, generator=torch.Generator().manual_seed(sum(frame_hw))) > 0.6
    up = F.interpolate(masks[:, None].to(torch.uint8), size=frame_hw, mode="nearest")[:, 0].bool()
    assert torch.equal(frame_mask_area(masks, frame_hw), up.sum((1, 2)))


def test_networks_are_copies_and_read_only():
    nets = registry.LITE.build(seed=4)
    before = {k: {n: t.clone() for n, t in m.state_dict().items()} for k, m in nets.items()}
    with_bn = {k for k, m in nets.items() if any(isinstance(x, torch.nn.BatchNorm2d) for x in m.modules())}
    assert "posenet" in with_bn
    nets["posenet"].train()
    est = HandPoseEstimator(nets, device="cpu", runtime=RuntimeOptions(backend="torch"))
    assert est.architecture is registry.LITE  # from the networks' classes
    assert all(est.networks[k] is not nets[k] for k in nets)
    assert nets["posenet"].training and not est.networks["posenet"].training  # the caller's modules untouched
    for k, m in nets.items():
        sd = m.state_dict()
        assert set(sd) == set(before[k]) and all(torch.equal(sd[n], before[k][n]) for n in sd), k
        assert (k in with_bn) == any(isinstance(x, torch.nn.BatchNorm2d) for x in m.modules())  # not folded in place
    with pytest.raises(TypeError):
        est.networks["posenet"] = nets["posenet"]
    with pytest.raises(TypeError):
        est.runnable_networks["posenet"] = nets["posenet"]
    assert set(est.runnable_networks) == set(registry.NETWORK_KEYS)
    assert HandPoseEstimator(nets, architecture="lite", device="cpu").architecture is registry.LITE
    with pytest.raises(ValueError, match="networks missing"):
        HandPoseEstimator({"posenet": nets["posenet"]}, device="cpu")


def test_describe_and_metadata(lite_estimator):
    d = lite_estimator.describe()
    assert d.startswith("cpu (") and "threads" in d and lite_estimator.backend in d
    assert lite_estimator.metadata["source"] == "random(seed=1)" and lite_estimator.metadata["architecture"] == "lite"
    with pytest.raises(TypeError):
        lite_estimator.metadata["source"] = "x"


def test_estimate_video_equals_frame_by_frame(lite_estimator):
    frames = [synthetic_frame(seed=s) for s in range(3)] + [synthetic_frame(120, 160, seed=5)]
    results = list(lite_estimator.estimate_video(iter(frames), batch_size=2, with_mask=True))
    assert len(results) == 4 and results[-1].hand.mask.shape == (120, 160)
    for f, p in zip(frames, results):
        s = lite_estimator.estimate(f, with_mask=True).hand
        np.testing.assert_allclose(p.hand.keypoints_2d, s.keypoints_2d, atol=1e-3)
        np.testing.assert_array_equal(p.hand.mask, s.mask)
        assert not p.hand.tracked
    with pytest.raises(ValueError, match="batch_size"):
        list(lite_estimator.estimate_video(frames, batch_size=0))


def test_lite_family_runs_at_its_own_frame_size():
    est = HandPoseEstimator.random(seed=0, device="cpu", arch="lite",
                                   runtime=RuntimeOptions(backend="torch"))  # torch: for the hook
    assert est.resolved().input_size == (120, 160) == registry.LITE.input_size
    pose = est.estimate(synthetic_frame(), with_mask=True).hand
    assert pose.mask.shape == (240, 320)  # mapped back to the frame
    assert HandPoseEstimator.random(seed=0, device="cpu").resolved().input_size == (240, 320)
    # settings from elsewhere (the window, the command line) leave the input size to the family
    seen = []
    hook = est.runnable_networks["handsegnet"].module.register_forward_pre_hook(
        lambda m, a: seen.append(tuple(a[0].shape[-2:])))
    try:
        est.estimate(synthetic_frame(), settings=PipelineSettings(crop_factor=1.5))
        est.estimate(synthetic_frame(), settings=PipelineSettings(input_size=(240, 320)))
    finally:
        hook.remove()
    assert seen == [(120, 160), (240, 320)]


def test_lite_estimator_and_weights_round_trip(tmp_path, lite_estimator):
    from handcam.weights import save_weights

    crop_size = registry.LITE.crop_size
    frame = synthetic_frame(seed=7)
    pose = lite_estimator.estimate(frame, with_crop=True).hand
    assert lite_estimator.architecture.name == "lite"
    assert pose.crop.shape == (crop_size, crop_size, 3)
    assert pose.keypoints_crop.max() < crop_size
    # scale is in network-input pixels; lite segments a 120x160 squash of this 240x320 frame
    ratio = frame.shape[1] / lite_estimator.resolved().input_size[1]
    np.testing.assert_allclose(pose.keypoints_2d, (pose.keypoints_crop - crop_size / 2) / pose.scale * ratio
                               + pose.center, atol=1e-4)
    path = save_weights(tmp_path / "lite.pt", {k: n.state_dict() for k, n in lite_estimator.networks.items()},
                        {"source": "test"}, architecture="lite")
    loaded = HandPoseEstimator.load(path, device="cpu")
    assert loaded.architecture.name == "lite" and isinstance(loaded.networks["posenet"], lite.PoseNet)
    assert loaded.metadata["path"] == str(path) and loaded.metadata["source"] == "test"
    again = loaded.estimate(frame).hand
    np.testing.assert_allclose(again.keypoints_2d, pose.keypoints_2d, atol=1e-3)
    np.testing.assert_allclose(again.keypoints_3d, pose.keypoints_3d, atol=1e-4)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cpu_and_cuda_agree(random_estimator):
    gpu = HandPoseEstimator(dict(random_estimator.networks), device="cuda")
    cpu = HandPoseEstimator.random(seed=0, device="cpu")
    assert gpu.describe().startswith("cuda (")
    for seed in range(3):
        f = synthetic_frame(seed=seed)
        a, b = cpu.estimate(f, with_mask=True).hand, gpu.estimate(f, with_mask=True).hand
        assert a.mask is not None and b.mask is not None
        np.testing.assert_array_equal(a.mask, b.mask)
        np.testing.assert_allclose(b.keypoints_3d, a.keypoints_3d, rtol=1e-3, atol=1e-3)
        assert np.abs(a.keypoints_2d - b.keypoints_2d).max() <= 1.0


# -- sides from the mask, presence ------------------------------------------------------------------
@pytest.mark.parametrize("side", ["left", "right"])
def test_auto_side_is_read_from_a_three_class_mask(side):
    est = blob_estimator("lite", side=side)
    assert est.predicts_sides and est.settings.hand_side == "auto"
    hand = est.estimate(synthetic_frame()).hand
    assert hand.side == side and hand.side_score == pytest.approx(1.0, abs=1e-3)
    # the lifting networks got that side: the same 3D as asking for it
    given = est.estimate(synthetic_frame(), est.settings.replace(hand_side=side)).hand
    np.testing.assert_allclose(hand.keypoints_3d, given.keypoints_3d, atol=1e-6)
    assert given.side_score is None


def test_an_explicit_side_overrides_the_mask():
    est = blob_estimator("lite", side="right")
    hand = est.estimate(synthetic_frame(), est.settings.replace(hand_side="left")).hand
    assert hand.side == "left" and hand.side_score is None
    right = est.estimate(synthetic_frame()).hand
    assert not np.allclose(hand.keypoints_3d, right.keypoints_3d)   # the one-hot reached the lifting networks


def test_auto_side_without_side_classes_falls_back():
    est = blob_estimator("lite")        # 2-class segmentation, like the paper's
    assert not est.predicts_sides
    hand = est.estimate(synthetic_frame()).hand
    assert hand.side == "left" and hand.side_score is None


def test_presence_says_whether_a_hand_is_there():
    est = blob_estimator("lite", side="right")
    with_hand = est.estimate(synthetic_frame())
    assert len(with_hand.hands) == 1 and with_hand.hand.presence > 0.99
    no_blob = np.ascontiguousarray(synthetic_frame()[:, :, ::-1])     # no skin-coloured pixel left
    empty = est.estimate(no_blob)
    assert empty.hands == () and empty.hand is None and empty.to_json()["hands"] == []
    strict = est.estimate(synthetic_frame(), est.settings.replace(presence_threshold=1.0))
    assert strict.hands == ()
    always = est.estimate(no_blob, est.settings.replace(presence_threshold=0.0))     # the release: always one
    assert len(always.hands) == 1 and always.hand.presence < 0.01


def test_tracking_keeps_the_detected_side():
    est = blob_estimator("lite", side="right")
    tracker = est.tracker(redetect_every=0, min_score=-1e9)
    first = tracker.process(synthetic_frame(), index=0).hands[0]
    second = tracker.process(synthetic_frame(), index=1).hands[0]
    assert second.tracked and second.side == first.side == "right"
    assert second.side_score == first.side_score


# -- the presence calibration of a weights file -------------------------------------------------------
def test_parse_calibration():
    assert PRESENCE_CALIBRATION_KEY == "presence_calibration"     # the weights files' key
    for text in ("2 -1", "2,-1", " 2  -1 ", "2, -1", "2.0\t-1e0"):
        value = parse_calibration(text)
        assert value == (2.0, -1.0) and all(isinstance(v, float) for v in value), text
    assert parse_calibration("29.6548 -11.0824") == (29.6548, -11.0824)
    assert parse_calibration(None) is None and parse_calibration("") is None


@pytest.mark.parametrize("text", ["x y", "1", "1 2 3", "-1 0", "0 1", "inf 0", "1 nan", "nan 1", "1 -inf"])
def test_parse_calibration_rejects_malformed_values(text):
    with pytest.raises(WeightsError, match=PRESENCE_CALIBRATION_KEY):
        parse_calibration(text)


def _blob_estimator_with(calibration: str | None) -> HandPoseEstimator:
    meta = {} if calibration is None else {PRESENCE_CALIBRATION_KEY: calibration}
    return HandPoseEstimator(blob_networks("lite", side="right"), architecture="lite", device="cpu",
                             runtime=RuntimeOptions(backend="torch"), metadata=meta)


def test_an_estimator_reads_its_calibration_from_the_metadata():
    assert _blob_estimator_with(None).presence_calibration is None
    assert HandPoseEstimator.random(seed=0, device="cpu", arch="lite").presence_calibration is None
    est = _blob_estimator_with("2 -1")
    assert est.presence_calibration == (2.0, -1.0) and est.metadata[PRESENCE_CALIBRATION_KEY] == "2 -1"
    with pytest.raises(WeightsError, match="a > 0"):
        _blob_estimator_with("-2 1")


def test_presence_is_calibrated_and_the_threshold_follows_it():
    raw_est, frame = _blob_estimator_with(None), synthetic_frame()
    no_blob = np.ascontiguousarray(frame[:, :, ::-1])
    every = PipelineSettings.release()
    raw = raw_est.estimate(frame, with_mask=True).hand
    raw_empty = raw_est.estimate(no_blob, every).hands[0]
    assert raw.presence == pytest.approx(1 / (1 + np.exp(-5)), abs=1e-5) and raw_empty.presence < 0.01

    def calibrated(presence, ab):
        return float(calibrated_presence(torch.tensor([presence]), ab)[0])

    est = _blob_estimator_with("2 -1")
    hand = est.estimate(frame, with_mask=True).hand
    assert hand.presence == pytest.approx(calibrated(raw.presence, (2.0, -1.0)), abs=1e-6)
    assert hand.presence == pytest.approx(1 / (1 + np.exp(-9)), abs=1e-5)          # sigmoid(2 * 5 - 1)
    np.testing.assert_array_equal(hand.mask, raw.mask)                             # only the score changes
    np.testing.assert_allclose(hand.keypoints_2d, raw.keypoints_2d, atol=1e-6)
    batch = est.estimate_batch([frame, no_blob], every)
    assert batch[0].hands[0].presence == pytest.approx(hand.presence, abs=1e-6)
    assert batch[1].hands[0].presence == pytest.approx(calibrated(raw_empty.presence, (2.0, -1.0)), abs=1e-6)

    # the threshold compares the calibrated presence: a calibration that lowers the blob's score to
    # sigmoid(5 - 6) loses the hand at the default 0.5, one that lifts the empty frame finds one
    low = _blob_estimator_with("1 -6")
    expected = calibrated(raw.presence, (1.0, -6.0))
    assert expected == pytest.approx(1 / (1 + np.e), abs=1e-4)                    # sigmoid(-1)
    assert low.estimate(frame, every).hands[0].presence == pytest.approx(expected, abs=1e-6)
    assert low.settings.presence_threshold == 0.5 and low.estimate(frame).hands == ()
    assert len(raw_est.estimate(frame).hands) == 1
    just_below = low.settings.replace(presence_threshold=expected - 0.01)
    just_above = low.settings.replace(presence_threshold=expected + 0.01)
    assert len(low.estimate(frame, just_below).hands) == 1
    assert low.estimate(frame, just_above).hands == ()
    assert len(raw_est.estimate(frame, just_above).hands) == 1                      # the raw 0.99 would pass
    high = _blob_estimator_with("1 12")
    lifted = high.estimate(no_blob, every).hands[0]
    assert lifted.presence == pytest.approx(calibrated(raw_empty.presence, (1.0, 12.0)), abs=1e-5)
    assert lifted.presence > 0.5 and raw_est.estimate(no_blob).hands == ()
    # a presence above the threshold but not one pixel above the mask threshold: nothing to crop, no hand
    assert lifted.mask_area == 0 and high.estimate(no_blob).hands == ()


@pytest.mark.parametrize("hw", [(240, 320), (97, 131)])
def test_upsampled_masks_are_torchs_nearest_neighbour(hw):
    from handcam.estimator import upsample_masks

    small = torch.from_numpy(np.random.default_rng(1).random((2, 30, 40)) > 0.5)
    want = F.interpolate(small[:, None].to(torch.uint8), size=hw, mode="nearest")[:, 0].bool().numpy()
    np.testing.assert_array_equal(upsample_masks(small.numpy(), hw), want)
    assert int(frame_mask_area(small, hw).sum()) == int(want.sum())


def test_tracked_boxes_follow_the_keypoints_on_wide_frames(lite_estimator):
    # a 16:9 frame squashed to 120 x 160 (different ratios per axis) with the crop cut from the frame: the
    # keypoints handed to the next frame are the frame keypoints in network-input pixels, per axis
    from handcam.transform import FrameTransform

    frame = synthetic_frame(360, 640, seed=4)
    settings = lite_estimator.resolved()
    results, keypoints_net = lite_estimator.run_frames([frame], settings)
    transform = FrameTransform.for_frame(frame.shape[:2], settings, lite_estimator.architecture.input_size,
                                         lite_estimator.architecture.crop_from_frame)
    assert transform.crop_from_frame and transform.frame_hw != tuple(2 * np.array(transform.net_hw))
    frame_rc = results[0].hands[0].keypoints_2d[None, :, ::-1].astype(np.float32)
    assert isinstance(keypoints_net, np.ndarray)      # host arrays: the next frame's box is worked out there
    np.testing.assert_allclose(keypoints_net, transform.forward(frame_rc), rtol=0, atol=1e-3)


# -- every hand: several hands, their sides, mirrored frames, presence, camera space -----------------
@pytest.fixture(scope="module")
def two_hands():
    return two_hand_estimator()


def _near(hand, frame_hw, where) -> bool:
    """Whether the hand's box centre lies within 15 % of the frame of ``where`` (row, col fractions)."""
    h, w = frame_hw
    cx, cy = (hand.box[0] + hand.box[2]) / 2, (hand.box[1] + hand.box[3]) / 2
    return abs(cy / h - where[0]) < 0.15 and abs(cx / w - where[1]) < 0.15


def test_every_hand_is_found_with_its_side(two_hands):
    frame = two_hand_frame(left=(0.5, 0.25), right=(0.45, 0.75))
    result = two_hands.estimate(frame, with_mask=True)
    assert [h.id for h in result.hands] == [0, 1]
    by_side = {h.side: h for h in result.hands}
    assert set(by_side) == {"left", "right"}
    assert _near(by_side["left"], frame.shape[:2], (0.5, 0.25))
    assert _near(by_side["right"], frame.shape[:2], (0.45, 0.75))
    for h in result.hands:
        assert h.side_score > 0.99 and h.presence > 0.99 and not h.tracked
        assert h.keypoints_2d.shape == (21, 2) and h.keypoints_3d.shape == (21, 3)
        assert not (h.mask & by_side["left" if h.side == "right" else "right"].mask).any()   # no shared pixel
    one = two_hands.estimate(frame, two_hands.settings.replace(max_hands=1))
    assert len(one.hands) == 1 and one.hand.presence == pytest.approx(result.hand.presence)
    j = result.to_json()
    assert [x["side"] for x in j["hands"]] == [h.side for h in result.hands] and len(j["hands"]) == 2


def test_no_hand_gives_no_hands_and_batches_keep_frames_apart(two_hands):
    empty = two_hand_frame(left=None, right=None)
    assert two_hands.estimate(empty).hands == ()
    assert two_hands.estimate(empty).to_json()["hands"] == []
    frames = [two_hand_frame(), empty, two_hand_frame(left=None), two_hand_frame(right=(0.3, 0.8), left=(0.7, 0.2))]
    batch = two_hands.estimate_batch(frames)
    assert [len(r.hands) for r in batch] == [2, 0, 1, 2]
    assert batch[2].hand.side == "right" and [h.id for h in batch[3].hands] == [0, 1]
    for r, f in zip(batch, frames):                 # the same hands as one frame at a time
        alone = two_hands.estimate(f)
        assert [h.side for h in r.hands] == [h.side for h in alone.hands]
        for a, b in zip(r.hands, alone.hands):
            np.testing.assert_allclose(a.keypoints_2d, b.keypoints_2d, atol=1e-3)
            np.testing.assert_allclose(a.keypoints_3d, b.keypoints_3d, atol=1e-4)


def test_mirrored_frames_report_the_persons_side_and_lift_the_images(two_hands):
    frame = two_hand_frame(left=(0.5, 0.25), right=(0.45, 0.75))
    mirror = np.ascontiguousarray(frame[:, ::-1])
    seen = two_hands.estimate(mirror)                                     # as the image shows them
    told = two_hands.estimate(mirror, two_hands.settings.replace(mirrored=True))
    assert [h.side for h in told.hands] == [{"left": "right", "right": "left"}[h.side] for h in seen.hands]
    for a, b in zip(seen.hands, told.hands):         # the lifting networks got the image's side both times
        np.testing.assert_allclose(a.keypoints_3d, b.keypoints_3d, atol=1e-6)
        np.testing.assert_allclose(a.keypoints_2d, b.keypoints_2d, atol=1e-6)
    # in a mirror the person's left hand shows as a right hand at the mirrored place (the stand-in network
    # tells sides by colour: the mirror image swaps them): told it is mirrored, the side stays with the hand
    original = {h.side: h for h in two_hands.estimate(frame).hands}
    mirror_scene = two_hand_frame(left=(0.45, 0.25), right=(0.5, 0.75))
    for h in two_hands.estimate(mirror_scene, two_hands.settings.replace(mirrored=True)).hands:
        x = (h.box[0] + h.box[2]) / 2
        x0 = (original[h.side].box[0] + original[h.side].box[2]) / 2
        assert abs(x - (frame.shape[1] - 1 - x0)) < 3
    # an explicit side names the person's hand: mirrored, the lifting networks get the other one
    right = two_hands.settings.replace(hand_side="right")
    plain = two_hands.estimate(mirror, right.replace(hand_side="left"))
    flipped = two_hands.estimate(mirror, right.replace(mirrored=True))
    assert all(h.side == "right" and h.side_score is None for h in flipped.hands)
    for a, b in zip(plain.hands, flipped.hands):
        np.testing.assert_allclose(a.keypoints_3d, b.keypoints_3d, atol=1e-6)


def test_camera_space_3d_reprojects_onto_the_keypoints(two_hands):
    from handcam.camera import Intrinsics, camera_keypoints
    from handcam.estimator import CAMERA_REFINE_STEPS
    from handcam.handsize import fit_scale, scale_for_hand_length

    frame = two_hand_frame()
    k = Intrinsics.from_fov(frame.shape[:2], two_hands.settings.fov_deg)
    bone = two_hands.settings.replace(hand_size="bone")
    for settings in (two_hands.settings, bone):
        result = two_hands.estimate(frame, settings)
        for h in result.hands:
            cam = h.keypoints_3d_camera
            assert cam is not None and cam.shape == (21, 3) and not cam.flags.writeable and cam[0, 2] > 0
            # the hand's scale: fitted to the mean hand (hand_size "auto", the default), or the assumed bone
            scale = fit_scale(h.keypoints_3d) if settings.hand_size == "auto" else settings.bone_length_m
            assert h.camera_scale == pytest.approx(float(scale), rel=1e-5)
            # the normalised hand (bone 12-11 of length 1 for trained networks) scaled by it
            np.testing.assert_allclose(cam - cam[0], h.camera_scale * (h.keypoints_3d - h.keypoints_3d[0]), atol=1e-6)
            # the estimator's solve: the 2D keypoints, their scores as weights, one Gauss-Newton step
            again = camera_keypoints(h.keypoints_3d, h.keypoints_2d, k, h.camera_scale, h.keypoint_scores,
                                     refine_steps=CAMERA_REFINE_STEPS)
            np.testing.assert_allclose(cam, np.asarray(again), rtol=1e-4, atol=1e-6)
        # a longer bone puts the same hand farther away, in proportion (a bigger mean hand, for "auto")
        far = two_hands.estimate(frame, settings.replace(bone_length_m=0.09)).hands[0]
        np.testing.assert_allclose(far.keypoints_3d_camera, 2 * result.hands[0].keypoints_3d_camera, rtol=1e-3,
                                   atol=1e-6)
        # intrinsics override the field of view
        given = settings.replace(intrinsics=(k.fx, k.fy, k.cx, k.cy), fov_deg=20.0)
        np.testing.assert_allclose(two_hands.estimate(frame, given).hands[0].keypoints_3d_camera,
                                   result.hands[0].keypoints_3d_camera, atol=1e-6)
    # the user's hand length: the mean hand scaled to it, whatever the bone length
    mine = two_hands.estimate(frame, bone.replace(hand_size=0.2, bone_length_m=0.09)).hands[0]
    assert mine.camera_scale == pytest.approx(scale_for_hand_length(0.2))
    np.testing.assert_allclose(mine.keypoints_3d_camera, result.hands[0].keypoints_3d_camera * mine.camera_scale
                               / bone.bone_length_m, rtol=1e-3, atol=1e-6)


def test_estimate_video_holds_each_hands_scale_steady(two_hands):
    frames = [two_hand_frame(seed=i) for i in range(4)]
    fitted = two_hands.settings.replace(hand_size="auto")
    raw = [{h.side: h.camera_scale for h in r.hands} for r in two_hands.estimate_batch(frames, fitted)]
    video = list(two_hands.estimate_video(frames, batch_size=len(frames), settings=fitted))
    for side in ("left", "right"):
        seen = [r[side] for r in raw]
        steady = [next(h for h in r.hands if h.side == side).camera_scale for r in video]
        assert len(set(seen)) > 1                                                  # random networks: they vary
        assert steady[0] == pytest.approx(seen[0], rel=1e-6)
        assert steady[2] == pytest.approx(sorted(seen[:3])[1], rel=1e-6)          # the running median


def test_estimate_video_keeps_each_hands_id(two_hands):
    # the right hand rises: from the second frame on it is found first (its top row comes first); ids stay
    frames = [two_hand_frame(left=(0.5, 0.25), right=(0.5 - 0.03 * i, 0.75), seed=i) for i in range(5)]
    assert [h.side for h in two_hands.estimate(frames[-1]).hands] == ["right", "left"]
    ids = [{h.side: h.id for h in r.hands} for r in two_hands.estimate_video(frames, batch_size=2)]
    assert all(i == ids[0] for i in ids) and sorted(ids[0].values()) == [0, 1]


# -- re-cropping around the first keypoints ----------------------------------------------------------
def _refine_frame() -> np.ndarray:
    """Two hands large enough that half a crop around one is still above the smallest crop."""
    return two_hand_frame(left=(0.5, 0.25), right=(0.5, 0.75), size=0.22)


def _posenet_batches(est: HandPoseEstimator, frame: np.ndarray, settings: PipelineSettings):
    """(the result, the batch size of each PoseNet call)."""
    batches = []
    hook = est.runnable_networks["posenet"].module.register_forward_pre_hook(
        lambda m, a: batches.append(len(a[0])))
    try:
        result = est.estimate(frame, settings)
    finally:
        hook.remove()
    return result, batches


@pytest.mark.parametrize("meta, settings, batches", [
    (None, PipelineSettings(), [2]),                                        # auto, weights without the key: off
    ({"refine_crops": "True"}, PipelineSettings(), [2, 1]),                 # auto, weights trained for it: on
    ({"refine_crops": "false"}, PipelineSettings(), [2]),
    ({"refine_crops": "True"}, PipelineSettings(refine_crops="off"), [2]),
    (None, PipelineSettings(refine_crops="on"), [2, 1]),
    ({"refine_crops": "True"}, PipelineSettings.release(), [1]),           # the release's settings: off
    ({"refine_crops": "True"}, PipelineSettings.release(max_hands=2), [2]),
])
def test_refine_crops_auto_follows_the_weights(meta, settings, batches):
    """The right hand's keypoints span half its crop (``RingPoseNet``'s right_spread): it is re-cropped when
    refinement is on; the left hand's fit theirs and are not."""
    est = two_hand_estimator(ring_keypoints=True, right_spread=0.5, metadata=meta, layout="contiguous")
    assert est.refine_trained is (meta is not None and meta["refine_crops"] == "True")
    result, seen = _posenet_batches(est, _refine_frame(), settings)
    assert seen == batches and len(result.hands) == batches[0]


def test_refined_hands_report_the_second_crop():
    est = two_hand_estimator(ring_keypoints=True, right_spread=0.5, layout="contiguous")
    frame = _refine_frame()
    off = {h.side: h for h in est.estimate(frame, PipelineSettings(refine_crops="off")).hands}
    on = {h.side: h for h in est.estimate(frame, PipelineSettings(refine_crops="on")).hands}
    np.testing.assert_array_equal(on["left"].box, off["left"].box)
    np.testing.assert_array_equal(on["left"].keypoints_2d, off["left"].keypoints_2d)
    width_on, width_off = (hands["right"].box[2] - hands["right"].box[0] for hands in (on, off))
    assert width_on == pytest.approx(width_off / 2, rel=0.1)
    np.testing.assert_allclose(on["right"].center, off["right"].keypoints_2d[12], atol=1.0)
    assert on["right"].scale == pytest.approx(2 * off["right"].scale, rel=0.1)


def test_hands_below_the_keypoint_score_floor_are_dropped():
    est = two_hand_estimator(seed=3, ring_keypoints=True, graded=True)
    frame = _refine_frame()
    every = est.estimate(frame, PipelineSettings(min_keypoint_score=0.0)).hands
    assert len(every) == 2
    scores = sorted(float(np.mean(h.keypoint_scores)) for h in every)
    assert 0 < scores[0] < scores[1] < 0.99                                        # graded: the hands differ
    for floor in (scores[0] / 2, (scores[0] + scores[1]) / 2, scores[1] + 0.01):
        kept = est.estimate(frame, PipelineSettings(min_keypoint_score=floor)).hands
        assert sorted(float(np.mean(h.keypoint_scores)) for h in kept) == [s for s in scores if s >= floor]
        assert [h.id for h in kept] == list(range(len(kept)))                       # ids stay 0..n-1
    # auto: the weights' floor (none: every hand); the release reports its one hand whatever it scores
    high = f"{scores[1] + 0.01:.4f}"
    assert len(two_hand_estimator(seed=3, ring_keypoints=True, graded=True).estimate(frame).hands) == 2
    floored = two_hand_estimator(seed=3, ring_keypoints=True, graded=True, metadata={"min_keypoint_score": high})
    assert floored.keypoint_score_floor == pytest.approx(float(high))
    assert floored.estimate(frame).hands == ()
    assert len(floored.estimate(frame, PipelineSettings(min_keypoint_score=0)).hands) == 2
    assert len(floored.estimate(frame, PipelineSettings.release()).hands) == 1


def test_a_malformed_keypoint_score_floor_is_a_weights_error():
    for bad in ("high", "1.5", "-0.2"):
        with pytest.raises(WeightsError, match="min_keypoint_score"):
            two_hand_estimator(metadata={"min_keypoint_score": bad})


def test_a_malformed_refine_flag_is_a_weights_error():
    with pytest.raises(WeightsError, match="refine_crops"):
        two_hand_estimator(metadata={"refine_crops": "perhaps"})
