"""handcam.camera: intrinsics, and the hand in camera metres from the normalised 3D hand and its 2D keypoints."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from handcam.camera import (
    DEFAULT_BONE_LENGTH,
    DEFAULT_FOV_DEG,
    Intrinsics,
    camera_keypoints,
    project_points,
    reprojection_errors,
    solve_translation,
)
from handcam.canonical import normalize_xyz
from handcam.skeleton import PALM_FROM


def _hand(seed: int = 0, offset=(0.04, -0.03, 0.55)) -> torch.Tensor:
    """A metric hand (21 x 3, float64, camera frame) from the synthetic engine's kinematics, keypoint 0
    the palm centre as the networks use it."""
    from training.synth import kinematics as kin

    rng = np.random.default_rng(seed)
    shape = kin.sample_shape(rng)
    _, angles = kin.sample_pose(rng)
    xyz, _ = kin.forward(shape, angles)
    c, s = math.cos(0.7 + seed), math.sin(0.7 + seed)
    rot_y = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    rot = rot_y @ np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
    xyz = xyz @ rot.T + np.asarray(offset)
    xyz[0] = (xyz[PALM_FROM[0]] + xyz[PALM_FROM[1]]) / 2
    return torch.from_numpy(xyz)


K = Intrinsics(fx=512.0, fy=498.0, cx=171.25, cy=149.5)


# -- intrinsics -----------------------------------------------------------------------------------
def test_from_fov_hand_computed():
    k = Intrinsics.from_fov((480, 640), 90.0)
    # fx = W / (2 tan 45 deg) = 320; centre ((W - 1) / 2, (H - 1) / 2): integer coordinates at pixel centres
    assert (k.fx, k.fy, k.cx, k.cy) == pytest.approx((320.0, 320.0, 319.5, 239.5))
    k = Intrinsics.from_fov((720, 1280), 60.0)
    assert k.fx == pytest.approx(640.0 * math.sqrt(3.0)) and k.fy == k.fx   # 1280 / (2 tan 30 deg)
    assert (k.cx, k.cy) == (639.5, 359.5)
    np.testing.assert_allclose(k.matrix(), [[k.fx, 0, 639.5], [0, k.fx, 359.5], [0, 0, 1]])


def test_from_fov_spans_the_whole_width():
    """The horizontal field of view runs from the left edge of the first column (x = -0.5) to the right
    edge of the last (x = W - 0.5)."""
    w, fov = 640, 70.0
    k = Intrinsics.from_fov((480, w), fov)
    t = math.tan(math.radians(fov / 2))
    edges = project_points(torch.tensor([[-t, 0.0, 1.0], [t, 0.0, 1.0], [0.0, 0.0, 2.0]], dtype=torch.float64), k)
    np.testing.assert_allclose(edges.numpy(), [[-0.5, 239.5], [w - 0.5, 239.5], [319.5, 239.5]], atol=1e-9)


def test_defaults_are_plausible():
    assert 0.035 < DEFAULT_BONE_LENGTH < 0.055
    # the Logitech C920's 78 degrees diagonal on a 16:9 sensor
    horizontal = 2 * math.degrees(math.atan(math.tan(math.radians(39.0)) * 16 / math.hypot(16, 9)))
    assert DEFAULT_FOV_DEG == pytest.approx(horizontal, abs=0.05)


@pytest.mark.parametrize("args", [(0.0, 1.0, 0.0, 0.0), (1.0, -2.0, 0.0, 0.0), (1.0, 1.0, float("nan"), 0.0),
                                  (1.0, 1.0, 0.0, float("inf")), ("a", 1.0, 0.0, 0.0), (True, 1.0, 0.0, 0.0)])
def test_intrinsics_validation(args):
    with pytest.raises(ValueError):
        Intrinsics(*args)


@pytest.mark.parametrize("hw,fov", [((480, 640), 0.0), ((480, 640), 180.0), ((480, 640), -10.0),
                                    ((480, 640), float("nan")), ((0, 640), 60.0), ((480.5, 640), 60.0),
                                    ((480,), 60.0), ("ab", 60.0)])
def test_from_fov_validation(hw, fov):
    with pytest.raises(ValueError):
        Intrinsics.from_fov(hw, fov)


def test_from_matrix_round_trip_and_validation():
    assert Intrinsics.from_matrix(K.matrix()) == K
    skewed = K.matrix()
    skewed[0, 1] = 0.5
    for bad in (skewed, np.eye(4), np.full((3, 3), np.nan)):
        with pytest.raises(ValueError):
            Intrinsics.from_matrix(bad)


def test_intrinsics_is_frozen():
    with pytest.raises(Exception):
        K.fx = 1.0  # type: ignore[misc]


# -- the solver -----------------------------------------------------------------------------------
def test_three_point_toy_hand_computed():
    """P0 = 0, P1 = +x, P2 = -x (s = 1) seen at x_n = 0, 0.1, -0.3 (fx = 100, c = 0): the x rows are
    T_x = 0, T_x - 0.1 T_z = -1, T_x + 0.3 T_z = 1 (inconsistent), the y rows T_y = 0. Normal equations
    3 T_x + 0.2 T_z = 0, 0.2 T_x + 0.1 T_z = 0.4 -> T = (-4/13, 0, 60/13). Unused keypoints are NaN."""
    p = torch.full((21, 3), float("nan"), dtype=torch.float64)
    uv = torch.full((21, 2), float("nan"), dtype=torch.float64)
    w = torch.zeros(21, dtype=torch.float64)
    p[[0, 1, 2]] = torch.tensor([[0.0, 0, 0], [1, 0, 0], [-1, 0, 0]], dtype=torch.float64)
    uv[[0, 1, 2]] = torch.tensor([[0.0, 0], [10, 0], [-30, 0]], dtype=torch.float64)
    w[[0, 1, 2]] = 1.0
    k = Intrinsics(100.0, 100.0, 0.0, 0.0)
    t = solve_translation(p, uv, k, 1.0, w)
    np.testing.assert_allclose(t.numpy(), [-4 / 13, 0.0, 60 / 13], atol=1e-12)
    out = camera_keypoints(p, uv, k, 1.0, w)
    np.testing.assert_allclose(out[:3].numpy(), p[:3].numpy() + t.numpy(), atol=1e-12)


def test_known_pose_recovered_exactly():
    xyz = _hand()
    uv = project_points(xyz, K)
    p, s = normalize_xyz(xyz)
    for steps in (0, 2):
        out = camera_keypoints(p, uv, K, float(s), refine_steps=steps)
        assert out.shape == (21, 3) and out.dtype == torch.float64
        np.testing.assert_allclose(out.numpy(), xyz.numpy(), atol=1e-6)
    # float32 inputs: float32 arithmetic, still to a few micrometres
    out32 = camera_keypoints(p.float(), uv.float(), K, float(s))
    assert out32.dtype == torch.float32
    np.testing.assert_allclose(out32.numpy(), xyz.numpy(), atol=2e-5)


def test_scale_comes_from_the_bone_length():
    """A wrong bone length scales the whole hand, root included, about the camera centre."""
    xyz = _hand(1)
    uv = project_points(xyz, K)
    p, s = normalize_xyz(xyz)
    out = camera_keypoints(p, uv, K, 1.2 * float(s))
    np.testing.assert_allclose(out.numpy(), 1.2 * xyz.numpy(), atol=1e-9)
    np.testing.assert_allclose(project_points(out, K).numpy(), uv.numpy(), atol=1e-6)


def test_zero_weights_remove_outliers():
    xyz = _hand(2)
    uv = project_points(xyz, K)
    p, s = normalize_xyz(xyz)
    bad = uv.clone()
    bad[[4, 8, 20]] += torch.tensor([80.0, -60.0], dtype=torch.float64)
    spoiled = camera_keypoints(p, bad, K, float(s))
    assert (spoiled - xyz).norm(dim=-1).max() > 0.01          # the outliers move the hand by centimetres
    w = torch.ones(21, dtype=torch.float64)
    w[[4, 8, 20]] = 0.0
    np.testing.assert_allclose(camera_keypoints(p, bad, K, float(s), w).numpy(), xyz.numpy(), atol=1e-6)
    # negative and NaN weights count as 0
    w[4], w[8] = -3.0, float("nan")
    np.testing.assert_allclose(camera_keypoints(p, bad, K, float(s), w).numpy(), xyz.numpy(), atol=1e-6)


def test_a_nan_keypoint_of_weight_zero_changes_no_number():
    # finite inputs take the solver's unmasked arithmetic, a NaN keypoint the masked one: the same numbers
    xyz = _hand(5)
    uv = project_points(xyz, K)
    uv[7:10] += torch.tensor([4.0, -3.0], dtype=torch.float64)      # noise: the refinement has work to do
    p, s = normalize_xyz(xyz)
    w = torch.linspace(0.2, 1.0, 21, dtype=torch.float64)
    w[3] = 0.0
    for steps in (0, 1, 3):
        finite = camera_keypoints(p, uv, K, float(s), w, refine_steps=steps)
        spoiled_uv, spoiled_p = uv.clone(), p.clone()
        spoiled_uv[3], spoiled_p[3] = float("nan"), float("inf")
        masked = camera_keypoints(spoiled_p, spoiled_uv, K, float(s), w, refine_steps=steps)
        keep = torch.arange(21) != 3
        assert torch.isfinite(finite).all()
        np.testing.assert_allclose(masked[keep].numpy(), finite[keep].numpy(), rtol=0, atol=1e-12)


def test_batch_equals_per_item():
    hands = [_hand(i, offset=(0.1 * i - 0.1, 0.05 * i, 0.4 + 0.2 * i)) for i in range(4)]
    ks = torch.tensor([[512.0, 498.0, 171.25, 149.5], [300.0, 300.0, 160.0, 120.0],
                       [800.0, 810.0, 300.0, 200.0], [450.0, 450.0, 100.0, 110.0]], dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    p = torch.stack([normalize_xyz(h)[0] for h in hands])
    bone = torch.tensor([0.04, 0.045, 0.05, 0.043], dtype=torch.float64)
    uv = torch.stack([project_points(h, k) for h, k in zip(hands, ks)])
    uv = uv + torch.randn(uv.shape, generator=gen, dtype=torch.float64) * 2.0
    w = torch.rand(4, 21, generator=gen, dtype=torch.float64)
    for steps in (0, 2):
        batch = camera_keypoints(p, uv, ks, bone, w, refine_steps=steps)
        assert batch.shape == (4, 21, 3)
        for i in range(4):
            one = camera_keypoints(p[i], uv[i], Intrinsics(*ks[i].tolist()), float(bone[i]), w[i], refine_steps=steps)
            np.testing.assert_allclose(batch[i].numpy(), one.numpy(), atol=1e-12)


def test_gauss_newton_lowers_the_reprojection_error():
    xyz = _hand(3, offset=(0.0, 0.0, 0.25))                   # close: depth varies much across the hand
    uv = project_points(xyz, K)
    p, s = normalize_xyz(xyz)
    gen = torch.Generator().manual_seed(1)
    noisy = uv + torch.randn(uv.shape, generator=gen, dtype=torch.float64) * 3.0
    lin = reprojection_errors(camera_keypoints(p, noisy, K, float(s)), noisy, K)
    gn = reprojection_errors(camera_keypoints(p, noisy, K, float(s), refine_steps=3), noisy, K)
    assert (gn ** 2).sum() < (lin ** 2).sum()


def test_numpy_inputs_and_intrinsics_tensor():
    xyz = _hand(4)
    uv = project_points(xyz, K)
    p, s = normalize_xyz(xyz)
    out = camera_keypoints(p.numpy(), uv.numpy(), K.as_tensor(dtype=torch.float64), float(s))
    assert isinstance(out, np.ndarray) and out.dtype == np.float64     # host arrays in, a host array out
    np.testing.assert_allclose(out, xyz.numpy(), atol=1e-6)


# -- degenerate hands -----------------------------------------------------------------------------
def _three_hands():
    hands = [_hand(i) for i in range(3)]
    p = torch.stack([normalize_xyz(h)[0] for h in hands])
    uv = torch.stack([project_points(h, K) for h in hands])
    s = torch.stack([normalize_xyz(h)[1] for h in hands])
    return torch.stack(hands), p, uv, s


def test_all_weights_zero_gives_a_nan_hand_and_leaves_the_others():
    xyz, p, uv, s = _three_hands()
    w = torch.ones(3, 21, dtype=torch.float64)
    w[1] = 0.0
    out = camera_keypoints(p, uv, K, s, w)
    assert torch.isnan(out[1]).all()
    np.testing.assert_allclose(out[[0, 2]].numpy(), xyz[[0, 2]].numpy(), atol=1e-6)
    assert torch.isnan(solve_translation(p, uv, K, s, w)[1]).all()


def test_no_spread_gives_nan():
    """All weighted 2D keypoints at one point (here: a single keypoint with weight): depth undetermined."""
    _, p, uv, s = _three_hands()
    same = uv.clone()
    same[0] = 100.0
    w = torch.ones(3, 21, dtype=torch.float64)
    w[2, 1:] = 0.0
    out = camera_keypoints(p, same, K, s, w)
    assert torch.isnan(out[0]).all() and torch.isnan(out[2]).all()
    assert torch.isfinite(out[1]).all()


def test_hand_behind_the_camera_gives_nan():
    """2D keypoints that only a root behind the camera (T_z < 0) explains."""
    xyz, p, uv, s = _three_hands()
    behind = xyz.clone()
    behind[1] = s[1] * p[1] + torch.tensor([0.0, 0.0, -0.5], dtype=torch.float64)
    uv = torch.stack([project_points(h, K) for h in behind])
    for steps in (0, 2):
        out = camera_keypoints(p, uv, K, s, refine_steps=steps)
        assert torch.isnan(out[1]).all()
        np.testing.assert_allclose(out[[0, 2]].numpy(), xyz[[0, 2]].numpy(), atol=1e-6)


def test_bone_length_rules():
    xyz, p, uv, s = _three_hands()
    bad = s.clone()
    bad[0] = 0.0
    bad[2] = float("nan")
    out = camera_keypoints(p, uv, K, bad)
    assert torch.isnan(out[0]).all() and torch.isnan(out[2]).all() and torch.isfinite(out[1]).all()
    for number in (0.0, -0.04, float("nan"), "x"):
        with pytest.raises(ValueError):
            camera_keypoints(p, uv, K, number)


def test_shape_errors():
    _, p, uv, s = _three_hands()
    with pytest.raises(ValueError, match="keypoints_3d"):
        camera_keypoints(p[:, :20], uv, K, 0.045)
    with pytest.raises(ValueError, match="keypoints_2d"):
        camera_keypoints(p, uv[:2], K, 0.045)
    with pytest.raises(ValueError, match="intrinsics"):
        camera_keypoints(p, uv, torch.ones(2, 4), 0.045)
    with pytest.raises(ValueError, match="weights"):
        camera_keypoints(p, uv, K, 0.045, torch.ones(3, 20))
    with pytest.raises(ValueError, match="refine_steps"):
        camera_keypoints(p, uv, K, 0.045, refine_steps=-1)


# -- conventions ----------------------------------------------------------------------------------
def test_render_axes_are_the_solvers():
    """A render of the synthetic engine: its metric 3D normalised the way the lifting targets are
    (``normalize_xyz`` of the camera-frame hand, palm root) plus its own 2D keypoints and camera matrix
    give its metric 3D back, with no axis conversion (x right, y down, z forward)."""
    from training.synth import dataset

    sample = dataset.render_sample(3, seed=11, set_name="evaluation")
    side = 0 if sample.meta["present"]["left"] else 1
    xyz = torch.from_numpy(sample.anno["xyz"][21 * side: 21 * side + 21].astype(np.float64))
    uv = torch.from_numpy(sample.anno["uv_vis"][21 * side: 21 * side + 21, :2].astype(np.float64))
    xyz[0] = (xyz[PALM_FROM[0]] + xyz[PALM_FROM[1]]) / 2
    k = Intrinsics.from_matrix(sample.anno["K"].astype(np.float64))
    w = torch.ones(21, dtype=torch.float64)
    w[0] = 0.0                                     # the stored uv of keypoint 0 is the wrist's
    p, s = normalize_xyz(xyz)
    out = camera_keypoints(p, uv, k, float(s), w)
    np.testing.assert_allclose(out.numpy(), xyz.numpy(), atol=1e-5)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_matches_cpu():
    xyz, p, uv, s = _three_hands()
    uv = uv + 1.5
    cpu = camera_keypoints(p.float(), uv.float(), K, s.float(), refine_steps=2)
    gpu = camera_keypoints(p.float().cuda(), uv.float().cuda(), K, s.float().cuda(), refine_steps=2)
    assert gpu.device.type == "cuda"
    np.testing.assert_allclose(gpu.cpu().numpy(), cpu.numpy(), atol=1e-5)


def test_reduced_precision_inputs_and_mirrored_intrinsics():
    from handcam.estimator import HandPoseEstimator
    from handcam.settings import PipelineSettings

    xyz = _hand()
    k = Intrinsics(500.0, 500.0, 300.0, 240.0)
    uv = project_points(xyz, k)
    s = float(torch.linalg.vector_norm(xyz[12] - xyz[11]))
    p = (xyz - xyz[0]) / s
    out = camera_keypoints(p.to(torch.bfloat16), uv.to(torch.bfloat16), k, s)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    np.testing.assert_allclose(out.numpy(), xyz.numpy(), atol=0.02)           # bf16's 3 digits
    # given intrinsics are the camera's: for mirrored frames the principal point is mirrored too
    settings = PipelineSettings(intrinsics=(500.0, 500.0, 300.0, 240.0))
    assert HandPoseEstimator.intrinsics((480, 640), settings).cx == 300.0
    assert HandPoseEstimator.intrinsics((480, 640), settings.replace(mirrored=True)).cx == 639 - 300.0
    fov = PipelineSettings(fov_deg=60.0)
    assert HandPoseEstimator.intrinsics((480, 640), fov) == HandPoseEstimator.intrinsics((480, 640),
                                                                                        fov.replace(mirrored=True))
