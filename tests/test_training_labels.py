"""training/labels.py: the palm conversion, the teacher's JSONL, the human boxes and image paths, on
hand-written files."""
import json

import numpy as np
import pytest

from handcam.skeleton import PALM_FROM
from training.labels import boxes_for, read_boxes, read_label_files, read_labels, resolve_image, teacher_to_palm


def _kp(offset: float = 0.0) -> list:
    """21 x 2 keypoints (k, 2k) + offset, as JSON lists."""
    return [[k + offset, 2.0 * k + offset] for k in range(21)]


def _write_jsonl(path, records) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


# -- the palm -------------------------------------------------------------------------------------
def test_palm_is_the_midpoint_of_the_wrist_and_the_middle_mcp():
    assert PALM_FROM == (0, 12)
    kp = np.asarray(_kp())  # keypoint 0 at (0, 0), 12 at (12, 24)
    out = teacher_to_palm(kp.tolist())
    assert out.shape == (21, 2) and out.dtype == np.float64
    np.testing.assert_allclose(out[0], (6.0, 12.0))
    np.testing.assert_allclose(out[1:], kp[1:])
    assert kp[0].tolist() == [0.0, 0.0]  # the input is not changed
    arr = np.asarray(_kp(10.0))  # an array input stays as it was too
    np.testing.assert_allclose(teacher_to_palm(arr)[0], (16.0, 22.0))
    assert arr[0].tolist() == [10.0, 10.0]


@pytest.mark.parametrize("shape", [(20, 2), (21, 3), (42,), (21, 2, 1)])
def test_palm_rejects_wrong_shapes(shape):
    with pytest.raises(ValueError, match="21 x 2"):
        teacher_to_palm(np.zeros(shape))


# -- read_labels ----------------------------------------------------------------------------------
def test_read_labels_keeps_images_hands_and_masks(tmp_path):
    p = tmp_path / "labels.jsonl"
    _write_jsonl(p, [
        {"image": "photos/a.png", "size": [64, 48], "hands": [
            {"side": "left", "side_score": 0.9, "keypoints_2d": _kp()},
            {"side": "right", "side_score": 0.8, "keypoints_2d": _kp(1.0)}], "mask": "masks/a.png"},
        {"image": "photos/b.png", "size": [64, 48], "hands": []},
        {"image": "photos/c.png", "size": [64, 48], "hands": [], "mask": ""},  # an empty mask is no mask
    ])
    with open(p, "a") as f:
        f.write("\n   \n")  # blank lines are skipped
    recs = read_labels(p)
    assert [r["image"] for r in recs] == ["photos/a.png", "photos/b.png", "photos/c.png"]
    assert recs[0]["mask"] == "masks/a.png" and "mask" not in recs[1] and "mask" not in recs[2]
    assert [h["side"] for h in recs[0]["hands"]] == ["left", "right"] and recs[1]["hands"] == []
    kp = recs[0]["hands"][1]["keypoints_2d"]
    assert isinstance(kp, np.ndarray) and kp.shape == (21, 2)
    np.testing.assert_allclose(kp[3], (4.0, 7.0))
    assert set(recs[0]) == {"image", "hands", "mask"}  # only what training needs


@pytest.mark.parametrize("bad", [
    "{not json",
    json.dumps({"size": [4, 4], "hands": []}),  # no image
    json.dumps({"image": "a.png"}),  # no hands
    json.dumps({"image": "a.png", "hands": [{"keypoints_2d": _kp()}]}),  # no side
    json.dumps({"image": "a.png", "hands": [{"side": "left", "keypoints_2d": _kp()[:20]}]}),  # 20 keypoints
    json.dumps({"image": "a.png", "hands": 3}),
    "[1, 2]",
])
def test_read_labels_names_file_and_line_of_a_bad_line(tmp_path, bad):
    p = tmp_path / "l.jsonl"
    good = json.dumps({"image": "a.png", "size": [4, 4], "hands": []})
    p.write_text(f"{good}\n\n{bad}\n{good}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"l\.jsonl:3: not a teacher label line") as e:
        read_labels(p)
    assert str(p) in str(e.value)


def test_read_labels_missing_or_empty_file(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        read_labels(tmp_path / "none.jsonl")
    with pytest.raises(ValueError, match="does not exist"):  # a folder is not a labels file
        read_labels(tmp_path)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(ValueError, match="holds no labels"):
        read_labels(empty)


# -- boxes ----------------------------------------------------------------------------------------
def test_read_boxes(tmp_path):
    p = tmp_path / "boxes.json"
    p.write_text(json.dumps({"test/a.jpg": [{"label": "x", "box_xyxy": [1, 2, 3, 4]},
                                            {"label": "y", "box_xyxy": [5.5, 6, 7, 8]}],
                             "train\\b.jpg": [], "c.jpg": [{"box_xyxy": [0, 0, 9, 9]}]}))
    boxes = read_boxes(p)
    assert boxes == {"test/a.jpg": [(1.0, 2.0, 3.0, 4.0), (5.5, 6.0, 7.0, 8.0)], "train/b.jpg": [],
                     "c.jpg": [(0.0, 0.0, 9.0, 9.0)]}
    assert all(isinstance(v, float) for v in boxes["test/a.jpg"][0])


@pytest.mark.parametrize("text", ["[1, 2", "[1, 2]", '{"a.jpg": [{"box": [1, 2, 3, 4]}]}',
                                  '{"a.jpg": [{"box_xyxy": ["x", 2, 3, 4]}]}', '{"a.jpg": 5}'])
def test_read_boxes_rejects_other_files(tmp_path, text):
    p = tmp_path / "boxes.json"
    p.write_text(text)
    with pytest.raises(ValueError, match="not a boxes file"):
        read_boxes(p)


def test_read_boxes_missing_file(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        read_boxes(tmp_path / "none.json")


def test_boxes_for_takes_the_longest_matching_suffix():
    a, b, c = [(0, 0, 1, 1)], [(2, 2, 3, 3)], [(4, 4, 5, 5)]
    boxes = {"subhih/test/a.jpg": a, "test/a.jpg": b, "a.jpg": c}
    assert boxes_for("../shared/data/real_train/subhih/test/a.jpg", boxes) is a
    assert boxes_for("subhih/test/a.jpg", boxes) is a
    assert boxes_for("other/test/a.jpg", boxes) is b
    assert boxes_for("other/a.jpg", boxes) is c
    assert boxes_for("a.jpg", boxes) is c
    assert boxes_for("..\\data\\test\\a.jpg", boxes) is b  # Windows separators
    assert boxes_for("x/b.jpg", boxes) is None
    assert boxes_for("xtest/a.jpg", {"test/a.jpg": b}) is None  # whole path parts only
    assert boxes_for("test/a.jpg/x", {"test/a.jpg": b}) is None  # a suffix, not a prefix
    assert boxes_for("d/a.jpg", {"d/a.jpg": []}) == []  # no boxes (a hand-free photo) is not None


# -- image paths ----------------------------------------------------------------------------------
def test_resolve_image_cwd_then_labels_folder(tmp_path, monkeypatch):
    labels_dir = tmp_path / "labels"
    (labels_dir / "photos").mkdir(parents=True)
    (labels_dir / "photos" / "near.png").write_bytes(b"x")
    cwd = tmp_path / "cwd"
    (cwd / "photos").mkdir(parents=True)
    (cwd / "photos" / "both.png").write_bytes(b"x")
    (labels_dir / "photos" / "both.png").write_bytes(b"x")
    labels = labels_dir / "l.jsonl"
    monkeypatch.chdir(cwd)
    # relative to the working directory (where the teacher ran) first
    assert str(resolve_image("photos/both.png", labels)) == "photos/both.png"
    # else relative to the labels file's folder
    assert resolve_image("photos/near.png", labels) == labels_dir / "photos" / "near.png"
    # absolute paths and paths found nowhere are kept as written
    absolute = tmp_path / "elsewhere" / "x.png"
    assert resolve_image(str(absolute), labels) == absolute
    assert str(resolve_image("photos/none.png", labels)) == "photos/none.png"


def test_read_label_files_pools_records_in_order_with_their_file(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b" / "b.jsonl"
    b.parent.mkdir()
    _write_jsonl(a, [{"image": "x.jpg", "hands": []}, {"image": "y.jpg", "hands": []}])
    _write_jsonl(b, [{"image": "z.jpg", "hands": [{"side": "left", "keypoints_2d": _kp()}]}])
    pooled = read_label_files([a, str(b)])
    assert [(r["image"], p) for r, p in pooled] == [("x.jpg", a), ("y.jpg", a), ("z.jpg", b)]
    assert pooled[2][0]["hands"][0]["side"] == "left"
