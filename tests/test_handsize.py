"""handcam.handsize: the mean hand, the robust whole-hand scale fit, the user's hand length, the camera-space
hand resized to a scale, and the steady per-hand scale."""
import math

import numpy as np
import pytest
import torch

from handcam.camera import DEFAULT_BONE_LENGTH, Intrinsics, camera_keypoints, project_points
from handcam.handsize import (
    MEAN_BONE_LENGTHS,
    MEAN_HAND_LENGTH,
    SteadyScales,
    fit_scale,
    hand_scales,
    rescaled,
    scale_for_hand_length,
)
from handcam.results import HandPose
from handcam.skeleton import BONES, NUM_KEYPOINTS, SCALE_BONE


def hand_from_bones(lengths: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """21 x 3 points, root at the origin, with these bone lengths (``BONES`` order), each bone in a random
    direction (only the lengths matter to the fit)."""
    p = np.zeros((NUM_KEYPOINTS, 3))
    for (parent, child), length in zip(BONES, lengths):
        d = rng.normal(size=3)
        p[child] = p[parent] + length * d / np.linalg.norm(d)
    return p


def bone_lengths(p: np.ndarray) -> np.ndarray:
    return np.array([np.linalg.norm(p[c] - p[a]) for a, c in BONES])


def test_the_mean_hand():
    assert MEAN_BONE_LENGTHS.shape == (len(BONES),) and not MEAN_BONE_LENGTHS.flags.writeable
    assert MEAN_BONE_LENGTHS[BONES.index(SCALE_BONE)] == pytest.approx(DEFAULT_BONE_LENGTH)
    assert (MEAN_BONE_LENGTHS > 0.015).all() and (MEAN_BONE_LENGTHS < 0.05).all()      # 1.5 - 5 cm each
    # hand length: wrist (twice root -> middle MCP) to middle fingertip, an adult's 17-18 cm
    middle = [BONES.index(b) for b in ((0, 12), (12, 11), (11, 10), (10, 9))]
    assert MEAN_HAND_LENGTH == pytest.approx(MEAN_BONE_LENGTHS[middle[0]] + MEAN_BONE_LENGTHS[middle].sum())
    assert 0.17 < MEAN_HAND_LENGTH < 0.18


def test_a_mean_hand_scaled_by_k_gives_k():
    rng = np.random.default_rng(0)
    ks = np.array([0.03, 0.045, 0.06])
    # in normalised units the mean hand divided by k: k metres per unit maps it back onto the mean hand
    p = np.stack([hand_from_bones(MEAN_BONE_LENGTHS / k, rng) for k in ks])
    np.testing.assert_allclose(fit_scale(p), ks, rtol=1e-12)
    # the mean hand's bone 12-11 set to bone_length scales the result in proportion
    np.testing.assert_allclose(fit_scale(p, 0.09), 2 * ks, rtol=1e-12)
    # one hand in: one number out; a normalised mean hand (bone 12-11 = 1) gets exactly the assumed bone
    unit = hand_from_bones(MEAN_BONE_LENGTHS / DEFAULT_BONE_LENGTH, rng)
    assert fit_scale(unit).shape == () and float(fit_scale(unit)) == pytest.approx(DEFAULT_BONE_LENGTH, rel=1e-12)


def test_five_percent_noise_per_bone_stays_within_a_few_percent():
    rng = np.random.default_rng(1)
    k = 0.05
    noisy = [hand_from_bones(MEAN_BONE_LENGTHS / k * np.exp(rng.normal(0, 0.05, len(BONES))), rng)
             for _ in range(200)]
    err = fit_scale(np.stack(noisy)) / k - 1
    assert np.abs(err).max() < 0.05 and np.sqrt(np.mean(err ** 2)) < 0.02     # about 1.25 x 5 % / sqrt(20)


@pytest.mark.parametrize("bad", [[9], [11], [12], [4], [11, 17]])    # a tip, a PIP, an MCP, the thumb CMC; two
def test_wildly_wrong_keypoints_move_the_fit_by_under_five_percent(bad):
    rng = np.random.default_rng(2)
    hands = np.stack([hand_from_bones(MEAN_BONE_LENGTHS / 0.05 * np.exp(rng.normal(0, 0.05, len(BONES))), rng)
                      for _ in range(50)])
    spoiled = hands.copy()
    spoiled[:, bad] += rng.choice([-1, 1], size=(50, len(bad), 3)) * 5.0        # 5 units: ~20 cm off
    moved = fit_scale(spoiled) / fit_scale(hands) - 1
    assert np.abs(moved).max() < 0.05
    # a least-squares scale (the ratio of summed lengths) follows the bad keypoint far
    lengths = np.stack([bone_lengths(h) for h in spoiled])
    ls = MEAN_BONE_LENGTHS.sum() / lengths.sum(1)
    assert np.abs(ls / fit_scale(hands) - 1).max() > 0.2


def test_types_devices_and_bad_bones():
    rng = np.random.default_rng(3)
    p = np.stack([hand_from_bones(MEAN_BONE_LENGTHS / 0.04, rng) for _ in range(3)])
    assert fit_scale(p).dtype == np.float64 and fit_scale(p.astype(np.float32)).dtype == np.float32
    t = fit_scale(torch.from_numpy(p).float())
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32 and t.shape == (3,)
    assert fit_scale(torch.from_numpy(p)).dtype == torch.float64
    assert fit_scale(torch.from_numpy(p).to(torch.bfloat16)).dtype == torch.float32
    np.testing.assert_allclose(t.numpy(), 0.04, rtol=1e-5)
    # bones of no length (or NaN) are left out; a hand without any usable bone is NaN
    q = p.copy()
    q[0, 9] = q[0, 10]
    q[1, 5:9] = np.nan
    q[2] = 0.0
    out = fit_scale(q)
    assert out[:2] == pytest.approx([0.04, 0.04]) and np.isnan(out[2])
    with pytest.raises(ValueError, match="keypoints_3d"):
        fit_scale(p[:, :20])
    with pytest.raises(ValueError, match="bone_length"):
        fit_scale(p, 0.0)


def test_hand_size_modes_and_the_users_hand_length():
    rng = np.random.default_rng(4)
    p = np.stack([hand_from_bones(MEAN_BONE_LENGTHS / k, rng) for k in (0.04, 0.05)])
    np.testing.assert_allclose(hand_scales(p, "auto", 0.045), [0.04, 0.05])
    np.testing.assert_allclose(hand_scales(p.astype(np.float32), "auto", 0.09), [0.08, 0.10], rtol=1e-6)
    assert hand_scales(p, "bone", 0.05).tolist() == [0.05, 0.05]
    # the mean hand's own length gives the assumed bone; a hand length scales it in proportion
    assert scale_for_hand_length(MEAN_HAND_LENGTH) == pytest.approx(DEFAULT_BONE_LENGTH)
    assert scale_for_hand_length(0.2) == pytest.approx(DEFAULT_BONE_LENGTH * 0.2 / MEAN_HAND_LENGTH)
    assert hand_scales(p, 0.2, 0.09).tolist() == [scale_for_hand_length(0.2)] * 2      # bone_length unused
    assert hand_scales(p, "auto", 0.045).dtype == np.float64
    with pytest.raises(ValueError, match="hand_size"):
        hand_scales(p, "big", 0.045)
    with pytest.raises(ValueError, match="hand_length"):
        scale_for_hand_length(-0.2)


def test_a_rescaled_hand_is_the_camera_solve_at_that_scale():
    rng = np.random.default_rng(5)
    k = Intrinsics(500.0, 500.0, 319.5, 239.5)
    truth = hand_from_bones(MEAN_BONE_LENGTHS, rng) * 0.5 + np.array([0.05, -0.02, 0.45])
    uv = project_points(torch.from_numpy(truth), k).numpy() + rng.normal(0, 1.0, (21, 2))
    p = (truth - truth[0]) / np.linalg.norm(truth[12] - truth[11])
    w = rng.uniform(0.2, 1.0, 21)
    cam = camera_keypoints(p, uv, k, 0.04, w, refine_steps=1)
    hand = HandPose(id=0, side="left", side_score=None, presence=1.0, box=np.zeros(4), center=np.zeros(2),
                    scale=1.0, keypoints_2d=uv, keypoint_scores=w, keypoints_3d=p, keypoints_crop=np.zeros((21, 2)),
                    keypoints_3d_camera=cam, camera_scale=0.04)
    bigger = rescaled(hand, 0.05)
    assert bigger.camera_scale == 0.05 and hand.camera_scale == 0.04
    np.testing.assert_allclose(bigger.keypoints_3d_camera, camera_keypoints(p, uv, k, 0.05, w, refine_steps=1),
                               rtol=1e-9, atol=1e-12)


def test_steady_scales_are_a_running_median_per_id():
    steady = SteadyScales(history=5)
    assert steady(0, 0.05) == 0.05                            # one value: itself, exactly
    assert steady(0, 0.08) == pytest.approx(math.sqrt(0.05 * 0.08))   # two: their geometric mean
    assert steady(0, 0.04) == 0.05                            # three: the middle one
    assert steady(0, 1.00) == pytest.approx(math.sqrt(0.05 * 0.08))   # an outlier moves it one rank
    assert steady(0, float("nan")) == pytest.approx(math.sqrt(0.05 * 0.08))   # not kept
    for _ in range(5):
        last = steady(0, 0.06)
    assert last == 0.06                                       # only the last 5 count
    assert steady(1, 0.03) == 0.03 and steady.ids() == {0, 1}  # each id its own history
    steady.forget([0])
    assert steady(0, 0.07) == 0.07
    assert steady(1, 0.05, source=("auto", 0.05)) == 0.05     # scales of other settings: every id afresh
    assert steady.ids() == {1}
    steady.reset()
    assert steady.ids() == set()
    with pytest.raises(ValueError, match="history"):
        SteadyScales(0)
