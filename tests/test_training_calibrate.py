"""training.calibrate: Platt's scaling (recovering known parameters, separable and one-class data), the
expected calibration error on a hand-computed case, the clipped logit, and a run of the command on generated
photos with lite weights whose segmentation tells the photos apart."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from conftest import synthetic_frame

from handcam.estimator import KEYPOINT_SCORE_KEY, PRESENCE_CALIBRATION_KEY, HandPoseEstimator
from handcam.models import registry
from handcam.settings import PipelineSettings
from handcam.stages.segment import calibrated_presence
from handcam.weights import load_weights, save_weights
from training.calibrate import calibrate, expected_calibration_error, fit_platt, keypoint_floor, logit, main
from training.errors import TrainingError


def _sigmoid(z):
    return 1 / (1 + np.exp(-np.asarray(z, np.float64)))


# -- logit ------------------------------------------------------------------------------------------
def test_logit_values_and_clipping():
    np.testing.assert_allclose(logit([0.5, 0.8, 0.2]), [0.0, np.log(4), -np.log(4)], atol=1e-12)
    ends = logit([0.0, 1.0])
    assert np.isfinite(ends).all()
    np.testing.assert_allclose(ends, [np.log(1e-6 / (1 - 1e-6)), np.log((1 - 1e-6) / 1e-6)], rtol=1e-9)
    assert logit(0.0) == pytest.approx(-13.8155, abs=1e-3)   # a scalar in, a 0-d array out
    assert logit(-3.0) == logit(0.0) and logit(7.0) == logit(1.0)


# -- fit_platt ----------------------------------------------------------------------------------------
def test_fit_platt_recovers_known_parameters():
    rng = np.random.default_rng(0)
    x = rng.uniform(-6, 6, 20000)
    y = (rng.uniform(size=x.shape) < _sigmoid(2 * x - 1)).astype(np.float64)
    a, b = fit_platt(x, y)
    assert isinstance(a, float) and isinstance(b, float)
    assert a == pytest.approx(2.0, abs=0.1) and b == pytest.approx(-1.0, abs=0.1)
    # labels as booleans / ints and x as a list give the same fit
    a2, b2 = fit_platt(x.tolist(), y.astype(bool))
    assert (a2, b2) == pytest.approx((a, b), rel=1e-9)


def test_fit_platt_on_separable_data_stays_finite_and_separates():
    x = np.concatenate([np.linspace(-3, -0.1, 15), np.linspace(0.1, 3, 15)])
    y = (x > 0).astype(float)
    a, b = fit_platt(x, y)
    assert np.isfinite(a) and np.isfinite(b) and a > 0
    p = _sigmoid(a * x + b)
    assert (p[y == 1] > 0.5).all() and (p[y == 0] < 0.5).all()
    # the fit is symmetric here: the 0.5 crossing is at x = 0
    assert -b / a == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("x, y", [
    ([0.1, 0.2, 0.3], [1, 1, 1]),           # only photos with hands
    ([0.1, 0.2, 0.3], [0, 0, 0]),           # only photos without
    ([0.1], [1]),                           # too few
    ([0.1, 0.2], [0, 1, 1]),                # shapes differ
])
def test_fit_platt_needs_both_kinds(x, y):
    with pytest.raises(TrainingError, match="both kinds"):
        fit_platt(x, y)


# -- expected_calibration_error ----------------------------------------------------------------------
def test_expected_calibration_error_by_hand():
    # bin 0 holds the two 0.05s (no hand: |0.05 - 0| = 0.05), bin 9 the two 0.95s (one hand: |0.95 - 0.5| = 0.45);
    # each holds half the photos: 0.5 * 0.05 + 0.5 * 0.45 = 0.25
    assert expected_calibration_error([0.05, 0.05, 0.95, 0.95], [0, 0, 1, 0]) == pytest.approx(0.25, abs=1e-12)
    # a perfectly calibrated bin, and a score of exactly 1 in the last bin
    assert expected_calibration_error([0.25] * 4, [1, 0, 0, 0]) == pytest.approx(0.0, abs=1e-12)
    assert expected_calibration_error([1.0, 1.0], [1, 1]) == pytest.approx(0.0, abs=1e-12)
    # two bins: 0.5 share each of |0.3 - 1| and |0.7 - 0|
    assert expected_calibration_error([0.3, 0.7], [1, 0]) == pytest.approx(0.7, abs=1e-12)
    # with 2 bins 0.3 and 0.45 share a bin: |0.375 - 0.5| = 0.125
    assert expected_calibration_error([0.3, 0.45], [1, 0], bins=2) == pytest.approx(0.125, abs=1e-12)


# -- the command ------------------------------------------------------------------------------------
def _write_rgb(path, rgb):
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def _hand_free(seed):
    return np.ascontiguousarray(synthetic_frame(seed=seed)[:, :, ::-1])   # channels swapped: no skin colour


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Lite weights, a teacher JSONL (3 photos with a hand, 1 record without, left out) and a folder of 3
    hand-free photos.

    Random lite networks give the same peak to every photo (their decoder features are ~1e-5, the head's
    bias dominates), so the head's last convolution is scaled up and its bias zeroed: seed 1 then gives the
    blob photos higher peaks than the hand-free ones (checked below), which the calibration must find."""
    d = tmp_path_factory.mktemp("calibrate")
    nets = registry.get("lite").build(seed=1)
    state = {k: {n: t.clone() for n, t in net.state_dict().items()} for k, net in nets.items()}
    state["handsegnet"]["head.1.weight"] *= 1e5
    state["handsegnet"]["head.1.bias"].zero_()
    weights = save_weights(d / "lite.pt", state, {"source": "test"}, architecture="lite")

    positives = [_write_rgb(d / f"hand{s}.png", synthetic_frame(seed=s)) for s in range(3)]
    left_out = _write_rgb(d / "nohand.png", _hand_free(20))
    hand = {"side": "left", "side_score": 0.9, "keypoints_2d": [[10.0 + i, 20.0 + i] for i in range(21)]}
    records = [{"image": str(p), "size": [320, 240], "hands": [hand]} for p in positives[:2]]
    records.append({"image": positives[2].name, "size": [320, 240], "hands": [hand]})   # relative to the file
    records.append({"image": str(left_out), "size": [320, 240], "hands": []})
    labels = d / "teacher.jsonl"
    labels.write_text("".join(json.dumps(r) + "\n" for r in records))

    hand_free = d / "handfree"
    hand_free.mkdir()
    negatives = [_write_rgb(hand_free / f"bg{s}.png", _hand_free(10 + s)) for s in range(3)]

    est = HandPoseEstimator.load(weights, device="cpu")
    assert est.presence_calibration is None
    peak = {p: est.estimate(cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB),
                            PipelineSettings.release()).hands[0].presence for p in positives + negatives}
    pos, neg = np.array([peak[p] for p in positives]), np.array([peak[p] for p in negatives])
    assert pos.min() > neg.max() + 0.005, (pos, neg)   # the test data: the crafted network tells them apart
    return dict(dir=d, weights=weights, labels=labels, hand_free=hand_free, positives=positives,
                negatives=negatives, pos=pos, neg=neg, weights_bytes=weights.read_bytes())


@pytest.fixture(scope="module")
def calibrated(photos):
    out = photos["dir"] / "calibrated.pt"
    report = calibrate(photos["weights"], [photos["labels"]], [photos["hand_free"]], out)
    return out, report


def test_calibrate_writes_the_calibration_and_reports(photos, calibrated):
    out, r = calibrated
    assert out.is_file()
    assert r["positives"] == 3 and r["negatives"] == 3       # the record without hands is left out
    a, b = r["a"], r["b"]
    assert np.isfinite(a) and np.isfinite(b) and a > 0
    # the stored numbers are the report's
    state, meta = load_weights(out)
    stored = [float(v) for v in meta[PRESENCE_CALIBRATION_KEY].split()]
    assert len(stored) == 2 and stored == pytest.approx([a, b], rel=1e-5)
    assert meta["presence_calibrated_on"] == "3 photos with hands, 3 without"
    assert meta["source"] == "test" and meta["architecture"] == "lite"
    orig_state, orig_meta = load_weights(photos["weights"])
    assert PRESENCE_CALIBRATION_KEY not in orig_meta
    assert state.keys() == orig_state.keys()
    for k in state:
        assert state[k].keys() == orig_state[k].keys()
        assert all(torch.equal(state[k][n], orig_state[k][n]) for n in state[k])
    # the original file is left as it was
    assert photos["weights"].read_bytes() == photos["weights_bytes"]

    # the report's numbers, from the peaks measured above
    x = logit(np.concatenate([photos["pos"], photos["neg"]]))
    y = np.array([1, 1, 1, 0, 0, 0], float)
    after = _sigmoid(a * x + b)
    assert r["ece_before"] == pytest.approx(expected_calibration_error(_sigmoid(x), y), abs=1e-5)
    assert r["ece_after"] == pytest.approx(expected_calibration_error(after, y), abs=1e-5)
    assert r["ece_after"] < r["ece_before"]
    assert r["hand_free_reported_before"] == pytest.approx(np.mean(photos["neg"] >= 0.5))
    assert r["hand_free_reported_after"] == 0.0 and r["hands_kept_after"] == 1.0   # separable photos
    # presence 0.5 where a * logit(peak) + b = 0: between the hand-free peaks and the hand peaks
    assert r["peak_at_presence_0.5"] == pytest.approx(_sigmoid(-b / a), rel=1e-9)
    assert photos["neg"].max() < r["peak_at_presence_0.5"] < photos["pos"].min()


def test_the_calibrated_file_loads_and_applies_it(photos, calibrated):
    out, r = calibrated
    est = HandPoseEstimator.load(out, device="cpu")
    assert est.presence_calibration == pytest.approx((r["a"], r["b"]), rel=1e-5)
    frame = synthetic_frame(seed=0)
    presence = est.estimate(frame, with_mask=False, with_crop=False).hands[0].presence
    expected = calibrated_presence(torch.tensor([photos["pos"][0]]), est.presence_calibration)
    assert presence == pytest.approx(float(expected[0]), abs=1e-4)
    assert len(est.estimate(frame).hands) == 1
    hand_free = est.estimate(_hand_free(10), PipelineSettings.release()).hands[0]
    assert hand_free.presence < 0.5 and est.estimate(_hand_free(10)).hands == ()   # before: a peak above 0.5


def test_calibrating_a_calibrated_file_starts_from_the_raw_peak(photos, calibrated, tmp_path):
    out, r = calibrated
    again = calibrate(out, [photos["labels"]], [photos["hand_free"]], tmp_path / "again.pt")
    assert (again["a"], again["b"]) == pytest.approx((r["a"], r["b"]), rel=1e-4)
    # --out may be --weights itself
    same = tmp_path / "same.pt"
    same.write_bytes(photos["weights_bytes"])
    calibrate(same, [photos["labels"]], [photos["hand_free"]], same)
    assert HandPoseEstimator.load(same, device="cpu").presence_calibration == pytest.approx((r["a"], r["b"]),
                                                                                            rel=1e-5)


def test_main_prints_and_writes(photos, tmp_path, capsys):
    out = tmp_path / "cli.pt"
    argv = ["--weights", str(photos["weights"]), "--labels", str(photos["labels"]),
            "--hand-free", str(photos["hand_free"]), "--out", str(out)]
    assert main(argv) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("presence = sigmoid(") and "on 3 photos with hands and 3 without" in lines[0]
    assert lines[1].startswith("expected calibration error ")
    assert lines[-1] == f"wrote {out}"
    assert PRESENCE_CALIBRATION_KEY in load_weights(out)[1]


def test_main_user_errors_exit_2(photos, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not an image")
    base = ["--weights", str(photos["weights"]), "--out", str(tmp_path / "o.pt")]
    assert main(base + ["--labels", str(photos["labels"]), "--hand-free", str(empty)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: calibration needs photos") and "(--hand-free: 0)" in err
    assert len(err.splitlines()) == 1

    no_hands = tmp_path / "nohands.jsonl"
    no_hands.write_text(json.dumps({"image": str(photos["negatives"][0]), "size": [320, 240], "hands": []}) + "\n")
    assert main(base + ["--labels", str(no_hands), "--hand-free", str(photos["hand_free"])]) == 2
    assert "(--labels: 0)" in capsys.readouterr().err

    assert main(base + ["--labels", str(tmp_path / "none.jsonl"), "--hand-free", str(photos["hand_free"])]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: labels file") and "none.jsonl" in err

    broken = tmp_path / "broken.jsonl"
    broken.write_text("{not json\n")
    assert main(base + ["--labels", str(broken), "--hand-free", str(photos["hand_free"])]) == 2
    assert "not a teacher label line" in capsys.readouterr().err

    assert main(["--weights", str(tmp_path / "no.pt"), "--out", str(tmp_path / "o.pt"), "--labels",
                 str(photos["labels"]), "--hand-free", str(photos["hand_free"])]) == 2
    assert capsys.readouterr().err.startswith("error: weights file")
    assert not (tmp_path / "o.pt").exists()


def test_main_missing_hand_free_folder_exits_2(photos, tmp_path, capsys):
    assert main(["--weights", str(photos["weights"]), "--out", str(tmp_path / "o.pt"), "--labels",
                 str(photos["labels"]), "--hand-free", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_calibrate_refuses_a_score_that_falls_with_a_hand(photos, tmp_path):
    # the same photos with the roles swapped: the 'hands' peak lower than the 'hand-free' ones
    swapped = tmp_path / "swapped.jsonl"
    hand = {"side": "left", "side_score": 0.9, "keypoints_2d": [[0.0, 0.0]] * 21}
    swapped.write_text("".join(json.dumps({"image": str(p), "size": [320, 240], "hands": [hand]}) + "\n"
                               for p in photos["negatives"]))
    folder = tmp_path / "hf"
    folder.mkdir()
    for p in photos["positives"]:
        (folder / p.name).write_bytes(p.read_bytes())
    out = tmp_path / "inverted.pt"
    try:
        calibrate(photos["weights"], [swapped], [folder], out)
    except TrainingError:
        return                                               # the fix: refuse, naming the problem
    HandPoseEstimator.load(out, device="cpu")                # else the file written must at least load


# -- the keypoint-score floor ------------------------------------------------------------------------
def test_keypoint_floor_by_hand():
    scores = [0.9, 0.1, 0.5, 0.7, 0.3, 0.2, 0.8, 0.4, 0.6, 1.0]
    assert keypoint_floor(scores, 1.0) == pytest.approx(0.1)        # keeps every hand
    assert keypoint_floor(scores, 0.9) == pytest.approx(0.2)        # may drop one of ten
    assert keypoint_floor(scores, 0.85) == pytest.approx(0.2)       # one and a half: still one
    assert keypoint_floor(scores, 0.5) == pytest.approx(0.6)
    assert keypoint_floor([0.12345], 0.99) == pytest.approx(0.123)   # rounded down: the hand stays
    assert keypoint_floor([-0.2, 0.5], 1.0) == 0.0                   # a floor is never below 0
    with pytest.raises(TrainingError, match="keep-hands"):
        keypoint_floor(scores, 0.0)
    with pytest.raises(TrainingError, match="no reported hand"):
        keypoint_floor([], 0.9)


def test_calibrate_with_keep_hands_writes_the_floor(photos, calibrated, tmp_path):
    """Teacher hands spanning the whole photo: every hand the pipeline reports on them is scored. PoseNet's
    last layer is biased to +0.5 so that its scores are positive and differ a little between photos."""
    state, meta = load_weights(photos["weights"])
    last = [n for n, t in state["posenet"].items() if n.endswith("bias") and t.shape == (21,)][-1]
    state["posenet"][last] = state["posenet"][last] + 0.5
    weights = save_weights(tmp_path / "biased.pt", state, {"source": "test"}, architecture="lite")
    whole = {"side": "left", "side_score": 0.9, "keypoints_2d": [[i * 15.0, i * 11.0] for i in range(21)]}
    labels = tmp_path / "whole.jsonl"
    labels.write_text("".join(json.dumps({"image": str(p), "size": [320, 240], "hands": [whole]}) + "\n"
                              for p in photos["positives"]))
    out = tmp_path / "floored.pt"
    r = calibrate(weights, [labels], [photos["hand_free"]], out, keep_hands=1.0)
    est = HandPoseEstimator.load(out, device="cpu")
    scores = [float(np.mean(h.keypoint_scores)) for p in photos["positives"]
              for h in est.estimate(cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB),
                                    PipelineSettings(min_keypoint_score=0)).hands]
    assert r["hands_scored"] == len(scores) >= 3
    assert 0.3 < min(scores) < 0.7
    assert r["keypoint_floor"] == pytest.approx(np.floor(min(scores) * 1000) / 1000)
    assert r["hands_kept_by_floor"] == 1.0
    assert est.keypoint_score_floor == pytest.approx(r["keypoint_floor"])
    assert load_weights(out)[1][KEYPOINT_SCORE_KEY] == f"{r['keypoint_floor']:.3f}"
    assert 0.0 <= r["hand_free_with_hand_after_floor"] <= r["hand_free_with_hand_before_floor"]
    # without --keep-hands no floor is written
    assert KEYPOINT_SCORE_KEY not in load_weights(calibrated[0])[1] and "keypoint_floor" not in calibrated[1]
