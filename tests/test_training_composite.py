"""training/composite.py: composited frames on colour-coded donors and backgrounds (labels where the hand's
colour is, sizes in the drawn range, determinism, occlusion, the forearm as background), the camera
degradations, the contact sheet; training/mixed.py's wrong boxes for PoseNet."""
import dataclasses

import cv2
import numpy as np
import pytest
from training_support import ArrayFrames

from training.composite import (
    CompositeFrames,
    CompositeOptions,
    camera,
    contact_sheet,
    planned_hands,
    skin_map,
    visible_in,
)
from training.crops import HandCrops, jittered_box
from training.mixed import (
    BACKGROUND,
    CENTER_KEYPOINT,
    IGNORE,
    LEFT,
    RIGHT,
    Geometric,
    Hand,
    Mixture,
)

RED, BLUE, GREEN = (255, 0, 0), (0, 0, 255), (0, 200, 0)
NO_CAMERA = dict(grayscale=0.0, infrared=0.0, low_res=0.0, motion_blur=0.0, noise=0.0, jpeg=0.0, cast=0.0,
                 skin_shift=0.0, procedural=0.0, on_skin=0.0)


def _donor(side: int = 0):
    """A 96 x 96 blue frame with a red 'hand' square (rows/cols 30-65) labelled ``side``, its ignore
    border one pixel wide, and 21 keypoints on a grid inside the square (keypoint 12 in the middle,
    keypoint 0 below it: the palm root towards the wrist)."""
    img = np.zeros((96, 96, 3), np.uint8)
    img[:] = BLUE
    img[30:66, 30:66] = RED
    mask = np.zeros((96, 96), np.uint8)
    mask[29:67, 29:67] = IGNORE
    mask[30:66, 30:66] = LEFT if side == 0 else RIGHT
    g = np.linspace(34, 62, 5)
    uv = np.array([(x, y) for y in g for x in g][:20] + [(48, 48)], np.float32)
    uv[[0, 12, 20]] = uv[[20, 0, 12]]      # 0 at the grid's corner row, 12 in the middle
    uv[0], uv[CENTER_KEYPOINT] = (48, 62), (48, 48)
    hand = Hand(uv, np.ones(21, bool), side)
    return ArrayFrames([img], [mask], [[hand]], name=f"donor{side}")


def _frames(n=40, **changes) -> CompositeFrames:
    options = CompositeOptions(frames=n, **{**NO_CAMERA, **changes})
    background = ArrayFrames([np.full((120, 160, 3), GREEN, np.uint8)], name="green")
    return CompositeFrames([(_donor(0), 1.0), (_donor(1), 1.0)], [background], options, seed=3)


def _is(img, colour, tol=40):
    return np.all(np.abs(img.astype(int) - colour) <= tol, axis=-1)


def _nearest(img) -> np.ndarray:
    """Per pixel, which of red, green, blue it is closest to (0, 1, 2)."""
    palette = np.array([RED, GREEN, BLUE], np.float64)
    return np.argmin(((img[..., None, :].astype(np.float64) - palette) ** 2).sum(-1), axis=-1)


def test_cut_out_hands_are_labelled_where_their_colour_is():
    frames = _frames(context=0.0)
    seen_hands = 0
    for i in range(len(frames)):
        img, lab, hands = frames.frame(i)
        assert img.dtype == np.uint8 and img.shape[:2] == lab.shape and img.shape[2] == 3
        sure_hand = np.isin(lab, (LEFT, RIGHT))
        # every pixel labelled hand is the hand's red; every background pixel is the canvas's green (cut out:
        # the donor's blue comes along only in the hand's ignored fringe)
        near = _nearest(img)
        assert not sure_hand.any() or (near[sure_hand] == 0).mean() > 0.97
        assert (near[lab == BACKGROUND] == 1).mean() > 0.97
        assert ((near == 2) & (lab == BACKGROUND)).mean() < 0.002   # the donor's fringe is never background
        for h in hands:
            seen_hands += 1
            xy = np.round(h.uv[h.vis]).astype(int)
            assert np.isin(lab[xy[:, 1], xy[:, 0]], ((LEFT, RIGHT)[h.side], IGNORE)).all()
            assert (near[xy[:, 1], xy[:, 0]] == 0).all()
    assert seen_hands >= len(frames) // 2


def test_hand_sizes_follow_the_drawn_range_and_both_sides_appear():
    lo, hi = 0.1, 0.5
    frames = _frames(n=60, size=(lo, hi))
    donor = _donor().hand_lists[0][0]
    donor_d = np.linalg.norm(donor.uv[CENTER_KEYPOINT] - donor.uv[0])
    extent = float(max(donor.uv.max(0) - donor.uv.min(0))) + 1.0
    ratios, sides = [], set()
    for i in range(len(frames)):
        img, _, hands = frames.frame(i)
        for h in hands:
            scale = np.linalg.norm(h.uv[CENTER_KEYPOINT] - h.uv[0]) / donor_d
            ratios.append(scale * extent / min(img.shape[:2]))
            sides.add(h.side)
    ratios = np.array(ratios)
    assert len(ratios) > 30
    assert ratios.min() >= lo * 0.999 and ratios.max() <= hi * 1.001
    assert ratios.max() / ratios.min() > 2.5        # spread over the range, not one size
    assert sides == {0, 1}


def test_frames_are_a_function_of_seed_and_index():
    a, b = _frames(), _frames()
    img_a, lab_a, hands_a = a.frame(5)
    a.frame(6)
    img_b, lab_b, hands_b = b.frame(5)
    assert np.array_equal(img_a, img_b) and np.array_equal(lab_a, lab_b)
    assert all(np.array_equal(x.uv, y.uv) for x, y in zip(hands_a, hands_b))
    assert not np.array_equal(a.frame(5)[0], a.frame(7)[0])
    other = CompositeFrames([(_donor(0), 1.0)], [], dataclasses.replace(a.options), seed=4)
    assert not np.array_equal(other.image(5), img_a)


def test_pasted_with_context_the_surroundings_stay_background():
    frames = _frames(context=1.0)
    blue_hand = blue_total = blue_bg = 0
    for i in range(len(frames)):
        img, lab, _ = frames.frame(i)
        blue = _is(img, BLUE, 30)
        blue_total += int(blue.sum())
        blue_bg += int((blue & (lab == BACKGROUND)).sum())
        blue_hand += int((blue & np.isin(lab, (LEFT, RIGHT))).sum())
    assert blue_total > 0                    # the donor's surroundings came along ...
    assert blue_bg / blue_total > 0.8        # ... labelled background (a forearm is not a hand), the rest
    assert blue_hand / blue_total < 0.005    # the donor's own ignored band, never a hand


def test_planned_hand_counts_are_kept_and_known_without_drawing():
    frames = _frames(n=60, two_hands=0.5, no_hand=0.1)
    counts = [frames.hand_count(i) for i in range(len(frames))]
    assert counts == [planned_hands(3, i, frames.options) for i in range(len(frames))]
    assert set(counts) == {0, 1, 2}
    made = [len(frames.hands(i)) for i in range(len(frames))]
    assert np.mean(np.equal(made, counts)) > 0.9


def test_a_later_hand_hides_the_keypoints_it_covers():
    owner = np.full((10, 10), -1, np.int32)
    owner[:, 5:] = 1                         # the second paste covers the right half
    uv = np.array([[2, 2], [7, 2], [12, 2]] + [[1, 1]] * 18, np.float32)
    first = visible_in(Hand(uv, np.ones(21, bool), 0), owner, 0)
    assert first.vis[:3].tolist() == [True, False, False]      # covered; outside the frame
    second = visible_in(Hand(uv, np.ones(21, bool), 1), owner, 1)
    assert second.vis[:3].tolist() == [True, True, False]


def test_camera_effects_keep_the_frame_and_grayscale_is_gray():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    gray = camera(np.random.default_rng(1), img, CompositeOptions(**{**NO_CAMERA, "grayscale": 1.0}))
    assert gray.shape == img.shape and gray.dtype == np.uint8
    assert np.array_equal(gray[..., 0], gray[..., 1]) and np.array_equal(gray[..., 1], gray[..., 2])
    every = CompositeOptions(**{k: 1.0 for k in NO_CAMERA if k not in ("procedural", "on_skin", "skin_shift")})
    out = camera(np.random.default_rng(2), img, every)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert np.array_equal(camera(np.random.default_rng(1), img, CompositeOptions(**NO_CAMERA)), img)


def test_skin_map_finds_skin_tones_and_not_blue_or_green():
    img = np.zeros((2, 3, 3), np.uint8)
    img[0] = [(224, 172, 140), (141, 85, 60), (0, 0, 255)]
    img[1] = [(0, 200, 0), (255, 255, 255), (30, 30, 30)]
    assert skin_map(img).tolist() == [[True, True, False], [False, False, False]]


def test_no_donor_hands_is_an_error():
    empty = ArrayFrames([np.zeros((8, 8, 3), np.uint8)])
    with pytest.raises(ValueError, match="donor"):
        CompositeFrames([(empty, 1.0)], [])


def test_contact_sheet_is_written(tmp_path):
    out = tmp_path / "sheet.png"
    sheet = contact_sheet(_frames(), out, count=6, cols=3, tile=64)
    assert sheet.shape == (128, 192, 3)
    assert np.array_equal(cv2.imread(str(out))[:, :, ::-1], sheet)


# ------------------------------------------------------------------ PoseNet's wrong boxes
def test_jittered_boxes_are_each_kind_of_wrong():
    hand = _donor().hand_lists[0][0]
    centre, side = hand.uv[CENTER_KEYPOINT].astype(np.float64), 40.0
    kinds = set()
    rng = np.random.default_rng(0)
    for _ in range(300):
        c, s = jittered_box(rng, hand, centre, side)
        shift = np.linalg.norm(c - centre) / side
        if shift < 1e-9 and 1.3 <= s / side <= 2.2:
            kinds.add("large")
        elif shift < 1e-9 and 0.6 <= s / side <= 0.85:
            kinds.add("small")
        elif 0.15 - 1e-9 <= shift <= 0.35 + 1e-9 and s == side:
            kinds.add("off_centre")
        else:
            # the forearm: the box holds every keypoint and reaches past the palm root, away from the fingers
            lo, hi = c - s / 2, c + s / 2
            assert (hand.uv >= lo - 1e-6).all() and (hand.uv <= hi + 1e-6).all()
            assert hi[1] > hand.uv[:, 1].max() + 10          # towards the wrist (down in this hand)
            kinds.add("forearm")
    assert kinds == {"large", "small", "off_centre", "forearm"}


def test_posenet_crops_from_composites_with_wrong_boxes():
    frames = _frames(n=12, two_hands=0.5)
    ds = HandCrops(Mixture([(frames, 1)]), frame_width=160, size=32, geometric=Geometric(scale=0, rotate=0, flip=0),
                   box_jitter=1.0)
    assert len(ds) == sum(frames.hand_count(i) for i in range(len(frames)))
    for n in range(len(ds)):
        s = ds[(n, (1, n))]
        assert s["image"].shape == (3, 32, 32) and s["uv"].shape == (21, 2)
