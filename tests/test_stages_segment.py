"""handcam.stages.segment: the single-object mask (release semantics; OpenCV and torch bit-identical),
the hand probability, the segmentation stage and its hand box."""
import numpy as np
import pytest
import torch
from conftest import synthetic_frame
from core_fakes import BlobSegNet, TwoSidedBlobSegNet, two_hand_frame

from handcam import geometry as G
from handcam.stages.crop import HandBox
from handcam.stages.segment import (
    GROW_FILTER,
    Segmentation,
    calibrated_presence,
    find_hands,
    grow_passes,
    hand_probability,
    resolve_mask_method,
    segment,
    single_object_mask,
)


def _logits_from_prob(p: np.ndarray) -> torch.Tensor:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return torch.from_numpy(np.stack([np.zeros_like(p), np.log(p / (1 - p))])[None].astype(np.float32))


# ---------------------------------------------------------------- the release's semantics
def test_single_object_mask_keeps_most_confident_region():
    p = np.full((60, 100), 0.1)
    p[10:30, 5:25] = 0.8       # region A
    p[10:30, 50:70] = 0.9      # region B, more confident; 25 px gap: not reachable in 21-px steps
    p[20, 60] = 0.99
    p[39:49, 76:90] = 0.7      # region C, 10 rows below and 7 cols right of B: in reach, joins B
    mask, prob = single_object_mask(_logits_from_prob(p))
    m = mask[0].numpy()
    assert not m[10:30, 5:25].any()
    assert m[10:30, 50:70].all() and m[39:49, 76:90].all()
    assert m.sum() == 400 + 140
    np.testing.assert_allclose(prob[0].numpy(), p, rtol=1e-5)


def test_single_object_mask_threshold_and_tie_rounding():
    p = np.full((40, 40), 0.1)
    p[10:20, 10:20] = 0.6
    p[15, 15] = 0.7
    p[10:20, 20:22] = 0.5      # exactly 0.5 rounds to 0 (ties to even), as tf.round does
    assert single_object_mask(_logits_from_prob(p))[0].sum() == 100
    assert single_object_mask(_logits_from_prob(p), threshold=0.45)[0].sum() == 120
    assert single_object_mask(_logits_from_prob(p), threshold=0.65)[0].sum() == 1


def test_single_object_mask_grows_10px_per_pass():
    p = np.full((8, 320), 0.1)
    p[4, :] = 0.8
    p[4, 0] = 0.95             # seed at the left end of a 320-px line
    full = single_object_mask(_logits_from_prob(p))[0][0].numpy()
    assert full[4].all()       # 320 // 10 = 32 passes reach the far end
    few = single_object_mask(_logits_from_prob(p), passes=5)[0][0].numpy()
    assert few[4, :51].all() and not few[4, 51:].any()


def test_grow_passes():
    assert GROW_FILTER == 21
    assert grow_passes(240, 320) == 32 and grow_passes(8, 320) == 32 and grow_passes(120, 160) == 16
    assert grow_passes(9, 9) == 0


# ---------------------------------------------------------------- OpenCV == torch, exactly
def _blobs(b, h, w, seed):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.0, 0.45, (b, h, w))
    for i in range(b):
        for _ in range(rng.integers(1, 6)):
            y, x = rng.integers(0, h), rng.integers(0, w)
            ry, rx = rng.integers(2, h // 3 + 3), rng.integers(2, w // 3 + 3)
            p[i, max(0, y - ry):y + ry, max(0, x - rx):x + rx] = rng.uniform(0.5, 1.0)
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return torch.from_numpy(np.stack([np.zeros_like(p), np.log(p / (1 - p))], 1).astype(np.float32))


@pytest.mark.parametrize("shape,passes", [((3, 240, 320), None), ((2, 60, 100), None), ((1, 37, 53), 3),
                                          ((2, 240, 320), 40)])
def test_opencv_mask_equals_torch_mask(shape, passes):
    logits = _blobs(*shape, seed=sum(shape))
    a, pa = single_object_mask(logits, passes=passes, method="torch")
    b, pb = single_object_mask(logits, passes=passes, method="opencv")
    assert a.dtype == b.dtype == torch.bool
    assert torch.equal(a, b) and torch.equal(pa, pb)
    assert a.any()


def test_opencv_mask_edge_cases_equal_torch():
    empty = torch.stack([torch.zeros(2, 40, 60), torch.full((2, 40, 60), -5.0)], 1)  # no foreground
    corner = _blobs(2, 40, 60, seed=7)
    corner[:, 1, :, :] = -5.0
    corner[0, 1, 0, 0], corner[1, 1, 39, 59] = 5.0, 5.0           # one foreground pixel in a corner
    for logits in (empty, corner, _blobs(3, 50, 70, seed=8)):
        for passes in (0, 1, 2, None):
            a, _ = single_object_mask(logits, passes=passes, method="torch")
            b, _ = single_object_mask(logits, passes=passes, method="opencv")
            assert torch.equal(a, b), passes


def test_resolve_mask_method():
    assert resolve_mask_method("auto", torch.device("cpu")) == "opencv"
    assert resolve_mask_method("auto", torch.device("cuda")) == "torch"
    assert resolve_mask_method("torch", torch.device("cpu")) == "torch"
    assert resolve_mask_method("opencv", torch.device("cpu")) == "opencv"
    with pytest.raises(ValueError, match="mask method"):
        resolve_mask_method("scipy", torch.device("cpu"))


# ---------------------------------------------------------------- the stage
def test_hand_probability_is_float32_softmax():
    logits = torch.tensor([[[[0.0, 1.0]], [[0.0, -1.0]]]])  # 1 x 2 x 1 x 2
    p = hand_probability(logits.to(torch.bfloat16))
    assert p.dtype == torch.float32 and p.shape == (1, 1, 2)
    np.testing.assert_allclose(p.numpy(), torch.softmax(logits, 1)[:, 1].numpy(), rtol=1e-2)
    np.testing.assert_allclose(hand_probability(logits)[0, 0].numpy(), [0.5, 1 / (1 + np.e ** 2)], rtol=1e-6)


@pytest.mark.parametrize("method", ["torch", "opencv"])
def test_segment_runs_the_network_and_keeps_one_hand(method):
    frames = torch.from_numpy(np.stack([synthetic_frame(120, 160, seed=s) for s in range(2)]))
    image = G.normalize_image(frames)
    seg = segment(BlobSegNet(), image, 0.5, method)
    assert isinstance(seg, Segmentation)
    logits = BlobSegNet()(image)
    mask, prob = single_object_mask(logits, 0.5, method=method)
    assert isinstance(seg.mask, np.ndarray) and seg.mask.dtype == bool
    assert isinstance(seg.presence, np.ndarray) and seg.presence.dtype == np.float32
    assert isinstance(seg.frame_index, np.ndarray) and seg.frame_index.tolist() == [0, 1]
    assert seg.right is None and seg.hand_side() is None           # a 2-class network: no sides
    assert torch.equal(seg.logits, logits) and torch.equal(seg.probability, prob)
    np.testing.assert_array_equal(seg.mask, mask.numpy())
    assert seg.mask.shape == (2, 120, 160) and seg.mask.any(axis=(1, 2)).all()
    np.testing.assert_allclose(seg.presence, prob.reshape(2, -1).amax(1).numpy(), rtol=1.3e-6, atol=1e-5)
    assert (seg.presence > 0.99).all()  # the blob's colour is certain
    stricter = segment(BlobSegNet(), image, 0.995, method)  # above the net's peak sigmoid(5) = 0.9933
    assert not stricter.mask.any()
    np.testing.assert_array_equal(stricter.presence, seg.presence)


def test_hand_box_is_the_mask_bounding_box():
    mask = np.zeros((2, 240, 320), dtype=bool)
    mask[0, 0:10, 300:320] = True
    seg = Segmentation(torch.zeros(2, 2, 240, 320), torch.zeros(2, 240, 320), mask, np.zeros(2, np.float32))
    assert seg.frame_index.tolist() == [0, 1]       # one hand per frame by default
    box = seg.hand_box(1.5)
    assert isinstance(box, HandBox) and box.factor == 1.5
    assert isinstance(box.center, np.ndarray) and isinstance(box.size, np.ndarray)
    np.testing.assert_array_equal(box.center, [[4.5, 309.5], [160, 160]])  # empty: the release's fallback
    np.testing.assert_array_equal(box.size, [19, 100])
    # a tensor mask gives the same box, as tensors
    center, size = G.mask_center_and_size(torch.from_numpy(mask))
    assert isinstance(center, torch.Tensor) and isinstance(size, torch.Tensor)
    np.testing.assert_array_equal(center.numpy(), box.center)
    np.testing.assert_array_equal(size.numpy(), box.size)


# ---------------------------------------------------------------- the presence calibration
def test_calibrated_presence_without_a_calibration_is_the_peak():
    peak = torch.tensor([0.0, 0.3, 0.9933, 1.0])
    assert torch.equal(calibrated_presence(peak), peak) and torch.equal(calibrated_presence(peak, None), peak)


def test_calibrated_presence_values():
    peak = torch.tensor([0.01, 0.2, 0.5, 0.8, 0.99])
    torch.testing.assert_close(calibrated_presence(peak, (1.0, 0.0)), peak, atol=1e-6, rtol=0)   # the identity
    out = calibrated_presence(peak, (2.0, -1.0))
    assert out.dtype == peak.dtype and out.shape == peak.shape
    # sigmoid(2 * logit(p) - 1) = p^2 / (p^2 + e (1 - p)^2)
    p = peak.double()
    expected = p ** 2 / (p ** 2 + np.e * (1 - p) ** 2)
    torch.testing.assert_close(out.double(), expected, atol=1e-6, rtol=0)
    assert float(out[2]) == pytest.approx(1 / (1 + np.e), abs=1e-6)        # peak 0.5: sigmoid(-1)
    assert float(out[3]) == pytest.approx(16 / (16 + np.e), abs=1e-6)      # peak 0.8: sigmoid(2 ln 4 - 1)
    # the ends are clipped to 1e-6 from 0 and 1, so they stay finite
    ends = calibrated_presence(torch.tensor([0.0, 1.0]), (2.0, -1.0))
    assert torch.isfinite(ends).all() and 0 < float(ends[0]) < 1e-11 and float(ends[1]) == pytest.approx(1.0)


@pytest.mark.parametrize("calibration", [(2.0, -1.0), (0.5, 3.0), (30.0, -11.0)])
def test_calibrated_presence_rises_with_the_peak(calibration):
    peak = torch.linspace(0.0, 1.0, 1001, dtype=torch.float64)
    out = calibrated_presence(peak, calibration)
    assert (out.diff() >= 0).all() and ((out >= 0) & (out <= 1)).all()
    middle = (peak >= 0.2) & (peak <= 0.8)              # away from where float64 saturates for a = 30
    assert (out[middle].diff() > 0).all()


@pytest.mark.parametrize("method", ["torch", "opencv"])
def test_segment_applies_the_presence_calibration(method):
    frames = torch.from_numpy(np.stack([synthetic_frame(120, 160, seed=s) for s in range(2)]))
    frames[1] = frames[1].flip(-1)                  # the second frame without skin colour: a low peak
    image = G.normalize_image(frames)
    raw = segment(BlobSegNet(), image, 0.5, method)
    cal = segment(BlobSegNet(), image, 0.5, method, presence_calibration=(2.0, -1.0))
    assert isinstance(cal.presence, np.ndarray) and cal.presence.dtype == np.float32
    np.testing.assert_allclose(cal.presence, calibrated_presence(raw.presence, (2.0, -1.0)), rtol=1.3e-6, atol=1e-5)
    assert float(raw.presence[0]) == pytest.approx(1 / (1 + np.exp(-5)), abs=1e-6)     # the net's peak sigmoid(5)
    assert float(cal.presence[0]) == pytest.approx(1 / (1 + np.exp(-9)), abs=1e-6)     # sigmoid(2 * 5 - 1)
    assert float(cal.presence[1]) < float(raw.presence[1]) < 0.5
    # only the presence changes: the mask, probability and box are the uncalibrated ones
    np.testing.assert_array_equal(cal.mask, raw.mask)
    assert torch.equal(cal.probability, raw.probability) and torch.equal(cal.logits, raw.logits)
    identity = segment(BlobSegNet(), image, 0.5, method, presence_calibration=None)
    np.testing.assert_array_equal(identity.presence, raw.presence)


# ---------------------------------------------------------------- every hand: find_hands
def _classes(left: np.ndarray, right: np.ndarray | None = None) -> torch.Tensor:
    """Class probabilities 1 x C x H x W from hand probabilities per side (2 classes when ``right`` is None)."""
    if right is None:
        return torch.from_numpy(np.stack([1 - left, left])[None].astype(np.float32))
    return torch.from_numpy(np.stack([1 - left - right, left, right])[None].astype(np.float32))


@pytest.mark.parametrize("method", ["torch", "opencv"])
def test_find_hands_one_region_per_hand_in_confidence_order(method):
    p = np.full((60, 100), 0.02)
    p[10:30, 5:25] = 0.8       # hand A
    p[10:30, 50:70] = 0.9      # hand B (more confident), 25 px from A: another region
    p[20, 60] = 0.99
    masks, presence, right, frame = find_hands(_classes(p), max_hands=2, method=method)
    assert masks.shape == (2, 60, 100) and right is None and frame.tolist() == [0, 0]
    assert isinstance(masks, np.ndarray) and masks.dtype == bool
    assert isinstance(presence, np.ndarray) and presence.dtype == np.float32
    assert isinstance(frame, np.ndarray) and frame.dtype == np.int64
    np.testing.assert_allclose(presence, [0.99, 0.8], rtol=1e-5)
    assert masks[0, 10:30, 50:70].all() and masks[0].sum() == 400           # B first: the release's mask
    assert masks[1, 10:30, 5:25].all() and masks[1].sum() == 400
    release, _ = single_object_mask(_logits_from_prob(p), method=method)
    one = find_hands(_classes(p), max_hands=1, method=method)[0]
    np.testing.assert_array_equal(one, release.numpy())                     # max_hands=1: the release
    np.testing.assert_array_equal(masks[:1], release.numpy())
    assert len(find_hands(_classes(p), max_hands=2, min_presence=0.85, method=method)[0]) == 1


def test_find_hands_batches_frames_of_different_counts():
    two = np.full((40, 80), 0.02)
    two[5:20, 5:20], two[5:20, 50:70] = 0.9, 0.8
    none = np.full((40, 80), 0.02)
    one = np.full((40, 80), 0.02)
    one[20:35, 30:45] = 0.7
    classes = torch.cat([_classes(two), _classes(none), _classes(one)])
    masks, presence, _, frame = find_hands(classes, max_hands=3, min_presence=0.5)
    assert frame.tolist() == [0, 0, 2] and masks.shape[0] == 3
    assert masks[2, 20:35, 30:45].all() and masks[2].sum() == 225
    # the release reports every frame's most confident region, even the empty frame's
    masks, presence, _, frame = find_hands(classes, max_hands=1)
    assert frame.tolist() == [0, 1, 2] and masks[1].sum() == 0 and presence[1] == pytest.approx(0.02)


def test_find_hands_drops_fragments_and_duplicates():
    p = np.full((80, 120), 0.02)
    p[10:50, 10:40] = 0.9      # a hand, 1200 px
    p[60:64, 100:104] = 0.95   # a 16-px blob: a fragment, not a hand, although confident
    masks, presence, _, _ = find_hands(_classes(p), max_hands=2)
    # the blob holds the global peak: it is the first hand (the release's mask); the real hand (75x larger)
    # is not a fragment of it. A fragment after a hand is dropped:
    assert len(masks) == 2 and masks[0].sum() == 16 and masks[1].sum() == 1200
    p[60:64, 100:104] = 0.6
    masks, _, _, _ = find_hands(_classes(p), max_hands=2)
    assert len(masks) == 1 and masks[0].sum() == 1200
    # a second region mostly inside the first hand's box (beyond reach of its growth) is the same hand
    q = np.full((100, 100), 0.02)
    q[10:90, 10:22] = 0.9      # two bars 20 px apart: their growth does not join them
    q[10:90, 42:90] = 0.8
    q[40:60, 28:31] = 0.7      # 6 px from the left bar (joins it), 11 from the right block
    masks, _, _, _ = find_hands(_classes(q), max_hands=2)
    assert len(masks) == 2                                                   # side by side: two hands
    q2 = np.full((100, 100), 0.02)
    q2[10:90, 10:90] = 0.9
    q2[30:70, 30:70] = 0.02    # a ring ...
    q2[45:55, 45:55] = 0.85    # ... with a blob in its hole, 15 px from the ring: inside the ring's box
    masks, _, _, _ = find_hands(_classes(q2), max_hands=2)
    assert len(masks) == 1


def test_find_hands_splits_touching_left_and_right_hands():
    h, w = 60, 100
    left, right = np.full((h, w), 0.01), np.full((h, w), 0.01)
    left[10:50, 20:50] = 0.95                  # a left hand touching a right hand: one region
    right[10:50, 50:80] = 0.95
    masks, presence, share, frame = find_hands(_classes(left, right), max_hands=2)
    assert len(masks) == 2
    sides = (share > 0.5).tolist()
    assert sorted(sides) == [False, True]
    lm, rm = masks[sides.index(False)], masks[sides.index(True)]
    assert lm[10:50, 20:50].all() and lm.sum() == 1200 and rm[10:50, 50:80].all() and rm.sum() == 1200
    # one hand only, or max_hands=1: not split; the side is the majority's
    masks, _, share, _ = find_hands(_classes(left, right), max_hands=1)
    assert len(masks) == 1 and masks[0].sum() == 2400
    # one hand whose pixels' sides are mixed through each other (the network unsure): not split
    rng = np.random.default_rng(0)
    mixed = rng.uniform(size=(h, w)) < 0.5
    l2, r2 = np.full((h, w), 0.01), np.full((h, w), 0.01)
    l2[10:50, 20:80] = np.where(mixed, 0.7, 0.25)[10:50, 20:80]
    r2[10:50, 20:80] = np.where(mixed, 0.25, 0.7)[10:50, 20:80]
    masks, _, share, _ = find_hands(_classes(l2, r2), max_hands=2)
    assert len(masks) == 1 and masks[0].sum() == 2400 and 0.3 < float(share[0]) < 0.7


def test_segment_finds_every_hand_with_its_frame_index():
    frame = two_hand_frame()
    image = G.normalize_image(torch.from_numpy(np.stack([frame, frame])))
    seg = segment(TwoSidedBlobSegNet(), image, max_hands=2, min_presence=0.5)
    assert seg.frame_index.tolist() == [0, 0, 1, 1] and seg.mask.shape == (4, 240, 320)
    assert seg.presence.shape == (4,) and seg.hand_side().shape == (4, 2)
    assert isinstance(seg.hand_side(), np.ndarray) and seg.hand_side().dtype == np.float32
    assert isinstance(seg.right, np.ndarray) and seg.right.dtype == np.float32
    assert isinstance(seg.frame_index, np.ndarray) and seg.frame_index.dtype == np.int64
    assert sorted(seg.hand_side()[:2, 1].tolist()) == [0.0, 1.0]            # a left and a right hand
    assert seg.hand_side()[2:].tolist() == seg.hand_side()[:2].tolist()     # the same in both frames
    box = seg.hand_box(1.25)
    assert box.center.shape == (4, 2) and box.size.shape == (4,)
    none = segment(TwoSidedBlobSegNet(), image[:, :, :, :40], max_hands=2, min_presence=0.5)   # no blob there
    assert none.mask.shape[0] == 0 and none.frame_index.shape == (0,) and none.hand_box(1.25).size.shape == (0,)


def test_find_hands_no_hand_without_a_pixel_above_the_mask_threshold():
    p = np.full((40, 60), 0.02)
    p[10:20, 10:20] = 0.9
    # a mask threshold above every probability: the release still reports its (empty) region ...
    masks, presence, _, _ = find_hands(_classes(p), threshold=0.95, max_hands=1)
    assert len(masks) == 1 and masks[0].sum() == 0 and presence[0] == pytest.approx(0.9)
    # ... but once a presence is asked for, an empty region is no hand (nothing to crop around)
    masks, _, _, _ = find_hands(_classes(p), threshold=0.95, max_hands=2, min_presence=0.5)
    assert len(masks) == 0


def test_find_hands_does_not_split_a_hand_whose_parts_are_unsure_of_their_side():
    h, w = 60, 100
    left, right = np.full((h, w), 0.01), np.full((h, w), 0.01)
    # fingers read as 60 % right, the palm as 70 % left: side by side, but neither part sure of its side
    left[10:30, 30:60], right[10:30, 30:60] = 0.38, 0.57
    left[30:50, 30:60], right[30:50, 30:60] = 0.66, 0.29
    masks, _, share, _ = find_hands(_classes(left, right), max_hands=2)
    assert len(masks) == 1 and masks[0].sum() == 1200
    # the same layout with sure parts is two hands
    left[10:30, 30:60], right[10:30, 30:60] = 0.03, 0.92
    left[30:50, 30:60], right[30:50, 30:60] = 0.92, 0.03
    assert len(find_hands(_classes(left, right), max_hands=2)[0]) == 2
