"""training/mixed.py: the three frame sources on generated files, their mixture, the similarity, the
HandSegNet and PoseNet samples on colour-coded frames (labels where the colours are), and short lite
training runs on RHD + teacher-labelled + hand-free frames."""
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from rhd_tiny import make_frame, rhd_root_fixture  # noqa: F401  (the rhd_root fixture)
from training_support import ArrayFrames, run_config

from handcam import weights
from handcam.models import registry
from training import loop
from training.augment import Extras, normalize
from training.crops import HandCrops
from training.errors import TrainingError
from training.mixed import (
    IGNORE,
    LEFT,
    MIN_VISIBLE,
    RIGHT,
    Geometric,
    Hand,
    HandFreeFrames,
    Mixture,
    RenderFrames,
    SegmentationFrames,
    TeacherFrames,
    apply_affine,
    similarity,
)
from training.rhd import RHD
from training.rhd_format import save_annotations, write_rhd_sample
from training.tasks import HandSegOptions, HandSegTask, PoseNetTask

NO_GEOMETRY = Geometric(scale=0, rotate=0, flip=0)
RED, BLUE, GREEN = (255, 0, 0), (0, 0, 255), (0, 200, 0)


def _write_rgb(path, rgb) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))


def _kp(x0: float, y0: float) -> np.ndarray:
    """21 x 2 teacher keypoints: k at (x0 + k, y0 + 2k) (the wrist at (x0, y0), 12 at (x0 + 12, y0 + 24))."""
    return np.array([[x0 + k, y0 + 2.0 * k] for k in range(21)])


def _teacher_set(d, n_masked=2, n_plain=1):
    """``n_masked`` 64 x 48 photos with masks (0 / 1 / 2 / 255) and ``n_plain`` without, labels in d/labels.jsonl.
    Photo k is filled with colour (10 k, 100, 200); its mask has left hand label in rows 0-9, right in rows
    10-19, the 255 band in rows 20-23, background below; hand 0 is left (wrist (5, 1)), hand 1 right."""
    records, masks = [], []
    for k in range(n_masked + n_plain):
        img = np.empty((48, 64, 3), np.uint8)
        img[:] = (10 * k, 100, 200)
        _write_rgb(d / "photos" / f"p{k}.png", img)
        rec = {"image": f"photos/p{k}.png", "size": [64, 48],
               "hands": [{"side": "left", "side_score": 0.9, "keypoints_2d": _kp(5, 1).tolist()},
                         {"side": "right", "side_score": 0.7, "keypoints_2d": _kp(30, 2).tolist()}]}
        if k < n_masked:
            m = np.zeros((48, 64), np.uint8)
            m[0:10], m[10:20], m[20:24] = LEFT, RIGHT, IGNORE
            m[0, 0] = k  # tell the masks apart
            (d / "masks").mkdir(parents=True, exist_ok=True)
            assert cv2.imwrite(str(d / "masks" / f"p{k}.png"), m)
            rec["mask"] = f"masks/p{k}.png"
            masks.append(m)
        records.append(rec)
    labels = d / "labels.jsonl"
    labels.write_text("".join(json.dumps(r) + "\n" for r in records))
    return labels, masks


# -- RenderFrames ---------------------------------------------------------------------------------
def _expected_side(mask: np.ndarray) -> np.ndarray:
    return np.where((mask >= 2) & (mask <= 17), 1, np.where((mask >= 18) & (mask <= 33), 2, 0)).astype(np.uint8)


def test_render_frames_side_mask_over_rhd(rhd_root):
    frames, rhd = RenderFrames(rhd_root), RHD(rhd_root)
    assert len(frames) == 6 and str(rhd_root) in frames.name
    seen = set()
    for i in range(len(frames)):
        raw = rhd.mask(i)
        seen |= set(np.unique(raw).tolist())
        side = frames.side_mask(i)
        assert side.dtype == np.uint8 and side.shape == raw.shape
        np.testing.assert_array_equal(side, _expected_side(raw))
        np.testing.assert_array_equal(frames.image(i), rhd.color(i))
    assert {0, 1} <= seen and seen & set(range(2, 18)) and seen & set(range(18, 34))  # every kind of label


def test_render_frames_side_mask_of_every_label(tmp_path):
    mask = np.repeat(np.arange(34, dtype=np.uint8), 4)[None].repeat(8, 0)  # 8 x 136: columns 4k..4k+3 = k
    rng = np.random.default_rng(0)
    _, _, _, anno = make_frame(rng, "left")
    write_rhd_sample(tmp_path, "training", 0, np.zeros((8, 136, 3), np.uint8), mask)
    save_annotations(tmp_path / "training" / "anno_training.pickle", {0: anno})
    side = RenderFrames(tmp_path).side_mask(0)
    expected = np.array([0, 0] + [LEFT] * 16 + [RIGHT] * 16, np.uint8)  # 0 background, 1 person
    np.testing.assert_array_equal(side[:, ::4], np.tile(expected, (8, 1)))


def test_render_frames_hands_over_rhd(rhd_root):
    frames, rhd = RenderFrames(rhd_root), RHD(rhd_root)
    n_hands = 0
    for i in range(len(frames)):
        uv_vis = np.asarray(rhd.annotation(i)["uv_vis"], np.float64)
        expected = []
        for side in (0, 1):
            a = uv_vis[21 * side: 21 * side + 21]
            vis = a[:, 2] > 0.5
            vis[0] = vis[0] or vis[12]  # the palm is seen when the wrist or the middle MCP is
            if vis.sum() >= MIN_VISIBLE:
                expected.append((side, a[:, :2], vis))
        hands = frames.hands(i)
        assert [h.side for h in hands] == [s for s, _, _ in expected]
        for h, (_, uv, vis) in zip(hands, expected):
            assert isinstance(h, Hand) and h.uv.shape == (21, 2) and h.uv.dtype == np.float32
            np.testing.assert_array_equal(h.vis, vis)
            np.testing.assert_allclose(h.uv[0], (uv[0] + uv[12]) / 2, atol=1e-4)  # the palm, not truncated
            np.testing.assert_allclose(h.uv[1:], uv[1:], atol=1e-4)
        n_hands += len(hands)
    assert n_hands >= 6


def test_render_frames_need_min_visible_keypoints(tmp_path):
    assert MIN_VISIBLE == 6
    rng = np.random.default_rng(1)
    annos = {}
    for i, (left_vis, right_vis) in enumerate([
        ([1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 6]),  # 5: left out; 6: kept
        ([12, 1, 2, 3, 4], []),  # 5 seen + the palm (from the middle MCP) = 6: kept
        ([0, 12, 1, 2], list(range(21))),  # wrist + MCP + 2 = 4 (the palm replaces the wrist): left out
    ]):
        image, mask, _, anno = make_frame(rng, "left")
        uv_vis = anno["uv_vis"].copy()
        uv_vis[:, 2] = 0
        uv_vis[left_vis, 2] = 1
        uv_vis[[21 + k for k in right_vis], 2] = 1
        anno["uv_vis"] = uv_vis
        write_rhd_sample(tmp_path, "training", i, image, mask)
        annos[i] = anno
    save_annotations(tmp_path / "training" / "anno_training.pickle", annos)
    frames = RenderFrames(tmp_path)
    assert [[h.side for h in frames.hands(i)] for i in range(3)] == [[1], [0], [1]]
    assert int(frames.hands(1)[0].vis.sum()) == 6 and bool(frames.hands(1)[0].vis[0])
    assert int(frames.hands(0)[0].vis.sum()) == 6


# -- TeacherFrames --------------------------------------------------------------------------------
def test_teacher_frames(tmp_path):
    labels, masks = _teacher_set(tmp_path, n_masked=2, n_plain=1)
    # a record without a mask goes between the masked ones
    lines = labels.read_text().splitlines()
    labels.write_text("\n".join([lines[0], lines[2], lines[1]]) + "\n")
    frames = TeacherFrames(labels)
    assert len(frames) == 2 and frames.name == str(labels)
    for i in range(2):
        img = frames.image(i)
        assert img.shape == (48, 64, 3) and img[5, 5].tolist() == [10 * i, 100, 200]  # RGB
        m = frames.side_mask(i)
        assert m.dtype == np.uint8
        np.testing.assert_array_equal(m, masks[i])
        assert set(np.unique(m).tolist()) <= {0, 1, 2, 255} and IGNORE in m
        left, right = frames.hands(i)
        assert (left.side, right.side) == (0, 1)
        for h, (x0, y0) in ((left, (5, 1)), (right, (30, 2))):
            assert h.uv.dtype == np.float32 and h.vis.dtype == bool and h.vis.all() and h.vis.shape == (21,)
            # keypoint 0: the midpoint of the wrist (x0, y0) and keypoint 12 (x0 + 12, y0 + 24)
            np.testing.assert_allclose(h.uv[0], (x0 + 6, y0 + 12))
            np.testing.assert_allclose(h.uv[1:], _kp(x0, y0)[1:])


def test_teacher_frames_leave_out_photos_without_a_hand_or_with_two_of_one_side(tmp_path):
    labels, masks = _teacher_set(tmp_path, n_masked=3, n_plain=0)
    records = [json.loads(line) for line in labels.read_text().splitlines()]
    records[0]["hands"] = []                                 # the teacher found none: not known hand-free
    records[2]["hands"][1]["side"] = "left"                  # two left hands: one side is wrong
    labels.write_text("".join(json.dumps(r) + "\n" for r in records))
    frames = TeacherFrames(labels)
    assert len(frames) == 1
    np.testing.assert_array_equal(frames.side_mask(0), masks[1])


def test_teacher_frames_ignore_human_boxes_the_teacher_missed(tmp_path):
    labels, masks = _teacher_set(tmp_path, n_masked=1, n_plain=0)
    # hand 0's keypoints centre on (15, 21): the first box holds it; the second box holds no teacher hand
    boxes = {"photos/p0.png": [(10.0, 15.0, 20.0, 25.0), (40.0, 30.0, 50.0, 40.0)]}
    m = TeacherFrames(labels, boxes).side_mask(0)
    expected = masks[0].copy()
    window = expected[29:41, 39:51]                          # the missed box grown by a tenth of its size
    window[window == 0] = IGNORE
    np.testing.assert_array_equal(m, expected)
    np.testing.assert_array_equal(TeacherFrames(labels).side_mask(0), masks[0])


def test_teacher_frames_errors(tmp_path):
    labels, _ = _teacher_set(tmp_path, n_masked=0, n_plain=2)
    with pytest.raises(TrainingError, match="has no masks.*--masks"):
        TeacherFrames(labels)
    with pytest.raises(TrainingError, match="does not exist"):
        TeacherFrames(tmp_path / "none.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"image": "a.png", "hands": []}\n{oops\n')
    with pytest.raises(TrainingError, match=r"bad\.jsonl:2"):
        TeacherFrames(bad)
    d = tmp_path / "gone"
    labels, _ = _teacher_set(d, n_masked=1, n_plain=0)
    frames = TeacherFrames(labels)
    (d / "masks" / "p0.png").unlink()
    with pytest.raises(TrainingError, match="cannot read the mask"):
        frames.side_mask(0)
    (d / "photos" / "p0.png").unlink()
    with pytest.raises(TrainingError, match="cannot read the image"):
        frames.image(0)


# -- HandFreeFrames -------------------------------------------------------------------------------
def test_hand_free_frames(tmp_path):
    d = tmp_path / "free"
    _write_rgb(d / "a.png", np.full((24, 32, 3), 7, np.uint8))
    _write_rgb(d / "sub" / "b.jpg", np.full((10, 20, 3), 200, np.uint8))
    (d / "notes.txt").write_text("not an image")
    frames = HandFreeFrames(d)
    assert len(frames) == 2 and frames.name == str(d)
    for i, shape in enumerate([(24, 32), (10, 20)]):
        assert frames.image(i).shape == shape + (3,)
        m = frames.side_mask(i)
        assert m.shape == shape and m.dtype == np.uint8 and not m.any()
        assert frames.hands(i) == []
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "x.txt").write_text("-")
    with pytest.raises(TrainingError, match="no images in"):
        HandFreeFrames(tmp_path / "empty")


# -- Mixture, Geometric, similarity ---------------------------------------------------------------
def test_mixture_repeats_each_source():
    a = ArrayFrames([np.zeros((4, 4, 3), np.uint8)] * 2, name="a")
    b = ArrayFrames([np.zeros((4, 4, 3), np.uint8)], name="b")
    mix = Mixture([(a, 3), (b, 2)])
    assert len(mix) == 3 * 2 + 2 * 1 == 8
    assert mix.items == [(a, 0), (a, 1), (a, 0), (a, 1), (a, 0), (a, 1), (b, 0), (b, 0)]
    assert mix.sources == [a, b] and mix.describe() == "a (2), b (1)"
    assert Mixture([(a, 0), (b, 1)]).items == [(b, 0)]
    with pytest.raises(TrainingError, match="no training sources"):
        Mixture([])
    with pytest.raises(TrainingError, match="hold no frames"):
        Mixture([(a, 0)])


def test_geometric_draws():
    assert NO_GEOMETRY.draw(np.random.default_rng(0)) == (1.0, 0.0, False)
    assert Geometric(scale=0, rotate=0, flip=1.0).draw(np.random.default_rng(0)) == (1.0, 0.0, True)
    rng = np.random.default_rng(0)
    draws = [Geometric().draw(rng) for _ in range(400)]
    s, r, f = (np.array(x) for x in zip(*draws))
    assert s.min() >= 1 / 1.25 - 1e-9 and s.max() <= 1.25 + 1e-9 and s.min() < 0.85 and s.max() > 1.18
    assert abs(np.log(s).mean()) < 0.03  # log-uniform: as many shrunk as grown
    assert r.min() >= -20 and r.max() <= 20 and r.min() < -17 and r.max() > 17
    assert 0.4 < f.mean() < 0.6


def test_similarity_scale_and_shift():
    m = similarity((10, 20), 2.0, 0.0, (50, 50))
    np.testing.assert_allclose(m, [[2, 0, 30], [0, 2, 10]], atol=1e-12)  # x' = 2 (x - 10) + 50
    out = apply_affine(m, np.array([[10.0, 20.0], [11.0, 20.0], [10.0, 23.0]]))
    assert out.dtype == np.float32 and out.shape == (3, 2)
    np.testing.assert_allclose(out, [[50, 50], [52, 50], [50, 56]], atol=1e-5)


def test_similarity_rotation_is_counter_clockwise_on_screen():
    # 90 degrees (y down): a point right of the centre goes above it, one below goes to the right
    m = similarity((10, 20), 1.0, 90.0, (0, 0))
    out = apply_affine(m, np.array([[10.0, 20.0], [11.0, 20.0], [10.0, 21.0], [7.0, 20.0]]))
    np.testing.assert_allclose(out, [[0, 0], [0, -1], [1, 0], [0, 3]], atol=1e-5)
    out = apply_affine(similarity((10, 20), 2.0, 90.0, (5, 5)), np.array([[11.0, 20.0]]))
    np.testing.assert_allclose(out, [[5, 3]], atol=1e-5)
    out = apply_affine(similarity((0, 0), 1.0, 180.0, (0, 0)), np.array([[3.0, 4.0]]))
    np.testing.assert_allclose(out, [[-3, -4]], atol=1e-5)


# -- SegmentationFrames ---------------------------------------------------------------------------
def _square_frame(size=64, seed=0):
    """A random size x size frame; labels: left hand in the left half, a right hand block at rows 40-49,
    columns 40-55, the unknown band in rows 0-3 of columns 44-59."""
    img = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    mask = np.zeros((size, size), np.uint8)
    mask[:, : size // 2] = LEFT
    mask[40:50, 40:56] = RIGHT
    mask[0:4, 44:60] = IGNORE
    return img, mask


def test_segmentation_identity_keeps_labels_and_pixels():
    # a 64 x 64 frame, network frame width 64, window 64: no scale, no shift, no rotation, no hue
    img, mask = _square_frame()
    ds = SegmentationFrames(Mixture([(ArrayFrames([img], [mask]), 1)]), frame_width=64, size=64,
                            geometric=NO_GEOMETRY, hue=0.0)
    s = ds[(0, (3, 4))]
    assert s["image"].dtype == torch.float32 and s["image"].shape == (3, 64, 64)
    assert s["hand_mask"].dtype == torch.int64 and s["hand_mask"].shape == (64, 64)
    np.testing.assert_array_equal(s["hand_mask"].numpy(), mask)
    np.testing.assert_allclose(s["image"].numpy(), normalize(img), atol=1e-6)
    # two classes: either hand is "hand", the unknown band stays unknown
    ds2 = SegmentationFrames(ds.mixture, frame_width=64, size=64, classes=2, geometric=NO_GEOMETRY, hue=0.0)
    lab2 = ds2[(0, (3, 4))]["hand_mask"].numpy()
    assert lab2[:, :32].tolist() == [[1] * 32] * 64 and lab2[45, 45] == 1 and lab2[2, 50] == 255
    assert lab2[45, 60] == 0 and set(np.unique(lab2).tolist()) == {0, 1, 255}


def test_segmentation_mirror_swaps_sides():
    img, mask = _square_frame()
    ds = SegmentationFrames(Mixture([(ArrayFrames([img], [mask]), 1)]), frame_width=64, size=64,
                            geometric=Geometric(scale=0, rotate=0, flip=1.0), hue=0.0)
    s = ds[(0, (0, 1))]
    expected = np.full((64, 64), RIGHT)  # the left half's left hand is a right hand in the right half
    expected[:, :32] = 0
    expected[40:50, 8:24] = LEFT  # columns 40-55 -> 63-55 .. 63-40
    expected[0:4, 4:20] = IGNORE
    np.testing.assert_array_equal(s["hand_mask"].numpy(), expected)
    np.testing.assert_allclose(s["image"].numpy(), normalize(img[:, ::-1]), atol=1e-6)


def test_segmentation_shrinks_large_frames_by_area():
    # a 64 x 64 frame, network frame width 16, window 16: the frame is shrunk 4 times in one area-averaging
    # step (as inference resizes frames), no shift; the labels in 4 x 4 blocks
    img, _ = _square_frame()
    grid = np.random.default_rng(1).choice(np.array([0, LEFT, RIGHT, IGNORE], np.uint8), (16, 16))
    mask = np.kron(grid, np.ones((4, 4), np.uint8))
    ds = SegmentationFrames(Mixture([(ArrayFrames([img], [mask]), 1)]), frame_width=16, size=16,
                            geometric=NO_GEOMETRY, hue=0.0)
    s = ds[(0, (0, 0))]
    np.testing.assert_array_equal(s["hand_mask"].numpy(), grid)
    small = cv2.resize(img, (16, 16), interpolation=cv2.INTER_AREA)
    np.testing.assert_allclose(s["image"].numpy(), normalize(small), atol=1e-5)
    assert np.abs(small.astype(int) - cv2.resize(img, (16, 16), interpolation=cv2.INTER_LINEAR)).max() > 20


def test_segmentation_outside_the_frame_is_grey_background():
    # a 32 x 32 all-left frame in a 64 x 64 window: placed at random, grey (128) and background around it
    img = np.full((32, 32, 3), 250, np.uint8)
    mask = np.full((32, 32), LEFT, np.uint8)
    ds = SegmentationFrames(Mixture([(ArrayFrames([img], [mask]), 1)]), frame_width=32, size=64,
                            geometric=NO_GEOMETRY, hue=0.0)
    for p in range(5):
        s = ds[(0, (0, p))]
        lab, im = s["hand_mask"].numpy(), s["image"].numpy()
        assert set(np.unique(lab).tolist()) == {0, LEFT}
        assert 31 * 31 <= (lab == LEFT).sum() <= 33 * 33
        far = cv2.dilate((lab == LEFT).astype(np.uint8), np.ones((5, 5), np.uint8)) == 0
        assert far.sum() > 64 * 64 - 40 * 40
        np.testing.assert_allclose(im[:, far], 128 / 255 - 0.5, atol=1e-6)


def _coloured_frame(w=320, h=240):
    """Green background; a red left hand (disc) and a blue right hand (disc), each with a 255 ring."""
    img = np.empty((h, w, 3), np.uint8)
    img[:] = GREEN
    mask = np.zeros((h, w), np.uint8)
    for (cx, cy), colour, label in (((100, 120), RED, LEFT), ((220, 110), BLUE, RIGHT)):
        cv2.circle(mask, (cx, cy), 45, IGNORE, -1)
        cv2.circle(mask, (cx, cy), 40, label, -1)
        cv2.circle(img, (cx, cy), 40, colour, -1)
    return img, mask


def _interior(lab, value):
    """Pixels labelled ``value`` whose 5 x 5 neighbourhood is all ``value``."""
    return cv2.erode((lab == value).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)


@pytest.mark.parametrize("flip", [0.0, 1.0])
def test_segmentation_labels_follow_the_pixels_under_random_geometry(flip):
    img, mask = _coloured_frame()
    ds = SegmentationFrames(Mixture([(ArrayFrames([img], [mask]), 1)]), frame_width=160, size=96,
                            geometric=Geometric(scale=0.25, rotate=30, flip=flip), hue=0.0)
    red, blue = (normalize(np.array([[c]], np.uint8))[:, 0, 0] for c in (RED, BLUE))
    # mirrored, a left hand is a right hand: the red disc is labelled right
    colour_of = {LEFT: red, RIGHT: blue} if flip == 0 else {LEFT: blue, RIGHT: red}
    counts = {LEFT: 0, RIGHT: 0}
    for p in range(6):
        s = ds[(0, (1, p))]
        lab, im = s["hand_mask"].numpy(), s["image"].numpy()
        for label in (LEFT, RIGHT):
            inside = _interior(lab, label)
            counts[label] += int(inside.sum())
            np.testing.assert_allclose(im[:, inside].T, np.tile(colour_of[label], (inside.sum(), 1)), atol=0.02)
    assert counts[LEFT] > 500 and counts[RIGHT] > 500


def test_segmentation_over_the_sources(rhd_root, tmp_path):
    labels, _ = _teacher_set(tmp_path / "t")
    _write_rgb(tmp_path / "free" / "f.png", np.full((90, 120, 3), 60, np.uint8))
    mix = Mixture([(RenderFrames(rhd_root), 1), (TeacherFrames(labels), 2), (HandFreeFrames(tmp_path / "free"), 1)])
    ds = SegmentationFrames(mix, frame_width=160, size=64)
    assert len(ds) == 6 + 2 * 2 + 1
    seen = set()
    for k in range(len(ds)):
        s = ds[(k, (0, k))]
        assert s["image"].shape == (3, 64, 64) and s["image"].dtype == torch.float32
        assert s["hand_mask"].shape == (64, 64) and s["hand_mask"].dtype == torch.int64
        assert torch.isfinite(s["image"]).all() and s["image"].abs().max() <= 0.5
        lab = s["hand_mask"].numpy()
        seen |= set(np.unique(lab).tolist())
        if k == len(ds) - 1:
            assert not lab.any()  # hand-free: all background
        # two classes: the same draw, either side -> 1
        s2 = SegmentationFrames(mix, frame_width=160, size=64, classes=2)[(k, (0, k))]
        np.testing.assert_array_equal(s2["hand_mask"].numpy(), np.where(lab == IGNORE, IGNORE, lab > 0))
        torch.testing.assert_close(s2["image"], s["image"])
    assert seen == {0, LEFT, RIGHT, IGNORE}
    # the same (index, seed) key gives the same sample; another seed another one
    a, b, c = ds[(3, (0, 9))], ds[(3, (0, 9))], ds[(3, (0, 10))]
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["hand_mask"], b["hand_mask"])
    assert not torch.equal(a["image"], c["image"])
    assert torch.equal(ds[2]["image"], ds[2]["image"])


def test_segmentation_errors():
    img, mask = _square_frame()
    mix = Mixture([(ArrayFrames([img], [mask[:, :32]], name="odd"), 1)])
    with pytest.raises(TrainingError, match="2 or 3 classes"):
        SegmentationFrames(mix, 64, 64, classes=4)
    with pytest.raises(TrainingError, match="odd: frame 0's mask"):
        SegmentationFrames(mix, 64, 64)[0]


def test_hand_crops_over_the_sources_are_deterministic(rhd_root, tmp_path):
    labels, _ = _teacher_set(tmp_path / "t")
    render, teacher = RenderFrames(rhd_root), TeacherFrames(labels)
    ds = HandCrops(Mixture([(render, 1), (teacher, 1)]), frame_width=160, size=64)
    n_render = sum(len(render.hands(i)) for i in range(len(render)))
    assert len(ds) == n_render + 2 * 2
    for n in range(len(ds)):
        s = ds[(n, (0, n))]
        assert s["image"].shape == (3, 64, 64) and s["uv"].shape == (21, 2) and s["hand_side"].shape == (2,)
        assert torch.isfinite(s["uv"]).all() and s["hand_side"].sum() == 1
    a, b, c = ds[(1, (0, 3))], ds[(1, (0, 3))], ds[(1, (0, 4))]
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["uv"], b["uv"])
    assert not torch.equal(a["uv"], c["uv"])


# -- training on the mixture ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def real_and_free(tmp_path_factory):
    d = tmp_path_factory.mktemp("mixed")
    labels, _ = _teacher_set(d / "teacher", n_masked=2, n_plain=1)
    for k in range(2):
        _write_rgb(d / "free" / f"f{k}.png", np.random.default_rng(k).integers(0, 256, (120, 160, 3), np.uint8))
    return labels, d / "free"


def _train_two_steps_and_reload(task, config, key):
    """Run ``config`` (2 iterations): finite losses, then the exported lite ``key`` network, rebuilt."""
    history = loop.run(task, config)
    assert [i for i, _ in history] == [1, 2] and all(math.isfinite(v) for _, v in history)
    sds, meta = weights.load_weights(Path(config.out) / "weights.pt")
    assert meta["architecture"] == "lite"
    return weights.build_networks(sds, [key], architecture="lite")[key].eval()


def test_train_lite_handsegnet_on_the_mixture(rhd_root, real_and_free, tmp_path):
    labels, free = real_and_free
    task = HandSegTask()
    config = run_config(task, rhd_root, tmp_path / "seg", 2, arch="lite", batch_size=2,
                        options=HandSegOptions(crop_size=64), real=(str(labels),), hand_free=(str(free),),
                        real_repeat=2, hand_free_repeat=3)
    assert config.mixed
    ds = task.dataset(config)
    assert isinstance(ds, SegmentationFrames) and ds.classes == 3 and ds.size == 64 and ds.frame_width == 160
    assert len(ds) == 6 + 2 * 2 + 2 * 3
    net = _train_two_steps_and_reload(task, config, "handsegnet")
    with torch.no_grad():
        assert net(torch.zeros(1, 3, 64, 64)).shape == (1, 3, 64, 64)  # background / left / right


def test_train_lite_posenet_on_the_mixture(rhd_root, real_and_free, tmp_path):
    labels, free = real_and_free
    task = PoseNetTask()
    config = run_config(task, rhd_root, tmp_path / "pose", 2, arch="lite", batch_size=2,
                        real=(str(labels),), hand_free=(str(free),), extras=Extras(noise=2.0))
    ds = task.dataset(config)
    render = RenderFrames(rhd_root)
    assert isinstance(ds, HandCrops) and ds.size == registry.LITE.crop_size
    assert len(ds) == sum(len(render.hands(i)) for i in range(len(render))) + 2 * 2  # no hand-free frames
    net = _train_two_steps_and_reload(task, config, "posenet")
    with torch.no_grad():
        assert net(torch.zeros(1, 3, 128, 128))[-1].shape == (1, 21, 32, 32)


def test_lite_handsegnet_trains_on_sides_without_real_data(rhd_root, tmp_path):
    # the lite HandSegNet has 3 classes: even RHD alone goes through the mixed data (sides in the labels)
    task = HandSegTask()
    lite = run_config(task, rhd_root, tmp_path, 1, arch="lite", options=HandSegOptions(crop_size=64))
    assert not lite.mixed
    ds = task.dataset(lite)
    assert isinstance(ds, SegmentationFrames) and ds.classes == 3 and len(ds) == 6
    paper = task.dataset(run_config(task, rhd_root, tmp_path, 1, options=HandSegOptions(crop_size=64)))
    assert not isinstance(paper, SegmentationFrames)


# -- the hands' 3D in the crops -------------------------------------------------------------------
def test_sources_carry_their_3d(rhd_root, tmp_path):
    render, rhd = RenderFrames(rhd_root), RHD(rhd_root)
    for i in range(len(render)):
        anno = rhd.annotation(i)
        for h in render.hands(i):
            raw = np.asarray(anno["xyz"], np.float32)[21 * h.side : 21 * (h.side + 1)]
            np.testing.assert_array_equal(h.xyz, raw)          # the wrist at keypoint 0
    labels, _ = _teacher_set(tmp_path / "t")
    assert all(h.xyz is None for h in TeacherFrames(labels).hands(0))   # labels without keypoints_world
    recs = [json.loads(line) for line in labels.read_text().splitlines()]
    for r in recs:
        for k, h in enumerate(r["hands"]):
            h["keypoints_world"] = (np.arange(63, dtype=np.float64).reshape(21, 3) * (k + 1) / 100).tolist()
    labels.write_text("".join(json.dumps(r) + "\n" for r in recs))
    hands = TeacherFrames(labels).hands(0)
    np.testing.assert_allclose(hands[1].xyz, np.arange(63).reshape(21, 3) * 2 / 100, atol=1e-6)
