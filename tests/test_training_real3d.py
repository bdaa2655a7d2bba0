"""training.real3d: the teacher's world landmarks -> the lifting targets (the renders' conventions), on
hand-made hands; the teacher labels' world landmarks; the contact sheet on generated photos."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from training_support import model_hand, rotation, write_teacher_labels

from handcam.geometry import flip_right_hand, from_canonical
from training import real3d as R3
from training.labels import read_labels
from training.rhd import select_hand
from training.teacher import hand_record

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
LEFT, RIGHT = [1.0, 0.0], [0.0, 1.0]
MIRROR_X = np.diag([-1.0, 1.0, 1.0])


def _t(a, device="cpu", dtype=torch.float64) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a), dtype=dtype, device=device)


def _hands(n: int = 6) -> np.ndarray:
    """n copies of the model hand, each turned by its own rotation and moved by its own offset (metres)."""
    rng = np.random.default_rng(4)
    return np.stack([model_hand() @ rotation(rng.normal(size=3), rng.uniform(0, np.pi)).T + rng.normal(0, 0.1, 3)
                     for _ in range(n)])


def test_palm_root_and_normalisation_on_hand_computed_values():
    world = np.zeros((21, 3))
    world[0] = (0.01, 0.02, 0.03)          # wrist
    world[12] = (0.01, -0.06, 0.03)        # middle MCP, 8 cm above the wrist
    world[11] = (0.01, -0.10, 0.03)        # middle PIP, 4 cm above the MCP: bone 12-11 = 0.04 m
    world[20] = (0.05, -0.05, 0.03)        # little MCP
    world[5] = (-0.02, -0.14, 0.01)        # index tip
    palm = R3.palm_root(_t(world))
    np.testing.assert_allclose(palm[0].numpy(), (0.01, -0.02, 0.03))   # midway between wrist and middle MCP
    np.testing.assert_allclose(palm[1:].numpy(), world[1:])
    assert world[0].tolist() == [0.01, 0.02, 0.03]                       # the input is left as it is
    t = R3.world_targets(_t(world)[None], _t([LEFT]))
    assert t.scale.item() == pytest.approx(0.04)
    np.testing.assert_allclose(t.xyz_norm[0, 0].numpy(), 0, atol=1e-12)
    np.testing.assert_allclose(t.xyz_norm[0, 12].numpy(), (0, -1, 0), atol=1e-12)     # (-0.06 + 0.02) / 0.04
    np.testing.assert_allclose(t.xyz_norm[0, 11].numpy(), (0, -2, 0), atol=1e-12)
    np.testing.assert_allclose(t.xyz_norm[0, 5].numpy(), (-0.75, -3.0, -0.5), atol=1e-12)
    np.testing.assert_allclose(t.xyz_norm[0, 20].numpy(), (1.0, -0.75, 0.0), atol=1e-12)
    # already in the canonical frame (kp12 on -y, kp20 at z = 0 with x > 0): the rotation is the identity
    np.testing.assert_allclose(t.rot_mat[0].numpy(), np.eye(3), atol=1e-12)
    np.testing.assert_allclose(t.coord_can[0].numpy(), t.xyz_norm[0].numpy(), atol=1e-12)


def test_mediapipe_order_through_the_teacher_record():
    """A MediaPipe hand (landmark i at x = i mm) reaches the targets in RHD order: 0 the wrist, then per
    finger tip first; keypoint 12 is MediaPipe's middle MCP (9) and 11 its PIP (10)."""
    mp = np.zeros((21, 3))
    mp[:, 0] = np.arange(21) * 1e-3
    rec = hand_record(np.zeros((21, 3)) + 0.5, mp, "Left", 0.9, (100, 100))
    assert rec["side"] == "right"                     # MediaPipe's names are a selfie view's
    world = np.asarray(rec["keypoints_world"])
    expected = [0, 4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9, 16, 15, 14, 13, 20, 19, 18, 17]
    np.testing.assert_allclose(world[:, 0], np.array(expected) * 1e-3)
    t = R3.hand_targets([rec], dtype=torch.float64)
    assert t.scale.item() == pytest.approx(1e-3)      # |MediaPipe 9 - 10|
    assert t.hand_side.tolist() == [RIGHT]
    x = np.array(expected) - 4.5                      # the palm root at x = (0 + 9) / 2 mm
    x[0] = 0.0
    np.testing.assert_allclose(t.xyz_norm[0, :, 0].numpy(), x)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_inference_formula_recovers_the_normalised_hand(device, dtype):
    hands = _hands(6)
    sides = _t([LEFT, RIGHT] * 3, device, dtype)
    t = R3.world_targets(_t(hands, device, dtype), sides)
    assert t.coord_can.device.type == device and t.coord_can.dtype == dtype
    back = flip_right_hand(t.coord_can, sides) @ t.rot_mat
    tol = 1e-5 if dtype == torch.float32 else 1e-10
    assert (back - t.xyz_norm).abs().max().item() < tol
    # the normalised hand is the world hand, palm-rooted, shifted and scaled
    palm = hands.copy()
    palm[:, 0] = (hands[:, 0] + hands[:, 12]) / 2
    scale = np.linalg.norm(hands[:, 12] - hands[:, 11], axis=-1)
    expected = (palm - palm[:, :1]) / scale[:, None, None]
    assert np.abs(t.xyz_norm.double().cpu().numpy() - expected).max() < tol * 10
    assert torch.allclose(from_canonical(t.coord_can, t.rot_mat, sides), back)


@pytest.mark.parametrize("device", DEVICES)
def test_a_known_rotation_comes_back(device):
    """A canonical hand turned by known rotations: the same canonical coordinates, and those rotations
    as the ViewPoint targets (row vectors: ``xyz = coord_can @ rot_mat``)."""
    world = _t(model_hand(), device)
    t0 = R3.world_targets(world[None], _t([LEFT], device))
    can = t0.coord_can[0]
    # the world hand (wrist at keypoint 0) in the canonical frame: palm centre at 0, bone 12-11 of length 1
    world_can = (world - R3.palm_root(world)[0]) / t0.scale[0] @ t0.rot_mat[0].T
    rng = np.random.default_rng(0)
    rots = _t(np.stack([rotation(rng.normal(size=3), a) for a in (0.3, 1.2, 2.5, 3.0)]), device)
    offsets = _t(rng.normal(0, 0.2, (4, 1, 3)), device)
    scale = 0.037                                      # metres per unit: any scale normalises away
    t = R3.world_targets(world_can @ rots * scale + offsets, _t([LEFT] * 4, device))
    assert torch.allclose(t.coord_can, can.expand(4, 21, 3), atol=1e-9)
    assert torch.allclose(t.rot_mat, rots, atol=1e-9)
    assert torch.allclose(t.scale, torch.full((4,), scale, dtype=t.scale.dtype, device=device))
    # its mirror image (z -> -z, a right hand) turned by the same rotations: the same canonical coordinates
    # (a left hand's) and the same rotations
    flip_z = _t(np.diag([1.0, 1.0, -1.0]), device)
    right = R3.world_targets(world_can @ flip_z @ rots * scale + offsets, _t([RIGHT] * 4, device))
    assert torch.allclose(right.coord_can, can.expand(4, 21, 3), atol=1e-9)
    assert torch.allclose(right.rot_mat, rots, atol=1e-9)


def test_a_left_hand_and_its_mirror_image_have_the_same_canonical_coordinates():
    hands = _hands(4)
    left = R3.world_targets(_t(hands), _t([LEFT] * 4))
    mirrored = R3.world_targets(_t(hands @ MIRROR_X), _t([RIGHT] * 4))   # a left hand in a mirror: a right hand
    assert torch.allclose(left.coord_can, mirrored.coord_can, atol=1e-9)
    # the two rotations differ (the mirror is not a rotation), each a proper rotation inverting its own hand
    assert not torch.allclose(left.rot_mat, mirrored.rot_mat, atol=1e-3)
    assert torch.allclose(torch.linalg.det(mirrored.rot_mat), torch.ones(4, dtype=torch.float64))
    assert torch.allclose(from_canonical(mirrored.coord_can, mirrored.rot_mat, mirrored.hand_side),
                          mirrored.xyz_norm, atol=1e-9)
    # the canonical hand keeps a left hand's handedness; the camera-frame hands read as their sides
    assert (R3.handedness_score(left.xyz_norm) < -0.2).all()
    assert (R3.handedness_score(mirrored.xyz_norm) > 0.2).all()
    assert (R3.handedness_score(mirrored.coord_can) < -0.2).all()


def test_the_targets_are_the_renders_targets():
    """The same hand as an RHD annotation (``training.rhd.select_hand``) and as teacher world landmarks."""
    hands = _hands(2)
    xyz = np.concatenate([hands[0] + (0, 0, 0.5), hands[1] @ MIRROR_X + (0, 0, 0.6)])     # left, then right
    anno = {"xyz": xyz, "uv_vis": np.concatenate([np.zeros((42, 2)), np.ones((42, 1))], 1), "K": np.eye(3)}
    for side in (0, 1):
        rhd = select_hand(anno, side)
        t = R3.world_targets(_t(xyz[21 * side:21 * side + 21])[None], _t([[LEFT, RIGHT][side]]))
        np.testing.assert_allclose(t.coord_can[0].numpy(), rhd.coord_can, atol=1e-6)
        np.testing.assert_allclose(t.rot_mat[0].numpy(), rhd.rot_mat, atol=1e-6)
        np.testing.assert_allclose(t.xyz_norm[0].numpy(), rhd.xyz_norm, atol=1e-6)
        assert t.scale.item() == pytest.approx(rhd.scale, rel=1e-6)
        np.testing.assert_allclose(t.hand_side[0].numpy(), rhd.hand_side)


def test_wrong_shapes_and_missing_world_landmarks():
    with pytest.raises(ValueError, match="B x 21 x 3"):
        R3.world_targets(torch.zeros(21, 3), torch.zeros(1, 2))
    with pytest.raises(ValueError, match="no keypoints_world"):
        R3.hand_targets([{"side": "left", "keypoints_2d": np.zeros((21, 2))}])


def test_read_labels_keeps_the_world_landmarks(tmp_path):
    path, lines = write_teacher_labels(tmp_path)
    recs = read_labels(path)
    world = recs[1]["hands"][0]["keypoints_world"]
    assert isinstance(world, np.ndarray) and world.shape == (21, 3)
    np.testing.assert_allclose(world, lines[1]["hands"][0]["keypoints_world"])
    assert "keypoints_world" not in recs[3]["hands"][0]
    bad = tmp_path / "bad.jsonl"
    lines[0]["hands"][0]["keypoints_world"] = np.zeros((21, 2)).tolist()
    bad.write_text(json.dumps(lines[0]) + "\n")
    with pytest.raises(ValueError, match=r"bad\.jsonl:1: .*21 x 3"):
        read_labels(bad)


def test_contact_sheet_command(tmp_path, capsys):
    path, _ = write_teacher_labels(tmp_path)
    out = tmp_path / "sheet.png"
    assert R3.main(["--labels", str(path), "--out", str(out), "--count", "8", "--size", "64"]) == 0
    assert "wrote" in capsys.readouterr().out
    sheet = cv2.imread(str(out))
    # 3 hands with world landmarks, 2 per row: 2 rows of 64 px (+ the legend), 2 x 4 panels of 64 px
    assert sheet.shape[1] == 2 * 4 * 64 and sheet.shape[0] == 22 + 2 * 64
    picked = R3.pick_hands([(r, path) for r in read_labels(path)], 2)
    assert [h["side"] for _, _, h in picked] == ["left", "right"]
    assert R3.main(["--labels", str(tmp_path / "none.jsonl"), "--out", str(out)]) == 2
    assert capsys.readouterr().err.startswith("error: labels file")
