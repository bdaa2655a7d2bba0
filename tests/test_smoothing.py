"""handcam.smoothing: the One Euro filter, its options, and the per-hand smoother (public API only)."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from handcam.results import HandPose
from handcam.smoothing import HandSmoother, OneEuroFilter, SmoothingOptions

FPS = 30.0


def run(f: OneEuroFilter, xs: np.ndarray, fps: float = FPS) -> np.ndarray:
    return np.array([f(x, i / fps) for i, x in enumerate(xs)])


# --- hand-computed values -------------------------------------------------------------------------------

def test_first_sample_passes_through():
    x = np.arange(42, dtype=np.float64).reshape(21, 2) * 1.5
    out = OneEuroFilter(min_cutoff=0.1, beta=3.0, d_cutoff=1.0)(x, 12.5)
    np.testing.assert_array_equal(out, x)


def test_second_sample_with_beta_zero_is_exponential_smoothing():
    f = OneEuroFilter(min_cutoff=1.0, beta=0.0, d_cutoff=1.0)
    f(np.array(0.0), 0.0)
    out = f(np.array(10.0), 0.1)
    # dt = 0.1 s, cutoff 1 Hz: tau = 1 / (2 pi * 1) = 0.1591549 s
    # alpha = 1 / (1 + tau / dt) = 0.1 / (0.1 + 0.1591549) = 0.3858695
    # x_hat = alpha * 10 + (1 - alpha) * 0 = 3.858695
    assert float(out) == pytest.approx(3.858695, abs=1e-6)


def test_cutoff_rises_with_the_speed_of_the_point():
    f = OneEuroFilter(min_cutoff=1.0, beta=0.5, d_cutoff=1.0)
    f(np.array([[0.0, 0.0]]), 0.0)
    out = f(np.array([[6.0, 8.0]]), 0.1)
    # raw derivative (6, 8) / 0.1 = (60, 80) per s; d_cutoff 1 Hz at dt 0.1: alpha_d = 0.3858695 (as above)
    # filtered derivative = 0.3858695 * (60, 80) (the previous one is 0); its norm = 0.3858695 * 100 = 38.58695
    # cutoff = 1 + 0.5 * 38.58695 = 20.293477 Hz -> tau = 1 / (2 pi * 20.293477) = 0.00784266 s
    # alpha = 0.1 / (0.1 + 0.00784266) = 0.9272768 -> x_hat = 0.9272768 * (6, 8) = (5.563661, 7.418214)
    np.testing.assert_allclose(out, [[5.563661, 7.418214]], atol=1e-6)
    # one cutoff for the point: both coordinates moved the same share of the way
    assert out[0, 0] / 6.0 == pytest.approx(out[0, 1] / 8.0, rel=1e-12)
    slow = OneEuroFilter(min_cutoff=1.0, beta=0.0, d_cutoff=1.0)
    slow(np.array([[0.0, 0.0]]), 0.0)
    assert out[0, 0] > slow(np.array([[6.0, 8.0]]), 0.1)[0, 0]  # a higher cutoff: closer to the input


# --- behaviour ------------------------------------------------------------------------------------------

def test_constant_input_stays_constant():
    x = np.random.default_rng(1).normal(100.0, 50.0, (21, 3))
    out = run(OneEuroFilter(1.0, 0.5, 1.0), np.repeat(x[None], 60, axis=0))
    np.testing.assert_allclose(out, np.repeat(x[None], 60, axis=0), rtol=0, atol=1e-9)


def test_reset_forgets():
    f = OneEuroFilter(1.0, 0.0, 1.0)
    f(np.zeros((21, 2)), 0.0)
    f(np.zeros((21, 2)), 0.1)
    f.reset()
    np.testing.assert_array_equal(f(np.full((21, 2), 10.0), 0.2), np.full((21, 2), 10.0))


def test_equal_timestamp_returns_the_previous_output_and_keeps_the_state():
    f, g = OneEuroFilter(1.0, 0.2, 1.0), OneEuroFilter(1.0, 0.2, 1.0)
    for h in (f, g):
        h(np.array([0.0, 0.0]), 0.0)
    prev = f(np.array([5.0, 1.0]), 0.1)
    g(np.array([5.0, 1.0]), 0.1)
    again = f(np.array([500.0, -300.0]), 0.1)  # the same time again (no division by dt = 0)
    np.testing.assert_array_equal(again, prev)
    assert np.all(np.isfinite(again)) and again is not prev and not again.flags.writeable
    # the duplicate left no trace: the next sample gives what a filter that never saw it gives
    np.testing.assert_array_equal(f(np.array([7.0, 2.0]), 0.2), g(np.array([7.0, 2.0]), 0.2))


def test_timestamp_going_back_resets():
    f = OneEuroFilter(1.0, 0.0, 1.0)
    f(np.array([0.0]), 5.0)
    f(np.array([0.0]), 5.1)
    np.testing.assert_array_equal(f(np.array([9.0]), 1.0), [9.0])  # passes through, as a first sample
    out = f(np.array([10.0]), 1.1)  # and filtering goes on from there
    assert 9.0 < out[0] < 10.0


def test_non_finite_timestamp_raises():
    f = OneEuroFilter(1.0, 0.0, 1.0)
    f(np.zeros(2), 0.0)
    for t in (math.nan, math.inf):
        with pytest.raises(ValueError, match="timestamp"):
            f(np.zeros(2), t)


def test_non_finite_sample_resets_instead_of_poisoning_the_state():
    f = OneEuroFilter(1.0, 0.0, 1.0)
    f(np.zeros(2), 0.0)
    assert np.isnan(f(np.array([np.nan, 1.0]), 0.1)[0])
    np.testing.assert_array_equal(f(np.array([4.0, 4.0]), 0.2), [4.0, 4.0])


def test_shape_change_resets():
    f = OneEuroFilter(1.0, 0.0, 1.0)
    f(np.zeros((21, 2)), 0.0)
    f(np.zeros((21, 2)), 0.1)
    np.testing.assert_array_equal(f(np.ones((21, 3)), 0.2), np.ones((21, 3)))
    np.testing.assert_array_equal(f(np.full((21, 2), 3.0), 0.3), np.full((21, 2), 3.0))


def test_outputs_are_read_only_and_do_not_alias_the_input():
    f = OneEuroFilter(1.0, 0.5, 1.0)
    outs = []
    for i in range(3):
        x = np.full((21, 2), float(i))
        out = f(x, i / FPS)
        assert not out.flags.writeable
        assert not np.shares_memory(out, x)
        kept = out.copy()
        x[:] = -1e6  # the caller reuses its buffer
        np.testing.assert_array_equal(out, kept)
        with pytest.raises(ValueError):
            out[0, 0] = 1.0
        outs.append(out)
    assert not np.shares_memory(outs[1], outs[2])


# --- jitter and lag -------------------------------------------------------------------------------------

def test_still_point_jitter_drops():
    rng = np.random.default_rng(0)
    raw = 320.0 + rng.normal(0.0, 2.0, (200, 21, 2))  # a still hand, 2 px of noise, 200 frames at 30 Hz
    out = run(SmoothingOptions().filter("2d"), raw)
    raw_jitter = np.diff(raw[30:], axis=0).std()
    out_jitter = np.diff(out[30:], axis=0).std()
    assert out_jitter / raw_jitter < 0.3
    assert abs(out[30:].mean() - 320.0) < 0.5  # smoothing does not move it


def _ramp_lag_s(f: OneEuroFilter, speed: float) -> float:
    """Seconds the output trails a point moving along x at ``speed`` units/s, after settling."""
    t = np.arange(120) / FPS
    xs = np.zeros((120, 21, 2))
    xs[:, :, 0] = speed * t[:, None]
    out = run(f, xs)
    return float(np.mean(xs[60:, :, 0] - out[60:, :, 0]) / speed)


def test_ramp_lag_is_bounded_and_beta_reduces_it():
    speed = 550.0  # px/s: a hand at about 1 m/s
    fixed = _ramp_lag_s(OneEuroFilter(min_cutoff=1.0, beta=0.0), speed)
    # a fixed cutoff trails a ramp by tau = 1 / (2 pi fc) seconds: 0.159 s at 1 Hz
    assert fixed == pytest.approx(1.0 / (2 * math.pi * 1.0), rel=1e-3)
    adaptive = _ramp_lag_s(OneEuroFilter(min_cutoff=1.0, beta=0.01), speed)
    assert 0.0 < adaptive < 1.0 / FPS  # under a frame
    # settled: the derivative is taken from the previous output, which trails by v * tau, so the filter sees
    # v * (1 + tau / dt); fc = 1 + 0.01 * v * (1 + 1 / (2 pi fc dt)) -> fc^2 - 6.5 fc - 26.261 = 0 (v = 550,
    # dt = 1/30) -> fc = (6.5 + sqrt(6.5^2 + 4 * 26.261)) / 2 = 9.3183 Hz -> lag tau = 1 / (2 pi fc) = 0.017080 s
    assert adaptive == pytest.approx(0.017080, rel=1e-3)
    assert _ramp_lag_s(OneEuroFilter(min_cutoff=1.0, beta=0.05), speed) < adaptive < fixed / 4


def test_default_options_lag_little_for_a_fast_hand_in_each_unit():
    options = SmoothingOptions()
    for key, speed in (("2d", 550.0), ("3d", 25.0), ("camera", 1.0)):  # ~1 m/s in px, bone lengths, metres
        assert _ramp_lag_s(options.filter(key), speed) < 1.0 / FPS, key


# --- HandSmoother ---------------------------------------------------------------------------------------

def make_hand(k2d: np.ndarray, k3d: np.ndarray, camera: np.ndarray | None) -> HandPose:
    return HandPose(id=3, side="left", side_score=0.9, presence=0.8, box=np.array([10.0, 20.0, 110.0, 120.0]),
                    center=np.array([60.0, 70.0]), scale=0.39, keypoints_2d=k2d, keypoint_scores=np.full(21, 0.5),
                    keypoints_3d=k3d, keypoints_crop=np.full((21, 2), 128.0), keypoints_3d_camera=camera,
                    tracked=True)


def test_hand_smoother_filters_the_three_keypoint_fields():
    rng = np.random.default_rng(2)
    options = SmoothingOptions()
    smoother = HandSmoother(options)
    refs = {key: options.filter(key) for key in ("2d", "3d", "camera")}
    for i in range(5):
        t = i / FPS
        k2d, k3d, cam = rng.normal(300, 20, (21, 2)), rng.normal(0, 1, (21, 3)), rng.normal(0, 0.1, (21, 3))
        hand = make_hand(k2d, k3d, cam)
        out = smoother(hand, t)
        assert isinstance(out, HandPose)
        np.testing.assert_array_equal(out.keypoints_2d, refs["2d"](k2d, t))
        np.testing.assert_array_equal(out.keypoints_3d, refs["3d"](k3d, t))
        np.testing.assert_array_equal(out.keypoints_3d_camera, refs["camera"](cam, t))
        if i > 0:  # filtered, not passed through
            assert not np.allclose(out.keypoints_2d, k2d)
            assert not np.allclose(out.keypoints_3d, k3d)
            assert not np.allclose(out.keypoints_3d_camera, cam)
        assert not out.keypoints_2d.flags.writeable
        for field in dataclasses.fields(HandPose):  # every other field as it was
            if field.name not in ("keypoints_2d", "keypoints_3d", "keypoints_3d_camera"):
                before, after = getattr(hand, field.name), getattr(out, field.name)
                if isinstance(before, np.ndarray):
                    np.testing.assert_array_equal(after, before, err_msg=field.name)
                else:
                    assert after == before, field.name


def test_hand_smoother_without_camera_keypoints():
    smoother = HandSmoother()
    k2d, k3d = np.zeros((21, 2)), np.zeros((21, 3))
    smoother(make_hand(k2d, k3d, np.zeros((21, 3))), 0.0)
    out = smoother(make_hand(k2d + 5, k3d + 0.5, None), 0.1)
    assert out.keypoints_3d_camera is None
    assert 0 < out.keypoints_2d[0, 0] < 5  # the others still filtered
    # the camera filter was reset by the None: the next camera keypoints pass through
    cam = np.full((21, 3), 0.7)
    out = smoother(make_hand(k2d + 5, k3d + 0.5, cam), 0.2)
    np.testing.assert_array_equal(out.keypoints_3d_camera, cam)
    assert out.keypoints_2d[0, 0] < 5


def test_hand_smoother_reset():
    smoother = HandSmoother()
    smoother(make_hand(np.zeros((21, 2)), np.zeros((21, 3)), np.zeros((21, 3))), 0.0)
    smoother.reset()
    hand = make_hand(np.full((21, 2), 9.0), np.full((21, 3), 2.0), np.full((21, 3), 0.3))
    out = smoother(hand, 0.1)
    for name in ("keypoints_2d", "keypoints_3d", "keypoints_3d_camera"):
        np.testing.assert_array_equal(getattr(out, name), getattr(hand, name))


# --- validation -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["min_cutoff_2d", "min_cutoff_3d", "min_cutoff_camera", "d_cutoff"])
@pytest.mark.parametrize("value", [0.0, -1.0, math.nan, math.inf, "1", None])
def test_options_reject_bad_cutoffs(name, value):
    with pytest.raises(ValueError, match=rf"SmoothingOptions\.{name} must be a positive, finite frequency"):
        SmoothingOptions(**{name: value})


@pytest.mark.parametrize("name", ["beta_2d", "beta_3d", "beta_camera"])
@pytest.mark.parametrize("value", [-0.1, math.nan, math.inf, True])
def test_options_reject_bad_betas(name, value):
    with pytest.raises(ValueError, match=rf"SmoothingOptions\.{name} must be finite and >= 0"):
        SmoothingOptions(**{name: value})


def test_options_are_frozen_and_accept_zero_beta():
    options = SmoothingOptions(beta_2d=0.0, beta_3d=0, min_cutoff_camera=np.float32(0.5))
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.beta_2d = 1.0  # type: ignore[misc]
    assert SmoothingOptions().d_cutoff == 1.0


@pytest.mark.parametrize("kwargs, match", [({"min_cutoff": 0.0}, "min_cutoff"), ({"d_cutoff": -1.0}, "d_cutoff"),
                                           ({"beta": -0.5}, "beta")])
def test_filter_rejects_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        OneEuroFilter(**{"min_cutoff": 1.0, "beta": 0.0, "d_cutoff": 1.0, **kwargs})
