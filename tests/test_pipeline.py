"""handcam.pipeline: the frames' preparation, the four stages composed, the tracked (box-given) path."""
import numpy as np
import pytest
import torch
from conftest import synthetic_frame
from core_fakes import RingPoseNet, TwoSidedBlobSegNet, blob_networks, two_hand_frame

from handcam import geometry as G
from handcam.estimator import HandPoseEstimator
from handcam.models import registry
from handcam.pipeline import STAGES, PipelineOutput, prepare_frames, run_pipeline
from handcam.runtime import Clock
from handcam.settings import PipelineSettings, RuntimeOptions
from handcam.stages import (
    Crop,
    HandBox,
    Keypoints2D,
    Pose3D,
    Segmentation,
    box_from_keypoints,
    crop_hands,
    lift_pose,
)
from handcam.stages.refine import box_disagreement
from handcam.transform import FrameTransform


def test_stages():
    assert STAGES == ("preprocess", "handsegnet", "crop", "posenet", "lifting", "postprocess")


def test_prepare_frames():
    frames = torch.from_numpy(np.stack([synthetic_frame(480, 640, seed=s) for s in range(2)]))
    full = G.normalize_image(frames)
    squashed = G.resize_frames(full, (240, 320))
    image, source = prepare_frames(frames, FrameTransform((480, 640), (240, 320)))
    assert torch.equal(image, squashed) and source is image  # faithful: crop from the network input
    image, source = prepare_frames(frames, FrameTransform((480, 640), (240, 320), crop_from_frame=True))
    assert torch.equal(image, squashed) and torch.equal(source, full)  # crop from the frame (float)
    image, source = prepare_frames(frames, FrameTransform((480, 640), (240, 320)), uint8_resize=True)
    small = G.normalize_image(G.resize_frames(frames.permute(0, 3, 1, 2), (240, 320)).permute(0, 2, 3, 1))
    assert torch.equal(image, small) and source is image
    # uint8 resize and a crop from the frame: the crop samples the uint8 frame itself (a view, no copy)
    image, source = prepare_frames(frames, FrameTransform((480, 640), (240, 320), crop_from_frame=True), True)
    assert torch.equal(image, small) and source.dtype == torch.uint8 and source.shape == (2, 3, 480, 640)
    assert source.data_ptr() == frames.data_ptr() and torch.equal(source, frames.permute(0, 3, 1, 2))
    image, source = prepare_frames(frames, FrameTransform((480, 640), (480, 640)), uint8_resize=True)
    assert torch.equal(image, full) and source is image  # no resize: nothing to round


def _rel(a, b) -> float:
    return float((a.float() - b.float()).norm() / b.float().norm())


def test_uint8_resize_differs_from_float_resize_by_rounding_only(lite_estimator):
    """The lite family's CPU input path (resize the uint8 frame, then normalise) against the float
    path: the network input moves by at most one grey level, the networks' outputs by < 1e-2."""
    assert lite_estimator.uint8_resize and not HandPoseEstimator.random(seed=0, device="cpu").uint8_resize
    frame = torch.from_numpy(synthetic_frame(480, 640, seed=3))[None]
    fast = G.normalize_image(G.resize_frames(frame.permute(0, 3, 1, 2), (240, 320)).permute(0, 2, 3, 1))
    plain = G.resize_frames(G.normalize_image(frame), (240, 320))
    assert (fast - plain).abs().max() <= 1.0 / 255 + 1e-6
    slow_est = HandPoseEstimator(lite_estimator.networks, device="cpu", runtime=RuntimeOptions(uint8_resize=False))
    assert not slow_est.uint8_resize
    a = lite_estimator.estimate(frame[0].numpy(), with_mask=True).hand
    b = slow_est.estimate(frame[0].numpy(), with_mask=True).hand
    assert a.mask.shape == b.mask.shape == (480, 640)
    with torch.inference_mode():
        la = lite_estimator.runnable_networks["handsegnet"](fast)
        lb = slow_est.runnable_networks["handsegnet"](plain)
    assert _rel(la, lb) <= 1e-2


@pytest.fixture(scope="module")
def blob_nets():
    return {k: n.eval() for k, n in blob_networks("lite", seed=2).items()}


def test_run_pipeline_composes_the_stages(blob_nets):
    frame = torch.from_numpy(synthetic_frame(120, 160, seed=1))[None]
    image = G.normalize_image(frame)
    side = G.hand_side_onehot(["right"])
    clock = Clock(torch.device("cpu"))
    clock.mark("start")
    out = run_pipeline(blob_nets, image, side, PipelineSettings(crop_factor=1.5), clock=clock, crop_size=128)
    assert isinstance(out, PipelineOutput)
    assert [name for name, _ in clock.marks] == ["start", "handsegnet", "crop", "posenet", "lifting"]
    assert isinstance(out.segmentation, Segmentation) and isinstance(out.box, HandBox)
    assert isinstance(out.crop, Crop) and isinstance(out.keypoints, Keypoints2D) and isinstance(out.pose, Pose3D)
    # the release's names for the intermediates
    assert isinstance(out.mask, np.ndarray) and out.mask.dtype == bool
    assert out.mask is out.segmentation.mask and out.mask.shape == (1, 120, 160) and out.mask.any()
    assert isinstance(out.box.center, np.ndarray) and isinstance(out.box.size, np.ndarray)
    assert isinstance(out.center, np.ndarray) and isinstance(out.scale, np.ndarray)
    assert isinstance(out.frame_index, np.ndarray) and out.frame_index.dtype == np.int64
    assert out.frame_index.tolist() == [0]
    assert isinstance(out.hand_side, torch.Tensor) and torch.equal(out.hand_side, side)
    assert out.center is out.crop.network.center and out.scale is out.crop.network.scale
    assert out.scoremaps is out.keypoints.scoremaps and out.keypoints_3d is out.pose.keypoints
    # the box is the mask's, enlarged by the crop factor; the crop is cut around it
    center, size = G.mask_center_and_size(out.mask)
    assert isinstance(center, np.ndarray) and isinstance(size, np.ndarray)
    np.testing.assert_array_equal(out.box.center, center)
    np.testing.assert_array_equal(out.box.size, size)
    assert out.box.factor == 1.5
    expected = crop_hands(image, out.box, 128, FrameTransform((120, 160), (120, 160)))
    assert torch.equal(out.crop.image, expected.image) and out.crop.image.shape == (1, 3, 128, 128)
    assert out.keypoints.keypoints.shape == (1, 21, 2) and out.keypoints_3d.shape == (1, 21, 3)


def test_run_pipeline_crops_from_the_given_source(blob_nets):
    """'aspect' mode: the crop is cut from the full-resolution frame, around the box found in the
    network input."""
    frame = torch.from_numpy(synthetic_frame(240, 320, seed=1))[None]
    transform = FrameTransform((240, 320), (120, 160), crop_from_frame=True)
    image, source = prepare_frames(frame, transform)
    side = G.hand_side_onehot(["left"])
    out = run_pipeline(blob_nets, image, side, PipelineSettings(), transform, source, crop_size=128)
    expected = crop_hands(source, out.box, 128, transform)
    assert torch.equal(out.crop.image, expected.image)
    np.testing.assert_allclose(out.crop.source.center, transform.inverse(out.center[:, None])[:, 0])


@pytest.fixture(scope="module")
def plain():
    return HandPoseEstimator.random(seed=0, device="cpu", runtime=RuntimeOptions(
        layout="contiguous", mask_method="torch", backend="torch"))


def test_tracked_crop_is_built_from_previous_keypoints(plain):
    """A tracked frame crops the box built from the previous keypoints (``box_from_keypoints``)."""
    frame = synthetic_frame(seed=2)
    image = G.normalize_image(torch.from_numpy(frame)[None])
    side = G.hand_side_onehot(["left"])
    kp = torch.full((1, 21, 2), 70.0)
    kp[0, :, 1] = 100.0
    kp[0, 5] = torch.tensor([50.0, 60.0])
    box = box_from_keypoints(kp)
    center, extent = box.center, box.size
    assert isinstance(center, np.ndarray) and isinstance(extent, np.ndarray)
    np.testing.assert_allclose(center, [[70.0, 100.0]])
    np.testing.assert_allclose(extent, [80.0])
    out = run_pipeline(plain.networks, image, side, PipelineSettings.release(), box=box)
    assert out.segmentation is None and out.mask is None  # HandSegNet did not run
    assert out.box is box
    scale = G.crop_scale(extent, box.factor)
    expected = G.crop_and_resize(image, G.normalize_boxes(G.crop_boxes(center, scale), 240, 320), (256, 256))
    assert torch.equal(out.crop.image, expected)
    np.testing.assert_allclose(out.scale, scale)


def test_runnable_networks_and_plain_modules_agree(plain):
    """run_pipeline takes the estimator's callables or the plain modules alike."""
    image = G.normalize_image(torch.from_numpy(synthetic_frame(seed=1))[None])
    side = G.hand_side_onehot(["left"])
    s = PipelineSettings()
    a = run_pipeline(plain.runnable_networks, image, side, s, mask_method="opencv")
    b = run_pipeline(plain.networks, image, side, s, mask_method="torch",
                     crop_size=registry.PAPER.crop_size)
    np.testing.assert_array_equal(a.mask, b.mask)
    assert a.mask.any()
    torch.testing.assert_close(a.keypoints_3d, b.keypoints_3d, rtol=1e-5, atol=1e-5)


def test_prepare_frames_without_the_network_image_and_run_pipeline_needs_one():
    frames = torch.from_numpy(np.stack([synthetic_frame(480, 640, seed=1)]))
    transform = FrameTransform((480, 640), (120, 160), crop_from_frame=True)
    image, source = prepare_frames(frames, transform, uint8_resize=True, need_image=False)
    assert image is None and source.dtype == torch.uint8 and source.data_ptr() == frames.data_ptr()
    image, source = prepare_frames(frames, transform, need_image=False)          # the float path too
    assert image is None and torch.equal(source, G.normalize_image(frames))
    with pytest.raises(ValueError, match="network-input image"):
        run_pipeline({}, None, None, PipelineSettings())


class CountingPoseNet:
    """A PoseNet wrapper that records the crops of each call."""

    def __init__(self, net):
        self.net, self.calls = net, []

    def __call__(self, crops: torch.Tensor):
        self.calls.append(crops)
        return self.net(crops)


@pytest.fixture
def refining_nets():
    """Lite lifting networks, a segmentation that finds ``two_hand_frame``'s hands and sides, and a
    PoseNet (counted) whose keypoints fit the left hand's crop and span half the right hand's."""
    nets = registry.LITE.build(seed=0)
    nets["handsegnet"] = TwoSidedBlobSegNet()
    nets["posenet"] = CountingPoseNet(RingPoseNet(4, right_spread=0.5, graded=True))
    return {k: n.eval() if isinstance(n, torch.nn.Module) else n for k, n in nets.items()}


LITE_KW = dict(crop_size=registry.LITE.crop_size, subpixel_keypoints=registry.LITE.subpixel_keypoints,
               lifting_size=registry.LITE.scoremap_size)


def test_refinement_recrops_the_hands_whose_keypoints_disagree(refining_nets):
    posenet = refining_nets["posenet"]
    image = G.normalize_image(torch.from_numpy(two_hand_frame())[None])
    transform = FrameTransform((240, 320), (240, 320))
    s = PipelineSettings()
    today = run_pipeline(refining_nets, image, None, s, **LITE_KW)
    off = run_pipeline(refining_nets, image, None, s, refine=False, **LITE_KW)
    assert [len(c) for c in posenet.calls] == [2, 2]
    for a, b in ((today.crop.image, off.crop.image), (today.keypoints.keypoints, off.keypoints.keypoints),
                 (today.keypoints.scoremap, off.keypoints.scoremap), (today.keypoints_3d, off.keypoints_3d)):
        assert torch.equal(a, b)
    assert today.refined.tolist() == off.refined.tolist() == [False, False] and today.refined.dtype == bool
    posenet.calls.clear()
    on = run_pipeline(refining_nets, image, None, s, refine=True, **LITE_KW)
    right = int(on.hand_side[:, 1].argmax())
    left = 1 - right
    assert on.refined.tolist() == [i == right for i in range(2)]
    # one more PoseNet call, on the right hand only, on the crop of its keypoint box
    assert [len(c) for c in posenet.calls] == [2, 1]
    tracked = box_from_keypoints(transform.crop_to_network(off.crop.source, off.keypoints.keypoints.numpy()))
    ratio, shift = box_disagreement(off.box, tracked)
    assert ratio[right] == pytest.approx(2.0, rel=0.1) and ratio[left] < 1.1 and shift.max() < 0.05
    expected = crop_hands(image, HandBox(tracked.center[[right]], tracked.size[[right]], tracked.factor),
                          LITE_KW["crop_size"], transform, off.frame_index[[right]])
    np.testing.assert_array_equal(on.crop.network.center[right], expected.network.center[0])
    np.testing.assert_allclose(on.crop.network.scale[right], expected.network.scale[0], rtol=1e-6)
    np.testing.assert_allclose(on.crop.network.boxes()[right], expected.network.boxes()[0], rtol=1e-6)
    torch.testing.assert_close(on.crop.image[right], expected.image[0])
    torch.testing.assert_close(posenet.calls[1][0], expected.image[0])
    np.testing.assert_array_equal(on.box.center[right], tracked.center[right])
    assert on.box.size[right] * on.box.factor == pytest.approx(tracked.size[right] * tracked.factor, rel=1e-6)
    # the right hand's keypoints and maps are the second call's, the lifting ran on them; the left hand's are the first
    second = RingPoseNet(4, right_spread=0.5, graded=True)(expected.image)[-1][0]
    torch.testing.assert_close(on.keypoints.scoremap[right], second)
    assert not torch.equal(on.keypoints.scoremap[right], off.keypoints.scoremap[right])   # a tighter crop
    with torch.inference_mode():
        pose = lift_pose(refining_nets["poseprior"], refining_nets["viewpoint"], on.keypoints.scoremap,
                         on.hand_side, LITE_KW["lifting_size"])
    torch.testing.assert_close(on.keypoints_3d, pose.keypoints)
    assert not torch.allclose(on.keypoints_3d[right], off.keypoints_3d[right])
    for a, b in ((on.crop.image, off.crop.image), (on.keypoints.keypoints, off.keypoints.keypoints),
                 (on.keypoints.scoremap, off.keypoints.scoremap)):
        assert torch.equal(a[left], b[left])
    torch.testing.assert_close(on.keypoints_3d[left], off.keypoints_3d[left])
    assert on.box.size[left] == off.box.size[left] and on.crop.network.scale[left] == off.crop.network.scale[left]


def test_a_given_box_is_not_refined(refining_nets):
    """Tracking's boxes already come from keypoints: with ``refine`` PoseNet still runs once."""
    posenet = refining_nets["posenet"]
    image = G.normalize_image(torch.from_numpy(two_hand_frame())[None])
    box = HandBox(np.array([[120, 224], [120, 96]], np.float32), np.array([90, 90], np.float32), 1.25)
    out = run_pipeline(refining_nets, None, G.hand_side_onehot(["right", "left"]), PipelineSettings(),
                       FrameTransform((240, 320), (240, 320)), image, box=box, frame_index=[0, 0], refine=True,
                       **LITE_KW)
    assert [len(c) for c in posenet.calls] == [2] and out.refined.tolist() == [False, False] and out.box is box
