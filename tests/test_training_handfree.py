"""training/handfree.py: the free-window search and the grown hand boxes on hand-computed cases, and the
command end to end on generated photos whose hands are painted a colour found nowhere else."""
import json

import cv2
import numpy as np
import pytest

from training.errors import TrainingError
from training.handfree import cut_forearms, cut_hand_free, forearm_window, hand_boxes, largest_free_window, main
from training.labels import read_boxes, read_labels

MAGENTA = (255, 0, 255)  # RGB of the hands; the backgrounds have G >= 100


def _overlaps(win, box) -> bool:
    x0, y0, x1, y1 = win
    return x0 < box[2] and x1 > box[0] and y0 < box[3] and y1 > box[1]


def _check_window(win, size_wh, obstacles):
    w, h = size_wh
    x0, y0, x1, y1 = win
    assert all(isinstance(v, int) for v in win)
    assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h  # inside the frame
    assert abs((x1 - x0) * h - (y1 - y0) * w) <= max(w, h)  # the frame's aspect ratio (to a pixel)
    assert not any(_overlaps(win, b) for b in obstacles)


# -- largest_free_window --------------------------------------------------------------------------
def test_no_obstacles_is_the_whole_frame():
    assert largest_free_window((200, 100), []) == (0, 0, 200, 100)
    assert largest_free_window((33, 77), np.zeros((0, 4))) == (0, 0, 33, 77)
    # obstacles outside the frame, or only touching its edge, are no obstacles
    assert largest_free_window((200, 100), [(200, 0, 260, 100), (-50, -50, 0, 100)]) == (0, 0, 200, 100)


def test_a_corner_obstacle():
    # 200 x 100, obstacle (0, 0)-(50, 50): the window must start at x >= 50 (width <= 150, 0.75 of the
    # frame) or at y >= 50 (height <= 50, 0.5). The sizes tried are 1 - k * 0.7 / 23; the largest <= 0.75 is
    # k = 9: 0.7261 -> 145 x 72, at x0 = 50, 52 or 55 (the grid linspace(0, 55, 24) past 50)
    obstacle = (0, 0, 50, 50)
    win = largest_free_window((200, 100), [obstacle])
    _check_window(win, (200, 100), [obstacle])
    assert (win[2] - win[0], win[3] - win[1]) == (145, 72)
    assert win[0] in (50, 52, 55)
    # the same in the opposite corner, on a portrait frame: 100 x 200, obstacle (50, 150)-(100, 200)
    obstacle = (50, 150, 100, 200)
    win = largest_free_window((100, 200), [obstacle])
    _check_window(win, (100, 200), [obstacle])
    assert (win[2] - win[0], win[3] - win[1]) == (72, 145) and win[3] <= 150


def test_a_centre_obstacle_leaves_only_the_smallest_window():
    # 100 x 100, obstacle (30, 30)-(70, 70): only strips 30 wide are free, the smallest size (0.3) tried
    obstacle = (30, 30, 70, 70)
    win = largest_free_window((100, 100), [obstacle])
    _check_window(win, (100, 100), [obstacle])
    assert (win[2] - win[0], win[3] - win[1]) == (30, 30)
    assert largest_free_window((100, 100), [obstacle], min_fraction=0.35) is None


def test_obstacles_everywhere_give_none():
    assert largest_free_window((200, 100), [(0, 0, 200, 100)]) is None
    assert largest_free_window((200, 100), [(-10, -10, 300, 300)]) is None
    # four corner obstacles that leave no window of even 0.3 of the frame
    corners = [(0, 0, 120, 60), (80, 0, 200, 60), (0, 40, 120, 100), (80, 40, 200, 100)]
    assert largest_free_window((200, 100), corners) is None


def test_several_obstacles():
    obstacles = [(0, 0, 40, 40), (150, 60, 200, 100), (90, 0, 110, 20)]
    win = largest_free_window((200, 100), obstacles)
    _check_window(win, (200, 100), obstacles)
    assert win[2] - win[0] >= 60  # at least 0.3 of the width


# -- hand_boxes -----------------------------------------------------------------------------------
def _record(image="photos/a.png", boxes=((10, 20), (30, 60))):
    kp = np.tile(np.array([20.0, 40.0]), (21, 1))
    kp[3], kp[7] = boxes  # keypoint box (10, 20)-(30, 60): 20 x 40
    return {"image": image, "hands": [{"side": "left", "keypoints_2d": kp}]}


def test_hand_boxes_grow_by_the_margin():
    rec = _record()
    assert hand_boxes(rec, None, 0.25) == [pytest.approx((5, 10, 35, 70))]  # +-5 in x, +-10 in y
    assert hand_boxes(rec, None, 0.0) == [pytest.approx((10, 20, 30, 60))]
    boxes = {"photos/a.png": [(100, 100, 200, 150)], "photos/other.png": [(0, 0, 1, 1)]}
    assert hand_boxes(rec, boxes, 0.25) == [pytest.approx((5, 10, 35, 70)),
                                            pytest.approx((75, 87.5, 225, 162.5))]  # 100 x 50: +-25, +-12.5
    # the boxes are matched by the longest suffix of the image's path
    rec_deep = _record(image="../data/set/photos/a.png")
    assert len(hand_boxes(rec_deep, boxes, 0.1)) == 2
    assert hand_boxes(_record(image="b.png"), boxes, 0.1) == [pytest.approx((8, 16, 32, 64))]
    assert hand_boxes({"image": "photos/a.png", "hands": []}, boxes, 0.0) == [pytest.approx((100, 100, 200, 150))]
    assert hand_boxes({"image": "x.png", "hands": []}, None, 0.5) == []


# -- cut_hand_free / main -------------------------------------------------------------------------
def _photo(w=160, h=120) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 120 / w, 100 + yy * 100 / h, np.full((h, w), 50.0)], -1)
    return img.astype(np.uint8)


def _keypoints_spanning(x0, y0, x1, y1) -> list:
    kp = np.tile([(x0 + x1) / 2, (y0 + y1) / 2], (21, 1))
    kp[0], kp[12] = (x0, y0), (x1, y1)
    return kp.tolist()


def _write_rgb(path, rgb) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


@pytest.fixture
def photos(tmp_path):
    """Three 160 x 120 photos and their labels (+ boxes) in tmp_path/set:

    a.png: a teacher hand with keypoints over (0, 0)-(40, 30), painted magenta; grown by 0.15 the box is
           (-6, -4.5)-(46, 34.5): the window must be <= 114 wide or <= 85.5 high -> size 0.6957, 111 x 83;
    b.jpg: no teacher hand, a human box (100, 60)-(160, 120), painted; grown: (91, 51)-(169, 129) -> the
           window is <= 91 wide or <= 51 high -> size 0.5739 (int(91.8) = 91 wide), 91 x 68;
    c.png: a teacher hand over nearly all of it (grown: all of it) -> no window.
    """
    d = tmp_path / "set"
    a, b, c = _photo(), _photo(), _photo()
    a[0:31, 0:41] = MAGENTA
    b[60:, 100:] = MAGENTA
    c[10:111, 10:151] = MAGENTA
    _write_rgb(d / "photos" / "a.png", a)
    _write_rgb(d / "photos" / "b.jpg", b)
    _write_rgb(d / "photos" / "c.png", c)
    hand = lambda *box: {"side": "left", "side_score": 0.9, "keypoints_2d": _keypoints_spanning(*box)}  # noqa: E731
    records = [{"image": str(d / "photos" / "a.png"), "size": [160, 120], "hands": [hand(0, 0, 40, 30)]},
               {"image": "photos/b.jpg", "size": [160, 120], "hands": []},  # relative to the labels file
               {"image": "photos/c.png", "size": [160, 120], "hands": [hand(10, 10, 150, 110)]}]
    labels = d / "labels.jsonl"
    labels.write_text("".join(json.dumps(r) + "\n" for r in records))
    boxes = d / "boxes.json"
    boxes.write_text(json.dumps({"photos/b.jpg": [{"label": "x", "box_xyxy": [100, 60, 160, 120]}]}))
    return {"dir": d, "labels": labels, "boxes": boxes, "images": {"a": a, "b": b, "c": c}}


def _read_rgb(path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert img is not None, path
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _has_magenta(rgb) -> bool:
    r, g, b = (rgb[..., k].astype(int) for k in range(3))
    return bool(((r > 150) & (g < 80) & (b > 150)).any())


def test_cut_hand_free_writes_windows_without_the_hands(photos, tmp_path):
    out = tmp_path / "out" / "free"
    written = cut_hand_free(photos["labels"], out, photos["boxes"])
    assert [p.name for p in written] == ["000000_a.jpg", "000001_b.jpg"]  # c.png has no free window
    assert sorted(p.name for p in out.iterdir()) == ["000000_a.jpg", "000001_b.jpg"]
    assert all(_has_magenta(img) for img in photos["images"].values())  # the test can tell
    sizes = {}
    recs, box_map = read_labels(photos["labels"]), read_boxes(photos["boxes"])
    for path, rec, name in zip(written, recs, "ab"):
        crop = _read_rgb(path)
        sizes[name] = crop.shape
        assert not _has_magenta(crop), name
        # the crop is the photo's window (JPEG, quality 95)
        x0, y0, x1, y1 = largest_free_window((160, 120), hand_boxes(rec, box_map, 0.15))
        src = photos["images"][name][y0:y1, x0:x1].astype(int)
        assert np.abs(crop.astype(int) - src).mean() < 3
    assert sizes == {"a": (83, 111, 3), "b": (68, 91, 3)}


def test_without_boxes_the_human_boxes_are_not_avoided(photos, tmp_path):
    written = cut_hand_free(photos["labels"], tmp_path / "free", margin=0.0)
    assert [p.name for p in written] == ["000000_a.jpg", "000001_b.jpg"]
    assert _read_rgb(written[1]).shape == (120, 160, 3)  # b's whole frame: nothing known in it
    assert not _has_magenta(_read_rgb(written[0]))


def test_margin_and_min_fraction(photos, tmp_path):
    # without a margin, b's window is <= 100 wide or <= 60 high -> size 0.6043, 96 x 72
    written = cut_hand_free(photos["labels"], tmp_path / "m0", photos["boxes"], margin=0.0)
    assert _read_rgb(written[1]).shape == (72, 96, 3)
    # a (0.6957) is at least 0.6 of the width, b (0.5739) is not
    written = cut_hand_free(photos["labels"], tmp_path / "f6", photos["boxes"], min_fraction=0.6)
    assert [p.name for p in written] == ["000000_a.jpg"]


def test_an_unreadable_photo_raises(tmp_path):
    labels = tmp_path / "l.jsonl"
    labels.write_text(json.dumps({"image": "missing.png", "size": [4, 4], "hands": []}) + "\n")
    with pytest.raises(TrainingError, match="cannot read .*missing.png"):
        cut_hand_free(labels, tmp_path / "out")


def test_main_prints_the_count(photos, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["--labels", str(photos["labels"]), "--boxes", str(photos["boxes"]), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"2 hand-free photos in {out}"
    assert len(list(out.glob("*.jpg"))) == 2
    assert main(["--labels", str(photos["labels"]), "--out", str(tmp_path / "cli2"), "--min-fraction", "0.75"]) == 0
    assert capsys.readouterr().out.startswith("1 hand-free photos in")  # b's whole frame only


def test_main_user_errors_exit_2(photos, tmp_path, capsys):
    assert main(["--labels", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: labels file") and "none.jsonl" in err and len(err.splitlines()) == 1
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2")
    assert main(["--labels", str(photos["labels"]), "--boxes", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "not a boxes file" in capsys.readouterr().err
    assert main(["--labels", str(photos["labels"]), "--boxes", str(tmp_path / "no.json"),
                 "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.startswith("error: boxes file")
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps({"image": "missing.png", "size": [4, 4], "hands": []}) + "\n")
    assert main(["--labels", str(broken), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.startswith("error: cannot read")


# -- forearm windows ------------------------------------------------------------------------------
def _upright_hand(wrist=(100.0, 150.0), palm=40.0) -> dict:
    """A hand pointing up: keypoint 0 (the wrist) at ``wrist``, the middle MCP (12) ``palm`` pixels above it,
    every other keypoint between them."""
    kp = np.tile(np.asarray(wrist, np.float64), (21, 1))
    kp[1:, 1] -= palm * np.linspace(0.5, 1.5, 20)
    kp[12] = (wrist[0], wrist[1] - palm)
    return {"side": "left", "keypoints_2d": kp.tolist()}


def test_a_forearm_window_lies_past_the_wrist_away_from_the_fingers():
    hand = _upright_hand()
    # 1.6 palms below the wrist (the arm), 2.2 palms wide: centre (100, 214), half side 44
    assert forearm_window(hand, [], (400, 400)) == (56, 170, 144, 258)
    # another hand's box at y 200-215 blocks 1.6 and 2.2 palms (y from 194): 2.8 palms, centre (100, 262)
    assert forearm_window(hand, [(90.0, 200.0, 110.0, 215.0)], (400, 400)) == (56, 218, 144, 306)
    # mostly outside the frame, or blocked at every reach: none
    assert forearm_window(hand, [], (400, 200)) is None
    assert forearm_window(hand, [(0.0, 150.0, 400.0, 400.0)], (400, 400)) is None
    # never on the hand itself
    x0, y0, x1, y1 = forearm_window(hand, [], (400, 400))
    assert y0 > max(p[1] for p in hand["keypoints_2d"])


def test_cut_forearms_writes_one_window_per_hand(tmp_path):
    img = np.full((400, 300, 3), 90, np.uint8)
    assert cv2.imwrite(str(tmp_path / "p.png"), img)
    (tmp_path / "labels.jsonl").write_text(json.dumps({"image": "p.png", "size": [300, 400],
                                                       "hands": [_upright_hand()]}) + "\n"
                                           + json.dumps({"image": "p.png", "size": [300, 400], "hands": []}) + "\n")
    written = cut_forearms(tmp_path / "labels.jsonl", tmp_path / "out")
    assert [p.name for p in written] == ["000000_0_p.jpg"]
    assert cv2.imread(str(written[0])).shape == (88, 88, 3)
    assert main(["--labels", str(tmp_path / "labels.jsonl"), "--out", str(tmp_path / "o2"), "--forearms"]) == 0
