"""handcam.onnx_backend: the backend choice, OrtNetwork (one export per input shape, dynamic batch),
and the ONNX Runtime estimators against the plain torch path."""
import numpy as np
import pytest
import torch
from conftest import synthetic_frame
from torch import nn

from handcam import onnx_backend as ob
from handcam.errors import InputError
from handcam.estimator import HandPoseEstimator
from handcam.settings import PipelineSettings, RuntimeOptions

CPU = torch.device("cpu")


def test_backend_choice(monkeypatch):
    assert ob.available() is True  # onnxruntime and onnx are requirements
    assert ob.resolve_backend("auto", CPU, "fp32", False) == "onnxruntime"
    assert ob.resolve_backend("auto", CPU, "bf16", False) == "torch"
    assert ob.resolve_backend("auto", CPU, "fp32", True) == "torch"
    assert ob.resolve_backend("auto", torch.device("cuda"), "fp32", False) == "torch"
    assert ob.resolve_backend("torch", CPU, "fp32", False) == "torch"
    assert ob.resolve_backend("onnxruntime", CPU, "fp32", False) == "onnxruntime"
    with pytest.raises(ValueError, match="fp32 only"):
        ob.resolve_backend("onnxruntime", CPU, "bf16", False)
    with pytest.raises(ValueError, match="backend must be"):
        ob.resolve_backend("tensorrt", CPU, "fp32", False)
    with pytest.raises(ValueError, match="CPU only"):
        ob.resolve_backend("onnxruntime", torch.device("cuda"), "fp32", False)
    with pytest.raises(InputError, match="compile=True"):
        ob.resolve_backend("onnxruntime", CPU, "fp32", True)
    monkeypatch.setattr(ob, "available", lambda: False)
    assert ob.resolve_backend("auto", CPU, "fp32", False) == "torch"
    with pytest.raises(ValueError, match="pip install onnxruntime"):
        ob.resolve_backend("onnxruntime", CPU, "fp32", False)


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x, side):
        y = self.conv(x)
        return [y, y.mean((2, 3)) + side.sum(1, keepdim=True)]


def test_ort_network_one_session_per_shape():
    torch.manual_seed(0)
    module = TwoHeads().eval()
    net = ob.OrtNetwork(module, "two", threads=1)
    assert net.session_count == 0 and net.name == "two"
    for b in (1, 3):  # the batch is dynamic: one session for both
        x, side = torch.rand(b, 3, 8, 10), torch.rand(b, 2)
        outs = net(x, side)
        assert isinstance(outs, list) and len(outs) == 2
        with torch.no_grad():
            ref = module(x, side)
        for o, r in zip(outs, ref):
            assert o.dtype == torch.float32
            torch.testing.assert_close(o, r, rtol=1e-5, atol=1e-5)
    assert net.session_count == 1
    net(torch.rand(1, 3, 16, 10), torch.rand(1, 2))
    assert net.session_count == 2
    single = ob.OrtNetwork(nn.Conv2d(3, 2, 1).eval(), "one")
    out = single(torch.rand(1, 3, 4, 4))
    assert isinstance(out, torch.Tensor) and out.shape == (1, 2, 4, 4)  # one output: a tensor, not a list
    with torch.inference_mode():  # the pipeline runs in inference mode: the export still works
        assert single(torch.rand(2, 3, 5, 5)).shape == (2, 2, 5, 5)


@pytest.fixture(scope="module")
def plain():
    return HandPoseEstimator.random(seed=0, device="cpu", runtime=RuntimeOptions(
        layout="contiguous", mask_method="torch", backend="torch"))


def _assert_keypoints_match(a, b, slack: float = 0.0):
    """Within 1 px (+ ``slack``); random weights give flat scoremaps, so a keypoint further away must be
    a tie: an equally high peak elsewhere (same score), and only for a couple of keypoints."""
    far = np.abs(a.keypoints_2d - b.keypoints_2d).max(axis=1) > 1.0 + slack
    assert far.sum() <= 2
    np.testing.assert_allclose(a.keypoint_scores[far], b.keypoint_scores[far], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(a.keypoints_3d, b.keypoints_3d, atol=1e-4)


def _assert_same_poses(a, b):
    assert a.mask is not None and b.mask is not None
    np.testing.assert_array_equal(a.mask, b.mask)
    _assert_keypoints_match(a, b)


def test_onnxruntime_backend_matches_plain_torch(plain):
    """The default CPU backend: paper networks exported to ONNX Runtime give the plain path's results,
    at batch 1 and 3 (one session: the batch is dynamic), and a new input shape gets its own export."""
    est = HandPoseEstimator.random(seed=0, device="cpu")
    assert est.backend == "onnxruntime" and plain.backend == "torch" and not est.channels_last
    assert all(isinstance(n, ob.OrtNetwork) for n in est.runnable_networks.values())
    frames = [synthetic_frame(seed=s) for s in range(3)]
    for f, pb in zip(frames, est.estimate_batch(frames, with_mask=True)):
        ref = plain.estimate(f, with_mask=True).hand
        _assert_same_poses(est.estimate(f, with_mask=True).hand, ref)
        _assert_same_poses(pb.hand, ref)
    assert est.runnable_networks["handsegnet"].session_count == 1
    aspect = PipelineSettings(resize_mode="aspect")
    big = synthetic_frame(300, 500, seed=5)
    _assert_same_poses(est.estimate(big, settings=aspect, with_mask=True).hand,
                       plain.estimate(big, settings=aspect, with_mask=True).hand)
    assert est.runnable_networks["handsegnet"].session_count == 2


def test_onnxruntime_lite_matches_torch_with_tracking(lite_estimator):
    torch_est = HandPoseEstimator(lite_estimator.networks, device="cpu", runtime=RuntimeOptions(backend="torch"))
    assert lite_estimator.backend == "onnxruntime" and torch_est.backend == "torch"
    # ONNX Runtime runs both lifting networks as one graph; PyTorch runs them one by one
    assert "lift" in lite_estimator.runnable_networks and "lift" not in torch_est.runnable_networks
    ta = lite_estimator.tracker(redetect_every=3, min_score=-1.0)
    tb = torch_est.tracker(redetect_every=3, min_score=-1.0)
    for i in range(5):
        f = synthetic_frame(seed=i)
        a, b = ta.process(f).hand, tb.process(f).hand
        assert a.tracked == b.tracked == (i % 3 != 0)
        # sub-pixel peaks: on random weights' almost flat tops the rounding of either backend moves a
        # keypoint by up to half a map pixel (crop / map / 2 crop pixels) in frame pixels
        arch = lite_estimator.architecture
        half_map_px = arch.crop_size / (arch.crop_size // 4) / 2 / a.scale * (f.shape[1] / arch.input_size[1])
        _assert_keypoints_match(a, b, slack=half_map_px)
