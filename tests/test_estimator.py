"""The public estimator: shapes, batching, frame sizes and modes, CPU/CUDA agreement."""
import numpy as np
import pytest
import torch

from conftest import synthetic_frame
from handcam.errors import InputError
from handcam.estimator import STAGES, HandPoseEstimator, network_input_size
from handcam.pose import HandPose, PipelineSettings


def test_result_fields(random_estimator):
    frame = synthetic_frame()
    pose = random_estimator(frame)
    assert isinstance(pose, HandPose)
    assert pose.mask.shape == (240, 320) and pose.mask.dtype == bool
    assert pose.crop.shape == (256, 256, 3) and pose.crop.dtype == np.uint8
    assert pose.keypoints_2d.shape == (21, 2) and pose.keypoint_scores.shape == (21,)
    assert pose.keypoints_3d.shape == (21, 3)
    assert pose.center.shape == (2,) and pose.crop_box.shape == (4,)
    assert set(STAGES) <= set(pose.timings_ms) and pose.timings_ms["total"] > 0
    assert pose.mask_area == int(pose.mask.sum())
    # keypoints lie inside the crop box, crop coordinates map back through centre and scale
    np.testing.assert_allclose(pose.keypoints_2d, (pose.keypoints_crop - 128) / pose.scale + pose.center, atol=1e-4)
    # the release's back-mapping ((p - 128) / scale + c) and box (c - side // 2) differ by < 1 px + 1 step
    x0, y0, x1, y1 = pose.crop_box
    tol = 1.0 + 1.0 / pose.scale
    assert np.all(pose.keypoints_2d[:, 0] >= x0 - tol) and np.all(pose.keypoints_2d[:, 0] <= x1 + tol)
    assert np.all(pose.keypoints_2d[:, 1] >= y0 - tol) and np.all(pose.keypoints_2d[:, 1] <= y1 + tol)
    j = pose.to_json()
    assert set(j) >= {"keypoints_2d", "keypoint_scores", "keypoints_3d", "center", "scale", "crop_box",
                      "mask_area", "timings_ms"}


def test_batch_equals_single(random_estimator):
    frames = [synthetic_frame(seed=s) for s in range(3)]
    batch = random_estimator(np.stack(frames))
    for f, b in zip(frames, batch):
        s = random_estimator(f)
        np.testing.assert_allclose(b.keypoints_2d, s.keypoints_2d, atol=1e-3)
        np.testing.assert_allclose(b.keypoints_3d, s.keypoints_3d, atol=1e-4)
        np.testing.assert_array_equal(b.mask, s.mask)


def test_mixed_sizes_and_tiny_frames(random_estimator):
    poses = random_estimator([synthetic_frame(), synthetic_frame(120, 160), np.zeros((1, 1, 3), np.uint8)])
    assert [p.mask.shape for p in poses] == [(240, 320), (120, 160), (1, 1)]


def test_faithful_mode_scales_keypoints_with_the_frame(random_estimator):
    small = synthetic_frame()
    big = np.repeat(np.repeat(small, 2, axis=0), 2, axis=1)  # 480 x 640, same content
    a, b = random_estimator(small), random_estimator(big)
    # the network input is (almost) the same image; frame coordinates scale by 2 (half-pixel centres)
    np.testing.assert_allclose(b.center, (a.center + 0.5) * 2 - 0.5, atol=2.0)
    close = np.abs(b.keypoints_2d - ((a.keypoints_2d + 0.5) * 2 - 0.5)).max(axis=1) < 4.0
    assert close.mean() > 0.8


def test_aspect_mode_input_size_and_full_res_crop(random_estimator):
    s = PipelineSettings(resize_mode="aspect")
    assert network_input_size((480, 640), s) == (240, 320)
    assert network_input_size((320, 320), s) == (320, 320)
    assert network_input_size((1920, 1080), s) == (320, 176)
    assert network_input_size((1920, 1080), PipelineSettings()) == (240, 320)
    frame = synthetic_frame(320, 320)
    pose = random_estimator(frame, settings=s)
    x0, y0, x1, y1 = pose.crop_box
    assert abs((x1 - x0) - (y1 - y0)) < 1e-3  # square in the frame: no distortion
    np.testing.assert_allclose(pose.keypoints_2d, (pose.keypoints_crop - 128) * (x1 - x0) / 256 + pose.center,
                               atol=1e-3)


def test_settings_take_effect(random_estimator):
    frame = synthetic_frame()
    a = random_estimator(frame)
    b = random_estimator(frame, settings=random_estimator.settings.replace(crop_factor=2.0))
    if a.scale < 5.0 and a.scale > 0.25:
        assert b.scale < a.scale
    c = random_estimator(frame, hand_side="right")
    assert c.hand_side == "right"
    assert not np.allclose(c.keypoints_3d, a.keypoints_3d)


def test_settings_validation():
    with pytest.raises(ValueError, match="mask_threshold"):
        PipelineSettings(mask_threshold=1.5)
    with pytest.raises(ValueError, match="multiples of 8"):
        PipelineSettings(input_size=(241, 320))
    with pytest.raises(ValueError, match="resize_mode"):
        PipelineSettings(resize_mode="stretch")
    with pytest.raises(ValueError, match="left.*right"):
        PipelineSettings(hand_side="both")


def test_bad_frames(random_estimator):
    with pytest.raises(InputError, match="H x W x 3"):
        random_estimator(np.zeros((10, 10), np.uint8))
    with pytest.raises(InputError, match="uint8"):
        random_estimator(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(InputError, match="no frames"):
        random_estimator([])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cpu_and_cuda_agree(random_estimator):
    gpu = HandPoseEstimator(random_estimator.networks.copy(), device="cuda")
    cpu = HandPoseEstimator.random(seed=0, device="cpu")
    for seed in range(3):
        f = synthetic_frame(seed=seed)
        a, b = cpu(f), gpu(f)
        np.testing.assert_array_equal(a.mask, b.mask)
        np.testing.assert_allclose(b.keypoints_3d, a.keypoints_3d, rtol=1e-3, atol=1e-3)
        assert np.abs(a.keypoints_2d - b.keypoints_2d).max() <= 1.0


def test_lite_family_runs_at_its_own_frame_size():
    from training.data import HandSegDataset  # noqa: F401  (the training side must import too)
    from training.tasks import HandSegTask

    lite = HandPoseEstimator.random(seed=0, device="cpu", arch="lite", backend="torch")  # torch: for the hook
    assert lite.settings.input_size == (120, 160)
    pose = lite(synthetic_frame())
    assert pose.mask.shape == (240, 320)  # mapped back to the frame
    assert HandPoseEstimator.random(seed=0, device="cpu").settings.input_size == (240, 320)
    # settings from elsewhere (the window, the command line) leave the input size to the family
    seen = []
    hook = lite._nets["handsegnet"].register_forward_pre_hook(lambda m, a: seen.append(tuple(a[0].shape[-2:])))
    try:
        lite(synthetic_frame(), settings=PipelineSettings(crop_factor=1.5))
        lite(synthetic_frame(), settings=PipelineSettings(input_size=(240, 320)))
    finally:
        hook.remove()
    assert seen == [(120, 160), (240, 320)]

    class Args:
        arch = "lite"
    assert HandSegTask.downscale(Args) == 0.5
    Args.arch = "paper"
    assert HandSegTask.downscale(Args) == 1.0
