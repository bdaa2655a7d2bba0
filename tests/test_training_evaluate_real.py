"""training.evaluate_real: the metric functions on hand-made inputs, the palm conversion, and a run of the
command on generated images with random lite weights."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from conftest import synthetic_frame

from training import evaluate_real as ER


def _hand(fill=(50.0, 50.0)) -> np.ndarray:
    """21 x 2 keypoints: all at ``fill`` except 1 at (0, 0) and 2 at (100, 100) (box 0..100, size 100)."""
    kp = np.tile(np.array(fill, dtype=np.float64), (21, 1))
    kp[1] = (0, 0)
    kp[2] = (100, 100)
    return kp


# -- the palm conversion --------------------------------------------------------------------------
def test_teacher_to_palm_moves_keypoint_0_to_the_wrist_middle_mcp_midpoint():
    kp = np.zeros((21, 2))
    kp[0] = (0, 0)
    kp[12] = (10, 20)
    kp[5] = (7, 7)
    out = ER.teacher_to_palm(kp)
    np.testing.assert_allclose(out[0], (5, 10))
    np.testing.assert_allclose(out[1:], kp[1:])
    assert kp[0].tolist() == [0, 0]  # the input is left as it is


def test_teacher_to_palm_rejects_wrong_shapes():
    with pytest.raises(ValueError, match="21 x 2"):
        ER.teacher_to_palm(np.zeros((20, 2)))


# -- centres, sizes, matching ---------------------------------------------------------------------
def test_center_and_size_are_those_of_the_bounding_box():
    kp = np.tile([2.0, 3.0], (21, 1))
    kp[5] = (0, 0)
    kp[9] = (10, 4)
    np.testing.assert_allclose(ER.keypoints_center(kp), (5, 2))
    assert ER.hand_size(kp) == 10


def test_detection_each_box_matched_once():
    centers = [(5, 5), (6, 6), (50, 50)]
    boxes = [(0, 0, 10, 10), (40, 40, 60, 60), (100, 100, 110, 110)]
    assert ER.match_centers_to_boxes(centers, boxes) == [(0, 0), (2, 1)]
    assert ER.detection_counts(centers, boxes) == (2, 3, 3)  # recall 2/3, precision 2/3


def test_detection_greedy_prefers_the_nearest_box_centre():
    # centre 0 lies in both boxes (distance 0 to A's middle, 9.9 to B's); centre 1 only in B
    centers = [(5, 5), (15, 15)]
    boxes = [(0, 0, 10, 10), (4, 4, 20, 20)]
    assert ER.match_centers_to_boxes(centers, boxes) == [(0, 0), (1, 1)]
    assert ER.detection_counts([], boxes) == (0, 2, 0)
    assert ER.detection_counts(centers, []) == (0, 0, 2)


def test_match_nearest_is_one_to_one():
    assert ER.match_nearest([(0, 0), (100, 0)], [(90, 0), (1, 0), (500, 500)]) == [(0, 1), (1, 0)]
    assert ER.match_nearest([(0, 0), (2, 0)], [(1, 0)]) == [(0, 0)]
    assert ER.match_nearest([], [(1, 0)]) == []


def test_pck_hits_counts_keypoints_within_a_fraction_of_the_teacher_size():
    ref = _hand()
    pred = ref.copy()
    pred[0:5, 0] += 5  # within 10 and 20
    pred[5:10, 0] += 15  # only within 20
    pred[10:, 1] += 30  # neither
    assert ER.pck_hits(pred, ref) == [5, 10]
    assert ER.pck_hits(ref, ref, thresholds=(0.0,)) == [21]


def test_ratio():
    assert ER.ratio(1, 4) == 0.25
    assert ER.ratio(0, 0) is None


def test_tally_on_a_hand_made_image():
    teacher = _hand()
    teacher[12] = (50, 50)
    teacher[0] = (20, 50)  # the wrist: the palm is (35, 50), 15 px from it (0.15 of the size 100)
    predicted = [{"side": "left", "keypoints_2d": ER.teacher_to_palm(teacher)},
                 {"side": "right", "keypoints_2d": _hand(fill=(300, 300)) + 300}]
    t = ER.Tally()
    t.add_labelled(predicted, [{"side": "left", "keypoints_2d": teacher}], boxes=[(0, 0, 100, 100)])
    t.add_hand_free(0)
    t.add_hand_free(2)
    m = t.metrics()
    assert m == {"recall": 1.0, "precision": 0.5, "pck@0.1": 1.0, "pck@0.2": 1.0, "handedness": 1.0,
                 "hand_free_reported": 0.5}
    assert t.counts()["pck@0.1"] == (21, 21)
    assert t.metrics(with_boxes=False)["recall"] is None

    # predicting the wrist (not the palm) as keypoint 0 misses at 0.1 (15 > 10) but not at 0.2
    wrist = ER.Tally()
    wrist.add_labelled([{"side": "right", "keypoints_2d": teacher}], [{"side": "left", "keypoints_2d": teacher}])
    assert wrist.counts()["pck@0.1"] == (20, 21)
    assert wrist.counts()["pck@0.2"] == (21, 21)
    assert wrist.metrics()["handedness"] == 0.0
    assert wrist.counts()["recall"] == (0, 0)


# -- inputs ---------------------------------------------------------------------------------------
def test_boxes_for_takes_the_longest_suffix():
    boxes = {"test/a.jpg": [(0, 0, 1, 1)], "a.jpg": []}
    assert ER.boxes_for("../shared/data/real_train/subhih/test/a.jpg", boxes) == [(0, 0, 1, 1)]
    assert ER.boxes_for("other/a.jpg", boxes) == []
    assert ER.boxes_for("b.jpg", boxes) is None


def test_read_labels_names_the_bad_line(tmp_path):
    p = tmp_path / "l.jsonl"
    p.write_text('{"image": "a.png", "size": [4, 4], "hands": []}\n{not json\n')
    with pytest.raises(ValueError, match="l.jsonl:2"):
        ER.read_labels(p)


def test_user_errors_exit_2(tmp_path, capsys):
    assert ER.main(["--weights", str(tmp_path / "w.pt"), "--labels", str(tmp_path / "none.jsonl")]) == 2
    assert capsys.readouterr().err.startswith("error: labels file")
    bad = tmp_path / "boxes.json"
    bad.write_text("[1, 2")
    labels = tmp_path / "l.jsonl"
    labels.write_text('{"image": "a.png", "size": [4, 4], "hands": []}\n')
    assert ER.main(["--weights", "w.pt", "--labels", str(labels), "--boxes", str(bad)]) == 2
    assert "not a boxes file" in capsys.readouterr().err


# -- end to end -----------------------------------------------------------------------------------
def test_main_end_to_end_with_random_lite_weights(tmp_path, capsys):
    from handcam.estimator import HandPoseEstimator
    from handcam.weights import save_weights

    est = HandPoseEstimator.random(seed=3, device="cpu", arch="lite")
    weights = save_weights(tmp_path / "lite.pt", {k: n.state_dict() for k, n in est.networks.items()},
                           {"source": "test"}, architecture="lite")
    (tmp_path / "frames").mkdir()
    free = tmp_path / "free"
    free.mkdir()
    lines, boxes = [], {}
    for i in range(3):
        cv2.imwrite(str(tmp_path / "frames" / f"img{i}.png"), synthetic_frame(120, 160, seed=i)[:, :, ::-1])
        kp = _hand() * 0.5 + 20 * i  # a hand in 20+20i .. 70+20i
        lines.append(json.dumps({"image": f"frames/img{i}.png", "size": [160, 120],  # relative to the labels
                                 "hands": [{"side": "right", "side_score": 0.9, "keypoints_2d": kp.tolist()}]}))
        boxes[f"frames/img{i}.png"] = [{"label": "1-hand", "box_xyxy": [0, 0, 160, 120]}]
    for i in range(2):
        cv2.imwrite(str(free / f"f{i}.png"), synthetic_frame(120, 160, seed=10 + i)[:, :, ::-1])
    (tmp_path / "labels.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "boxes.json").write_text(json.dumps(boxes))
    out = tmp_path / "out" / "real.json"
    rc = ER.main(["--weights", str(weights), "--labels", str(tmp_path / "labels.jsonl"),
                  "--boxes", str(tmp_path / "boxes.json"), "--hand-free", str(free),
                  "--presence-threshold", "0", "--device", "cpu", "--json", str(out)])
    assert rc == 0
    table = capsys.readouterr().out
    report = json.loads(out.read_text())
    assert set(report["metrics"]) == set(ER.METRICS)
    for name in ER.METRICS:
        assert name in table
        value = report["metrics"][name]
        assert value is not None and 0.0 <= value <= 1.0, (name, value)
    assert report["images"] == 3 and report["images_with_boxes"] == 3 and report["hand_free_images"] == 2
    # at threshold 0 every frame reports its hand: every box is the whole frame
    assert report["metrics"]["recall"] == 1.0 and report["metrics"]["precision"] == 1.0
    assert report["metrics"]["hand_free_reported"] == 1.0
    assert report["counts"]["pck@0.1"][1] == 21 * report["matched_hands"] == 63

    # two label files pool their images (a source's valid and test splits); the refinement choice is recorded
    lines_b = [line.replace("frames/img", "../frames/img") for line in lines[:2]]
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "labels.jsonl").write_text("\n".join(lines_b) + "\n")
    rc = ER.main(["--weights", str(weights), "--labels", str(tmp_path / "labels.jsonl"),
                  str(tmp_path / "b" / "labels.jsonl"), "--boxes", str(tmp_path / "boxes.json"),
                  "--presence-threshold", "0", "--device", "cpu", "--refine-crops", "on", "--json", str(out)])
    assert rc == 0
    pooled = json.loads(out.read_text())
    assert pooled["images"] == 5 and pooled["images_with_boxes"] == 5 and pooled["refine_crops"] == "on"
    assert pooled["counts"]["recall"][1] == 5          # every box of both files counted
