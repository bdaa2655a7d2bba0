"""training.align3d (scale fit, Procrustes) on hand-made points, and training.evaluate_3d: its plumbing with
an estimator that returns known hands, and the command end to end with random lite weights."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from rhd_tiny import make_rhd
from training_support import model_hand, rotation, write_teacher_labels

from handcam.canonical import normalize_xyz
from handcam.settings import PipelineSettings
from training import evaluate_3d as E3
from training.align3d import fit_scale, joint_errors, procrustes
from training.labels import teacher_to_palm
from training.rhd import RHD

MIRROR_X = np.diag([-1.0, 1.0, 1.0])


def _t(a) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, np.float64))


# -- alignment ------------------------------------------------------------------------------------
def test_fit_scale_on_hand_computed_values():
    fit = fit_scale(_t([[1, 0, 0], [0, 2, 0]]), _t([[2, 0, 0], [0, 4, 0]]))
    assert fit.scale.item() == pytest.approx(2.0)
    assert joint_errors(fit.aligned, _t([[2, 0, 0], [0, 4, 0]])).abs().max().item() < 1e-12
    # <p, t> / <p, p> = (1 * 1 + 0 * 1) / 1: the part of the target along the prediction
    fit = fit_scale(_t([[1, 0, 0]]), _t([[1, 1, 0]]))
    assert fit.scale.item() == pytest.approx(1.0)
    assert joint_errors(fit.aligned, _t([[1, 1, 0]])).tolist() == [1.0]
    assert fit_scale(_t(np.zeros((3, 3))), _t(np.ones((3, 3)))).scale.item() == 0.0   # no NaN


def test_procrustes_on_hand_computed_values():
    # the x axis onto the y axis, twice as long, moved by (5, 5, 5)
    pred = _t([[1, 0, 0], [-1, 0, 0], [0, 0, 0]])
    target = _t([[5, 7, 5], [5, 3, 5], [5, 5, 5]])
    fit = procrustes(pred, target)
    assert fit.scale.item() == pytest.approx(2.0)
    np.testing.assert_allclose(fit.aligned.numpy(), target.numpy(), atol=1e-12)
    np.testing.assert_allclose(fit.translation.numpy(), (5, 5, 5), atol=1e-12)
    np.testing.assert_allclose((_t([[1, 0, 0]]) @ fit.rotation).numpy(), [[0, 1, 0]], atol=1e-12)
    assert torch.linalg.det(fit.rotation).item() == pytest.approx(1.0)


def test_procrustes_recovers_a_known_similarity_batched():
    hand = model_hand()
    rng = np.random.default_rng(1)
    rots = np.stack([rotation(rng.normal(size=3), a) for a in (0.2, 1.0, 2.0, 3.1)])
    scales = np.array([0.5, 1.0, 20.0, 1e3])
    shifts = rng.normal(0, 1, (4, 3))
    target = scales[:, None, None] * hand[None] @ rots + shifts[:, None, :]
    fit = procrustes(_t(np.repeat(hand[None], 4, axis=0)), _t(target))
    np.testing.assert_allclose(fit.rotation.numpy(), rots, atol=1e-9)
    np.testing.assert_allclose(fit.scale.numpy(), scales, rtol=1e-9)
    np.testing.assert_allclose(fit.translation.numpy(), shifts, atol=1e-9)
    assert joint_errors(fit.aligned, _t(target)).max().item() < 1e-9


def test_procrustes_never_reflects():
    """A hand and its mirror image: the best orthogonal matrix would be the mirror; the fit stays a proper
    rotation and leaves an error (a left hand is not a right hand)."""
    hand = model_hand() - model_hand().mean(0)
    fit = procrustes(_t(hand), _t(hand @ MIRROR_X))
    assert torch.linalg.det(fit.rotation).item() == pytest.approx(1.0)
    assert joint_errors(fit.aligned, _t(hand @ MIRROR_X)).mean().item() > 5e-3     # metres
    flat = _t([[1, 0, 0], [0, 1, 0], [-1, -1, 0]])     # a planar set: its mirror image is a rotation of it
    fit = procrustes(flat, flat @ _t(MIRROR_X))
    assert joint_errors(fit.aligned, flat @ _t(MIRROR_X)).max().item() < 1e-9


# -- the evaluation with an estimator that knows the answers --------------------------------------
class KnownEstimator:
    """Answers each frame it was told about with the given hands (``lookup(frame, settings)``)."""

    def __init__(self, lookup):
        self.settings = PipelineSettings()
        self.lookup = lookup

    def estimate(self, frame, settings=None):
        return SimpleNamespace(hands=self.lookup(np.asarray(frame).tobytes(), settings or self.settings))


def _hand(kp2d, xyz_norm, side, camera=None):
    return SimpleNamespace(keypoints_2d=np.asarray(kp2d), keypoints_3d=np.asarray(xyz_norm), side=side,
                           keypoints_3d_camera=camera)


def test_photos_exact_hands_score_zero_and_mirrored_ones_do_not(tmp_path):
    from handcam.sources import load_image

    path, lines = write_teacher_labels(tmp_path, 3)
    records = E3.photo_records([path])
    frames = {load_image(tmp_path / f"frames/img{i}.png").tobytes(): i for i in range(3)}

    def answer(mirror):
        def lookup(frame, _settings):
            h = lines[frames[frame]]["hands"][0]
            world = np.asarray(h["keypoints_world"])
            world[0] = (world[0] + world[12]) / 2
            norm = normalize_xyz(_t(world))[0].numpy() * 3.0   # any scale: the fit takes it out
            return [_hand(teacher_to_palm(h["keypoints_2d"]), norm @ (MIRROR_X if mirror else np.eye(3)),
                          h["side"])]
        return lookup

    exact = E3.evaluate_photos(KnownEstimator(answer(False)), records)
    assert exact["images"] == 4 and exact["teacher_hands"] == 4 and exact["teacher_hands_without_world"] == 1
    assert exact["matched"] == 3 and exact["same_side"] == 3 and exact["too_far"] == 0
    for a in E3.ALIGNMENTS:
        assert exact["per_joint_mm"][a]["n"] == 3 * 21 and exact["per_joint_mm"][a]["mean"] < 1e-6
    mirrored = E3.evaluate_photos(KnownEstimator(answer(True)), records, limit=2)
    assert mirrored["images"] == 2 and mirrored["matched"] == 2
    assert mirrored["per_joint_mm"]["procrustes"]["mean"] > 1.0
    # a hand given the other side's label: counted, and left out of the same-side errors
    def wrong_side(frame, settings):
        return [SimpleNamespace(**{**vars(h), "side": "left" if h.side == "right" else "right"})
                for h in answer(False)(frame, settings)]
    wrong = E3.evaluate_photos(KnownEstimator(wrong_side), records)
    assert wrong["matched"] == 3 and wrong["same_side"] == 0
    assert wrong["per_joint_mm_same_side"]["procrustes"] == {"median": None, "p90": None, "mean": None, "n": 0}


def test_renders_exact_hands_and_the_two_cameras(tmp_path):
    make_rhd(tmp_path, n_train=1, n_eval=3)
    rhd = RHD(tmp_path, "evaluation")
    frames = {rhd.color(i).tobytes(): i for i in range(3)}

    def lookup(frame, settings):
        out = []
        for h in E3.true_hands(rhd, frames[frame]):
            cam = h.xyz.astype(np.float64) + (0 if settings.intrinsics else (0.0, 0.0, 0.01))  # 10 mm deeper
            out.append(_hand(h.uv, h.xyz_norm, ("left", "right")[h.side], cam))
        return out

    r = E3.evaluate_renders(KnownEstimator(lookup), tmp_path)
    assert r["frames"] == 3 and r["true_hands"] == 6 and r["matched"] == 6 and r["same_side"] == 6
    assert r["per_joint_mm"]["scale_fit"]["mean"] < 1e-3 and r["per_joint_mm"]["procrustes"]["mean"] < 1e-3
    assert r["root_mm"]["true_intrinsics"]["mean"] < 1e-3 and r["root_mm"]["true_intrinsics"]["n"] == 6
    assert r["root_mm"]["default_fov"]["median"] == pytest.approx(10.0, abs=1e-3)
    assert r["root_depth_mm"]["default_fov"]["mean"] == pytest.approx(10.0, abs=1e-3)
    assert r["unsolved"] == {"true_intrinsics": 0, "default_fov": 0}


def test_match_hands_drops_pairs_that_are_too_far_apart():
    ref = np.zeros((21, 2))
    ref[1] = (100, 100)                                   # centre (50, 50), size 100
    pairs, far = E3.match_hands([ref + (60, 0), ref + (40, 0)], [ref], 0.5)
    assert pairs == [(1, 0)] and far == 0                 # the nearer one, 40 px <= 0.5 x 100 px
    pairs, far = E3.match_hands([ref + (60, 0)], [ref], 0.5)
    assert pairs == [] and far == 1                       # 60 px > 50 px
    assert E3.match_hands([ref + (60, 0)], [ref], 0.7) == ([(0, 0)], 0)


# -- the command ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lite_weights(tmp_path_factory):
    from handcam.estimator import HandPoseEstimator
    from handcam.weights import save_weights

    est = HandPoseEstimator.random(seed=3, device="cpu", arch="lite")
    return save_weights(tmp_path_factory.mktemp("w") / "lite.pt", {k: n.state_dict() for k, n in
                                                                   est.networks.items()}, {"source": "test"},
                        architecture="lite")


def test_command_end_to_end_with_random_lite_weights(tmp_path, lite_weights, capsys):
    labels, _ = write_teacher_labels(tmp_path, 2)
    make_rhd(tmp_path / "rhd", n_train=1, n_eval=2)
    out = tmp_path / "report.json"
    assert E3.main(["--weights", str(lite_weights), "--labels", str(labels), "--renders", str(tmp_path / "rhd"),
                    "--limit", "2", "--device", "cpu", "--json", str(out)]) == 0
    assert "photos:" in capsys.readouterr().out
    report = json.loads(out.read_text())
    assert report["architecture"] == "lite" and report["limit"] == 2
    assert report["settings"]["presence_threshold"] == 0.5
    photos, renders = report["photos"], report["renders"]
    assert photos["images"] == 2 and photos["teacher_hands"] == 2
    assert renders["frames"] == 2 and renders["true_hands"] == 4
    for part in (photos, renders):
        assert set(part["per_joint_mm"]) == set(E3.ALIGNMENTS) == set(part["per_joint_mm_same_side"])
        assert part["per_joint_mm_same_side"]["procrustes"]["n"] == 21 * part["same_side"]
        for k in ("reported_hands", "matched", "too_far", "same_side"):
            assert isinstance(part[k], int) and part[k] >= 0
        for s in part["per_joint_mm"].values():
            assert set(s) == {"median", "p90", "mean", "n"} and s["n"] == 21 * part["matched"]
    assert set(renders["root_mm"]) == set(E3.CAMERAS) == set(renders["root_depth_mm"])


@pytest.mark.parametrize("args, message", [
    ([], "nothing to evaluate"),
    (["--labels", "NONE.jsonl"], "labels file"),
    (["--renders", "NONE_DIR"], "not found"),
    (["--labels", "LABELS", "--limit", "0"], "--limit"),
])
def test_command_errors_are_one_line_exit_2(tmp_path, lite_weights, capsys, args, message):
    labels, _ = write_teacher_labels(tmp_path, 1)
    args = [str(labels) if a == "LABELS" else str(tmp_path / a) if a.startswith("NONE") else a for a in args]
    assert E3.main(["--weights", str(lite_weights), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_command_errors_on_missing_weights_and_labels_without_world(tmp_path, capsys):
    labels, lines = write_teacher_labels(tmp_path, 1)
    assert E3.main(["--weights", str(tmp_path / "none.pt"), "--labels", str(labels)]) == 2
    assert "none.pt: no such file" in capsys.readouterr().err
    old = tmp_path / "old.jsonl"
    old.write_text(json.dumps(lines[-1]) + "\n")
    assert E3.main(["--weights", str(tmp_path / "none.pt"), "--labels", str(old)]) == 2
    assert "has keypoints_world" in capsys.readouterr().err
