"""benchmarks/two_hand_clip.py: ``make`` on a tiny fake shared tree (three photos drawn here), ``check``
on a hand-written JSONL and sidecar. Needs no ../shared."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from conftest import ROOT


@pytest.fixture
def clip(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import two_hand_clip

    return two_hand_clip


def _photo(path, boxes, seed):
    """A 640x480 textured background with a skin-coloured blob in each box."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    img = cv2.resize(img, (640, 480), interpolation=cv2.INTER_LINEAR)
    for x0, y0, x1, y1 in boxes:
        cv2.ellipse(img, ((x0 + x1) // 2, (y0 + y1) // 2), ((x1 - x0) // 2, (y1 - y0) // 2), 0, 0, 360,
                    (140, 170, 220), -1)
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), img)


@pytest.fixture
def shared(tmp_path):
    """shared/data/real_train/subhih with test/two.jpg (two hands), test/one.jpg (one), train/pair.jpg (two)."""
    root = tmp_path / "shared" / "data" / "real_train" / "subhih"
    photos = {"test/two.jpg": [(60, 100, 220, 400), (400, 120, 560, 420)],
              "test/one.jpg": [(250, 150, 400, 430)],
              "train/pair.jpg": [(30, 50, 200, 300), (300, 60, 500, 320)]}
    for i, (key, boxes) in enumerate(photos.items()):
        _photo(root / key, boxes, i)
    (root / "boxes.json").write_text(json.dumps(
        {k: [{"label": "5-hand", "box_xyxy": [float(v) for v in b]} for b in boxes] for k, boxes in photos.items()}))
    return tmp_path / "shared"


def _frames(path):
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened()
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    cap.release()
    return frames


def test_make_writes_video_and_sidecar(clip, shared, tmp_path, capsys):
    out = tmp_path / "out" / "c.mp4"
    assert clip.main(["make", "--shared", str(shared), "--out", str(out), "--hold", "4", "--one-hand", "1",
                      "--seed", "3"]) == 0
    assert "8 frames" in capsys.readouterr().out
    frames = _frames(out)
    assert len(frames) == 8 and frames[0].shape == (480, 640, 3)
    assert all(np.abs(a.astype(int) - b.astype(int)).mean() > 0.5 for a, b in zip(frames, frames[1:]))  # shaken
    truth = json.loads((tmp_path / "out" / "c.truth.json").read_text())
    assert truth["counts"] == {"photos": 2, "two_hand_photos": 1, "one_hand_photos": 1, "frames": 8,
                               "seconds": round(8 / 15, 3)}
    assert [f["frame"] for f in truth["frames"]] == list(range(8))
    assert [p["photo"] for p in truth["photos"]] == ["test/two.jpg", "test/one.jpg"]
    assert [f["hands"] for f in truth["frames"]] == [2] * 4 + [1] * 4
    for f in truth["frames"]:
        dx, dy = f["shift"]
        assert abs(dx) <= 1.5 and abs(dy) <= 1.5 and (dx, dy) != (0, 0)
        assert len(f["boxes"]) == f["hands"]
    f = truth["frames"][1]
    dx, dy = f["shift"]
    assert f["boxes"][0] == pytest.approx([60 + dx, 100 + dy, 220 + dx, 400 + dy], abs=0.01)
    # the same seed makes the same clip
    again = tmp_path / "again.mp4"
    assert clip.main(["make", "--shared", str(shared), "--out", str(again), "--hold", "4", "--one-hand", "1",
                      "--seed", "3"]) == 0
    assert json.loads((tmp_path / "again.truth.json").read_text())["frames"] == truth["frames"]


def test_make_split_both_and_limits(clip, shared, tmp_path, capsys):
    out = tmp_path / "b.mp4"
    assert clip.main(["make", "--shared", str(shared), "--out", str(out), "--hold", "2", "--split", "both",
                      "--shake", "0"]) == 0
    truth = json.loads(clip.sidecar_path(out).read_text())
    assert [p["photo"] for p in truth["photos"]] == ["test/two.jpg", "train/pair.jpg"]
    assert len(_frames(out)) == 4
    assert clip.main(["make", "--shared", str(shared), "--out", str(out), "--one-hand", "2"]) == 2
    assert "only 1 one-hand photos" in capsys.readouterr().err


@pytest.mark.parametrize("case", ["no_shared", "no_boxes", "in_repo"])
def test_make_errors_are_one_line(clip, tmp_path, capsys, case):
    shared = tmp_path / "missing"
    out = tmp_path / "x.mp4"
    if case == "no_boxes":
        (shared / "data" / "real_train" / "subhih").mkdir(parents=True)
    if case == "in_repo":
        out = ROOT / "two_hands_test.mp4"
    assert clip.main(["make", "--shared", str(shared), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert {"no_shared": "not found", "no_boxes": "boxes.json", "in_repo": "inside the repository"}[case] in err
    assert not out.exists()


def _hand(side, presence=0.9, kp_centre=None, box=None):
    h = {"side": side, "presence": presence, "box": box or [0, 0, 10, 10], "keypoints_2d": None}
    if kp_centre is not None:
        cx, cy = kp_centre
        h["keypoints_2d"] = [[cx - 5, cy - 5], [cx + 5, cy + 5]] * 10 + [[cx, cy]]  # mean = the centre
    return h


TRUTH = {"frames": [
    {"frame": 0, "photo": "p2", "hands": 2, "boxes": [[0, 0, 100, 100], [200, 0, 300, 100]]},
    {"frame": 1, "photo": "p2", "hands": 2, "boxes": [[0, 0, 100, 100], [200, 0, 300, 100]]},
    {"frame": 2, "photo": "p1", "hands": 1, "boxes": [[0, 0, 100, 100]]},
    {"frame": 3, "photo": "p1", "hands": 1, "boxes": [[0, 0, 100, 100]]},
]}
JSONL = [
    # two hands, one by keypoints, one by its box centre (250, 50): both match, different sides
    {"frame": 0, "hands": [_hand("left", 0.9, kp_centre=(50, 50)), _hand("right", 0.6, box=[220, 20, 280, 80])]},
    # two hands in the same box: one matches, one is false; same side
    {"frame": 1, "hands": [_hand("left", 0.7, kp_centre=(40, 40)), _hand("left", 0.4, kp_centre=(60, 60))]},
    # one hand
    {"frame": 2, "hands": [_hand("right", 0.8, kp_centre=(50, 50), box=[500, 400, 510, 410])]},
    {"frame": 3, "hands": None, "error": "boom"},
    {"frame": 9, "hands": []},
]


def _write(tmp_path):
    (tmp_path / "run.jsonl").write_text("".join(json.dumps(r) + "\n" for r in JSONL))
    (tmp_path / "c.truth.json").write_text(json.dumps(TRUTH))


def test_check_counts(clip, tmp_path, capsys):
    _write(tmp_path)
    assert clip.main(["check", str(tmp_path / "run.jsonl"), "--clip", str(tmp_path / "c.mp4"),
                      "--json", str(tmp_path / "s.json")]) == 0
    assert "sides different 1" in capsys.readouterr().out
    s = json.loads((tmp_path / "s.json").read_text())
    two, one = s["by_expected"]["2"], s["by_expected"]["1"]
    assert (two["frames"], two["right_count"], two["fewer"], two["more"], two["matched"], two["all_matched"]) \
        == (2, 2, 0, 0, 3, 1)
    assert two["mean_found"] == 2.0
    assert (one["frames"], one["right_count"], one["fewer"], one["matched"], one["mean_found"]) == (2, 1, 1, 1, 0.5)
    assert (s["mean_expected"], s["mean_found"]) == (1.5, 1.25)
    assert (s["expected_hands"], s["found_hands"], s["matched_hands"], s["false_hands"]) == (6, 5, 4, 1)
    assert s["two_hand_frames_sides"] == {"different": 1, "same": 1, "unknown": 0, "matched_different": 1,
                                          "of_frames_with_two_found": 2, "different_rate": 0.5}
    assert (s["frames_without_result"], s["frames_missing"], s["extra_jsonl_frames"]) == (1, 0, 1)
    assert (s["right_count_frames"], s["photos_all_frames_right_count"], s["photos"]) == (3, 1, 2)


def test_check_min_presence_and_box_centre(clip, tmp_path):
    _write(tmp_path)
    records = clip.read_jsonl(tmp_path / "run.jsonl")
    s = clip.check(records, TRUTH, min_presence=0.5)
    # frame 1 keeps only the 0.7 hand; frame 2 its 0.8 one
    assert (s["found_hands"], s["matched_hands"], s["false_hands"]) == (4, 4, 0)
    assert s["by_expected"]["2"]["fewer"] == 1
    b = clip.check(records, TRUTH, centre="box")  # frame 2's hand: its box lies outside, its keypoints inside
    assert (b["by_expected"]["2"]["matched"], b["by_expected"]["1"]["matched"]) == (3, 0)


def test_match_is_maximal(clip):
    # hand 0 is nearest box 0's centre but also inside box 1; hand 1 only fits box 0
    assert clip.match([(50, 50), (10, 50)], [[0, 0, 100, 100], [40, 0, 200, 100]]) == [(0, 1), (1, 0)]
    assert clip.match([None, (500, 500)], [[0, 0, 100, 100]]) == []


def test_check_errors(clip, tmp_path, capsys):
    _write(tmp_path)
    assert clip.main(["check", str(tmp_path / "run.jsonl"), "--clip", str(tmp_path / "nope.mp4")]) == 2
    assert "sidecar" in capsys.readouterr().err
    (tmp_path / "bad.jsonl").write_text('{"frame": 0}\nnot json\n')
    assert clip.main(["check", str(tmp_path / "bad.jsonl"), "--truth", str(tmp_path / "c.truth.json")]) == 2
    assert "line 2" in capsys.readouterr().err
