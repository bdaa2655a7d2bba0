"""Issue 6: every fast path against the plain fp32 path, the tracking mode, the lite family, and the
benchmark in a short mode (its JSON validated; the speed targets are checked from the JSON by
``benchmarks/check_targets.py``, never by timing inside a test)."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import ROOT, synthetic_frame
from handcam import geometry as G
from handcam.estimator import HandPoseEstimator, fuse_conv_bn, inference_copy, run_pipeline, track_box
from handcam.models import lite
from handcam.pose import PipelineSettings
from handcam.segmentation import single_object_mask


def _bench(*args, tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--json", str(out), *args],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "end to end" in proc.stdout
    return out, json.loads(out.read_text())


def _check(path):
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "check_targets.py"), "--report-only",
                           str(path)], capture_output=True, text=True, timeout=60)


# ---------------------------------------------------------------- the benchmark, short mode
def test_bench_short_paper(tmp_path):
    path, r = _bench("--frames", "3", "--warmup", "1", "--device", "cpu", "--size", "120", "160",
                     tmp_path=tmp_path)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from check_targets import validate

    validate(r)
    assert r["config"]["arch"] == "paper" and r["config"]["frame_size"] == [120, 160]
    assert r["config"]["network_input"] == [240, 320] and r["config"]["crop_size"] == 256
    assert r["pipeline"]["end_to_end_ms"]["n"] == 3
    assert set(r["raw_networks_ms"]) >= {"handsegnet", "posenet", "lifting", "total"}
    assert r["overhead_ratio"] > 0 and "tracking" not in r
    rep = _check(path)
    assert rep.returncode == 0 and "cpu-paper-overhead" in rep.stdout and "gpu-paper" in rep.stdout


def test_bench_short_lite_tracking(tmp_path):
    path, r = _bench("--frames", "4", "--warmup", "1", "--device", "cpu", "--arch", "lite", "--tracking",
                     "--redetect-every", "2", "--synthetic", "--size", "96", "128", tmp_path=tmp_path)
    assert r["config"]["arch"] == "lite" and r["config"]["crop_size"] == lite.CROP_SIZE
    assert r["config"]["source"] == "synthetic"
    t = r["tracking"]
    assert 0 < t["tracked_fraction"] < 1  # every second frame re-detects
    assert t["ratio_to_untracked"] > 0
    assert "cpu-lite-realtime" in _check(path).stdout


def test_check_targets_rejects_other_json(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"hello": 1}))
    proc = _check(bad)
    assert proc.returncode != 0 and "missing" in proc.stderr


# ---------------------------------------------------------------- exact fast paths
def _blobs(b, h, w, seed):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.0, 0.45, (b, h, w))
    for i in range(b):
        for _ in range(rng.integers(1, 6)):
            y, x = rng.integers(0, h), rng.integers(0, w)
            ry, rx = rng.integers(2, h // 3 + 3), rng.integers(2, w // 3 + 3)
            p[i, max(0, y - ry):y + ry, max(0, x - rx):x + rx] = rng.uniform(0.5, 1.0)
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return torch.from_numpy(np.stack([np.zeros_like(p), np.log(p / (1 - p))], 1).astype(np.float32))


@pytest.mark.parametrize("shape,passes", [((3, 240, 320), None), ((2, 60, 100), None), ((1, 37, 53), 3),
                                          ((2, 240, 320), 40)])
def test_opencv_mask_equals_torch_mask(shape, passes):
    logits = _blobs(*shape, seed=sum(shape))
    a, pa = single_object_mask(logits, passes=passes, method="torch")
    b, pb = single_object_mask(logits, passes=passes, method="opencv")
    assert a.dtype == b.dtype == torch.bool
    assert torch.equal(a, b) and torch.equal(pa, pb)
    assert a.any()


def test_opencv_mask_edge_cases_equal_torch():
    empty = torch.stack([torch.zeros(2, 40, 60), torch.full((2, 40, 60), -5.0)], 1)  # no foreground
    corner = _blobs(2, 40, 60, seed=7)
    corner[:, 1, :, :] = -5.0
    corner[0, 1, 0, 0], corner[1, 1, 39, 59] = 5.0, 5.0           # one foreground pixel in a corner
    for logits in (empty, corner, _blobs(3, 50, 70, seed=8)):
        for passes in (0, 1, 2, None):
            a, _ = single_object_mask(logits, passes=passes, method="torch")
            b, _ = single_object_mask(logits, passes=passes, method="opencv")
            assert torch.equal(a, b), passes


def _tf1_reference(x, size):
    """The four-corner formulation of TF1 resize (as TF computes it), for the fast version to match."""
    y0, y1, wy = G._tf1_axis(x.shape[-2], size[0], x.device)
    x0, x1, wx = G._tf1_axis(x.shape[-1], size[1], x.device)
    r0, r1 = x.index_select(-2, y0), x.index_select(-2, y1)
    top = r0.index_select(-1, x0) + (r0.index_select(-1, x1) - r0.index_select(-1, x0)) * wx
    bottom = r1.index_select(-1, x0) + (r1.index_select(-1, x1) - r1.index_select(-1, x0)) * wx
    return top + (bottom - top) * wy[:, None]


@pytest.mark.parametrize("shape,size", [((2, 21, 32, 32), (256, 256)), ((1, 2, 30, 40), (240, 320)),
                                        ((1, 3, 20, 30), (7, 50)), ((1, 4, 9, 9), (4, 4))])
def test_tf1_resize_is_bit_identical_to_four_corner_form(shape, size):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    assert torch.equal(G.tf1_resize_bilinear(x, size), _tf1_reference(x, size))
    cl = x.contiguous(memory_format=torch.channels_last)
    assert torch.equal(G.tf1_resize_bilinear(cl, size), _tf1_reference(x, size))


def test_tf1_resize_gradients_for_training():
    """The fast resize works in place on its own buffers: gradients (the training losses and the
    segmentation net's upsampling use it) must still be right."""
    for shape, size in (((2, 3, 8, 10), (32, 40)), ((1, 2, 20, 30), (7, 9))):
        x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda t: G.tf1_resize_bilinear(t, size), (x,))


def _crop_reference(images, boxes, out_size):
    """Per-pixel four-corner crop_and_resize (loops over the batch; TF's arithmetic order)."""
    b, c, h, w = images.shape
    outs = []
    def positions(lo, hi, n_img, n_out):  # sample positions in float32, as TF computes them
        step = (hi - lo) * (n_img - 1) / (n_out - 1)
        return lo * (n_img - 1) + torch.arange(n_out, dtype=torch.float32) * step

    for i in range(b):
        y1, x1, y2, x2 = boxes[i]
        ys, xs = positions(y1, y2, h, out_size[0]), positions(x1, x2, w, out_size[1])
        yl, xl = ys.floor(), xs.floor()
        wy, wx = ys - yl, xs - xl
        ya, yb = yl.long().clamp(0, h - 1), ys.ceil().long().clamp(0, h - 1)
        xa, xb = xl.long().clamp(0, w - 1), xs.ceil().long().clamp(0, w - 1)
        img = images[i]
        tl, tr = img[:, ya][:, :, xa], img[:, ya][:, :, xb]
        bl, br = img[:, yb][:, :, xa], img[:, yb][:, :, xb]
        top = tl + (tr - tl) * wx
        bottom = bl + (br - bl) * wx
        out = top + (bottom - top) * wy[:, None]
        valid = ((ys >= 0) & (ys <= h - 1))[:, None] & ((xs >= 0) & (xs <= w - 1))[None, :]
        outs.append(torch.where(valid, out, torch.zeros(())))
    return torch.stack(outs)


def test_crop_and_resize_matches_reference():
    g = torch.Generator().manual_seed(2)
    images = torch.rand(3, 3, 48, 64, generator=g) - 0.5
    boxes = torch.tensor([[0.1, 0.1, 0.7, 0.6], [-0.3, -0.2, 0.5, 1.3], [0.2, 0.3, 0.25, 0.31]])
    for size in ((32, 32), (17, 40)):
        ours = G.crop_and_resize(images, boxes, size)
        ref = _crop_reference(images, boxes, size)
        assert torch.equal(ours, ref)


# ---------------------------------------------------------------- estimator fast paths vs plain fp32
@pytest.fixture(scope="module")
def plain():
    return HandPoseEstimator.random(seed=0, device="cpu", channels_last=False, mask_method="torch", backend="torch")


def test_channels_last_and_opencv_mask_match_plain_path(plain):
    fast = HandPoseEstimator.random(seed=0, device="cpu", backend="torch")  # the fast torch CPU path
    assert fast.channels_last and fast.mask_method == "opencv"
    assert not plain.channels_last and plain.mask_method == "torch"
    for seed in range(2):
        f = synthetic_frame(seed=seed)
        a, b = fast(f), plain(f)
        np.testing.assert_array_equal(a.mask, b.mask)
        assert np.abs(a.keypoints_2d - b.keypoints_2d).max() <= 1.0
        np.testing.assert_allclose(a.keypoints_3d, b.keypoints_3d, atol=1e-4)


def _assert_keypoints_match(a, b):
    """Within 1 px; random weights give flat scoremaps, so a keypoint further away must be a tie: an
    equally high peak elsewhere (same score), and only for a couple of keypoints."""
    far = np.abs(a.keypoints_2d - b.keypoints_2d).max(axis=1) > 1.0
    assert far.sum() <= 2
    np.testing.assert_allclose(a.keypoint_scores[far], b.keypoint_scores[far], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(a.keypoints_3d, b.keypoints_3d, atol=1e-4)


def _assert_same_poses(a, b):
    np.testing.assert_array_equal(a.mask, b.mask)
    _assert_keypoints_match(a, b)


def test_onnxruntime_backend_matches_plain_torch(plain):
    """The default CPU backend: paper networks exported to ONNX Runtime give the plain path's results,
    at batch 1 and 3 (one session: the batch is dynamic), and a new input shape gets its own export."""
    est = HandPoseEstimator.random(seed=0, device="cpu")
    assert est.backend == "onnxruntime" and plain.backend == "torch" and not est.channels_last
    frames = [synthetic_frame(seed=s) for s in range(3)]
    for f, pb in zip(frames, est(frames)):
        ref = plain(f)
        _assert_same_poses(est(f), ref)
        _assert_same_poses(pb, ref)
    assert len(est._nets["handsegnet"]._sessions) == 1
    aspect = PipelineSettings(resize_mode="aspect")
    big = synthetic_frame(300, 500, seed=5)
    _assert_same_poses(est(big, settings=aspect), plain(big, settings=aspect))
    assert len(est._nets["handsegnet"]._sessions) == 2


def test_onnxruntime_lite_matches_torch_with_tracking(lite_est):
    torch_est = HandPoseEstimator(lite_est.networks, device="cpu", backend="torch")
    assert lite_est.backend == "onnxruntime" and torch_est.backend == "torch"
    settings = lite_est.settings.replace(tracking=True, redetect_every=3, track_min_score=-1.0)
    lite_est.reset_tracking()
    for i in range(5):
        f = synthetic_frame(seed=i)
        a, b = lite_est(f, settings=settings), torch_est(f, settings=settings)
        assert a.tracked == b.tracked == (i % 3 != 0)
        _assert_keypoints_match(a, b)
    lite_est.reset_tracking()


def test_backend_choice(monkeypatch):
    from handcam import onnx_backend as ob

    cpu = torch.device("cpu")
    assert ob.resolve_backend("auto", cpu, "fp32", False) == "onnxruntime"
    assert ob.resolve_backend("auto", cpu, "bf16", False) == "torch"
    assert ob.resolve_backend("auto", cpu, "fp32", True) == "torch"
    assert ob.resolve_backend("auto", torch.device("cuda"), "fp32", False) == "torch"
    assert ob.resolve_backend("torch", cpu, "fp32", False) == "torch"
    with pytest.raises(ValueError, match="fp32 only"):
        ob.resolve_backend("onnxruntime", cpu, "bf16", False)
    with pytest.raises(ValueError, match="backend must be"):
        ob.resolve_backend("tensorrt", cpu, "fp32", False)
    with pytest.raises(ValueError, match="CPU only"):
        ob.resolve_backend("onnxruntime", torch.device("cuda"), "fp32", False)
    monkeypatch.setattr(ob, "available", lambda: False)
    assert ob.resolve_backend("auto", cpu, "fp32", False) == "torch"
    with pytest.raises(ValueError, match="pip install onnxruntime"):
        ob.resolve_backend("onnxruntime", cpu, "fp32", False)
    monkeypatch.undo()
    monkeypatch.setenv("HANDCAM_BACKEND", "torch")
    assert HandPoseEstimator.random(seed=0, device="cpu", arch="lite").backend == "torch"
    assert HandPoseEstimator.random(seed=0, device="cpu", arch="lite", backend="onnxruntime").backend == "onnxruntime"


def _rel(a, b) -> float:
    return float((a.float() - b.float()).norm() / b.float().norm())


def test_bf16_autocast_close_to_fp32():
    """Reduced precision, network by network on the same inputs: every output within 1e-2 (relative),
    3D within 1e-2. (Random networks have nearly flat scoremaps and masks, so their argmax keypoints
    say nothing about precision; with real weights, ``test_bf16_keypoints_with_real_weights`` checks
    the keypoints themselves.)"""
    est32 = HandPoseEstimator.random(seed=3, device="cpu")
    est16 = HandPoseEstimator(est32.networks, device="cpu", precision="bf16")
    frame = synthetic_frame(seed=4)
    image = G.normalize_image(torch.from_numpy(frame)[None])
    side = G.hand_side_onehot(["left"])
    a = run_pipeline(est32._nets, image, side, PipelineSettings(), channels_last=True)
    b = run_pipeline(est16._nets, image, side, PipelineSettings(), channels_last=True, precision="bf16")
    assert all(s.dtype == torch.float32 for s in b.scoremaps) and b.keypoints_3d.dtype == torch.float32
    assert _rel(b.logits, a.logits) <= 1e-2
    with torch.inference_mode():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            maps16 = est16._nets["posenet"](a.crop)
            can16 = est16._nets["poseprior"](a.scoremaps[-1], side)
            vp16 = est16._nets["viewpoint"](a.scoremaps[-1], side)
        vp32 = est32._nets["viewpoint"](a.scoremaps[-1], side)
    assert maps16[-1].dtype == torch.bfloat16  # autocast really ran in reduced precision
    for m16, m32 in zip(maps16, a.scoremaps):
        assert _rel(m16, m32) <= 1e-2
    assert _rel(can16, a.coord_can) <= 1e-2 and _rel(vp16, vp32) <= 1e-2
    xyz16, _ = G.lift(can16.float(), vp16.float(), side)
    xyz32, _ = G.lift(a.coord_can, vp32, side)
    assert (xyz16 - xyz32).abs().max() <= 1e-2 * max(1.0, float(xyz32.abs().max()))


def _real_weights():
    from handcam.weights import default_weights_candidates

    found = [p for p in default_weights_candidates() if p.is_file()]
    return found[0] if found else None


@pytest.mark.skipif(_real_weights() is None, reason="no trained weights (weights/handcam.pt, $HANDCAM_WEIGHTS); "
                    "random networks have flat scoremaps")
def test_bf16_keypoints_with_real_weights():
    est32 = HandPoseEstimator.load(_real_weights(), device="cpu")
    est16 = HandPoseEstimator(est32.networks, device="cpu", precision="bf16")
    for seed in range(3):
        f = synthetic_frame(seed=seed)
        a, b = est32(f), est16(f)
        if np.allclose(a.crop_box, b.crop_box, atol=1.0):
            assert np.median(np.abs(a.keypoints_2d - b.keypoints_2d).max(axis=1)) <= 1.0
            assert np.abs(a.keypoints_3d - b.keypoints_3d).max() <= 1e-2 * max(1.0, np.abs(a.keypoints_3d).max())


def test_process_video_equals_frame_by_frame(lite_est):
    random_estimator = lite_est
    frames = [synthetic_frame(seed=s) for s in range(3)] + [synthetic_frame(120, 160, seed=5)]
    poses = list(random_estimator.process_video(iter(frames), batch_size=2))
    assert len(poses) == 4 and poses[-1].mask.shape == (120, 160)
    for f, p in zip(frames, poses):
        s = random_estimator(f)
        np.testing.assert_allclose(p.keypoints_2d, s.keypoints_2d, atol=1e-3)
        np.testing.assert_array_equal(p.mask, s.mask)
    with pytest.raises(ValueError, match="batch_size"):
        list(random_estimator.process_video(frames, batch_size=0))


# ---------------------------------------------------------------- tracking
@pytest.fixture(scope="module")
def lite_est():
    return HandPoseEstimator.random(seed=1, device="cpu", arch="lite")


def test_tracking_redetects_every_n_frames(lite_est):
    lite_est.reset_tracking()
    s = PipelineSettings(tracking=True, redetect_every=3, track_min_score=-1e9)
    flags = [lite_est(synthetic_frame(seed=i % 2), settings=s).tracked for i in range(7)]
    assert flags == [False, True, True, False, True, True, False]
    pose = lite_est(synthetic_frame(), settings=s)
    assert pose.tracked and pose.mask_area == 0 and not pose.mask.any()
    assert pose.timings_ms["handsegnet"] < pose.timings_ms["total"] and pose.to_json()["tracked"]


def test_tracking_low_confidence_batches_and_new_sizes_detect(lite_est):
    lite_est.reset_tracking()
    never = PipelineSettings(tracking=True, track_min_score=1e9)
    assert [lite_est(synthetic_frame(), settings=never).tracked for _ in range(3)] == [False] * 3
    always = PipelineSettings(tracking=True, redetect_every=0, track_min_score=-1e9)
    assert [lite_est(synthetic_frame(), settings=always).tracked for _ in range(3)] == [False, True, True]
    assert not lite_est(synthetic_frame(120, 160), settings=always).tracked   # new frame size
    assert not any(p.tracked for p in lite_est([synthetic_frame()] * 2, settings=always))  # batches detect
    lite_est.reset_tracking()
    assert not lite_est(synthetic_frame(), settings=always).tracked
    assert not lite_est(synthetic_frame()).tracked  # tracking off (the default settings)


def test_tracked_crop_is_built_from_previous_keypoints(plain):
    """A tracked frame crops TRACK_CROP_FACTOR x the keypoint extent around the keypoints' box middle."""
    frame = synthetic_frame(seed=2)
    image = G.normalize_image(torch.from_numpy(frame)[None])
    side = G.hand_side_onehot(["left"])
    kp = torch.tensor([[[50.0, 60.0], [90.0, 100.0], [70.0, 140.0]]])
    center, extent = track_box(kp)
    np.testing.assert_allclose(center.numpy(), [[70.0, 100.0]])
    np.testing.assert_allclose(extent.numpy(), [80.0])
    out = run_pipeline(plain.networks, image, side, PipelineSettings(), track=(center, extent))
    assert out.logits is None and not out.mask.any()
    scale = G.crop_scale(extent, 2.0)
    expected = G.crop_and_resize(image, G.normalize_boxes(G.crop_boxes(center, scale), 240, 320), (256, 256))
    assert torch.equal(out.crop, expected)
    np.testing.assert_allclose(out.scale.numpy(), scale.numpy())


# ---------------------------------------------------------------- the lite family
def test_lite_interfaces_and_training_step():
    torch.manual_seed(0)
    seg, pose, prior, view = lite.HandSegNet(), lite.PoseNet(), lite.PosePrior(), lite.ViewPoint()
    x = torch.randn(2, 3, 240, 320)
    assert seg(x).shape == (2, 2, 240, 320)
    maps = pose(torch.randn(2, 3, lite.CROP_SIZE, lite.CROP_SIZE))
    assert isinstance(maps, list) and len(maps) == 2 and all(m.shape == (2, 21, 32, 32) for m in maps)
    side = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert prior(maps[-1], side).shape == (2, 21, 3) and view(maps[-1], side).shape == (2, 3)
    # any scoremap size (the training scripts pool 256 targets to 32 x 32; a 64 crop gives 16 x 16)
    assert prior(torch.randn(2, 21, 16, 16), side).shape == (2, 21, 3)
    loss = sum(m.square().mean() for m in maps) + prior(maps[-1], side).square().mean()
    loss.backward()
    assert all(p.grad is not None for p in pose.parameters())


def test_lite_bn_folding_is_exact_enough():
    torch.manual_seed(0)
    net = lite.PoseNet().eval()
    for m in net.modules():  # non-trivial statistics, as after training
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
    fused = inference_copy(net)
    assert fused is not net and fused.input_size == net.input_size
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())  # the original is untouched
    x = torch.randn(1, 3, 128, 128)
    with torch.inference_mode():
        for a, b in zip(net(x), fused(x)):
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)
    paper = HandPoseEstimator.random(seed=0, device="cpu").networks["posenet"]
    assert inference_copy(paper) is paper and fuse_conv_bn(torch.nn.Sequential()) is not None


def test_lite_estimator_and_weights_round_trip(tmp_path, lite_est):
    from handcam.weights import save_weights

    frame = synthetic_frame(seed=7)
    pose = lite_est(frame)
    assert lite_est.architecture == "lite"
    assert pose.crop.shape == (lite.CROP_SIZE, lite.CROP_SIZE, 3)
    assert pose.keypoints_crop.max() < lite.CROP_SIZE
    # scale is in network-input pixels; lite segments a 120x160 squash of this 240x320 frame
    ratio = frame.shape[1] / lite_est.settings.input_size[1]
    np.testing.assert_allclose(pose.keypoints_2d, (pose.keypoints_crop - lite.CROP_SIZE / 2) / pose.scale * ratio
                               + pose.center, atol=1e-4)
    path = save_weights(tmp_path / "lite.pt", {k: n.state_dict() for k, n in lite_est.networks.items()},
                        {"source": "test"}, architecture="lite")
    loaded = HandPoseEstimator.load(path, device="cpu")
    assert loaded.architecture == "lite" and isinstance(loaded.networks["posenet"], lite.PoseNet)
    again = loaded(frame)
    np.testing.assert_allclose(again.keypoints_2d, pose.keypoints_2d, atol=1e-3)
    np.testing.assert_allclose(again.keypoints_3d, pose.keypoints_3d, atol=1e-4)


def test_training_scripts_find_the_lite_family():
    pytest.importorskip("training.loop")
    from training.loop import import_arch

    m = import_arch("lite")
    assert m.PoseNet is lite.PoseNet and m.HandSegNet is lite.HandSegNet


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_cuda_fast_path_matches_cpu(precision):
    cpu = HandPoseEstimator.random(seed=0, device="cpu")
    gpu = HandPoseEstimator.random(seed=0, device="cuda", precision=precision)
    assert gpu.mask_method == "torch"
    for seed in range(2):
        f = synthetic_frame(seed=seed)
        a, b = cpu(f), gpu(f)
        tol = 1e-3 if precision == "fp32" else 1e-2
        assert (a.mask == b.mask).mean() > 0.99
        if np.array_equal(a.mask, b.mask):
            np.testing.assert_allclose(b.keypoints_3d, a.keypoints_3d, atol=tol * max(1, np.abs(a.keypoints_3d).max()))


def test_uint8_resize_differs_from_float_resize_by_rounding_only(lite_est):
    """The lite family's CPU input path (resize the uint8 frame, then normalise) against the float
    path: the network input moves by at most one grey level, the networks' outputs by < 1e-2."""
    assert lite_est.resize_uint8 and not HandPoseEstimator.random(seed=0, device="cpu").resize_uint8
    frame = torch.from_numpy(synthetic_frame(480, 640, seed=3))[None]
    fast = G.normalize_image(G.resize_frames(frame.permute(0, 3, 1, 2), (240, 320)).permute(0, 2, 3, 1))
    plain = G.resize_frames(G.normalize_image(frame), (240, 320))
    assert (fast - plain).abs().max() <= 1.0 / 255 + 1e-6
    slow_est = HandPoseEstimator(lite_est.networks, device="cpu", resize_uint8=False)
    a = lite_est(frame[0].numpy())
    b = slow_est(frame[0].numpy())
    assert a.mask.shape == b.mask.shape == (480, 640)
    with torch.inference_mode():
        la, lb = lite_est._nets["handsegnet"](fast), slow_est._nets["handsegnet"](plain)
    assert _rel(la, lb) <= 1e-2


def test_layout_probe_picks_one_and_keeps_results(lite_est):
    est = HandPoseEstimator(lite_est.networks, device="cpu", channels_last="probe", backend="torch")
    times = est._probe_layout(iterations=1)
    assert set(times) == {"contiguous", "channels_last"} and all(t > 0 for t in times.values())
    assert est.channels_last == (times["channels_last"] <= times["contiguous"])
    est._set_layout(not est.channels_last)  # either layout gives the same result
    f = synthetic_frame(seed=9)
    a = est(f)
    est._set_layout(not est.channels_last)
    b = est(f)
    np.testing.assert_allclose(a.keypoints_3d, b.keypoints_3d, atol=1e-4)
    assert np.abs(a.keypoints_2d - b.keypoints_2d).max() <= 1.0
    with pytest.raises(ValueError, match="channels_last"):
        HandPoseEstimator(lite_est.networks, device="cpu", channels_last="yes", backend="torch")


def test_thread_rule_leaves_a_core():
    from handcam.estimator import inference_threads, set_inference_threads

    assert [inference_threads(c) for c in (1, 2, 4, 16)] == [1, 1, 3, 15]
    before = torch.get_num_threads()
    try:
        assert set_inference_threads(1) == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_compile_option_wraps_networks_lazily(lite_est):
    """``compile=True`` wraps each network in torch.compile (compilation itself happens on the first
    call, about a minute per network on this CPU, so it is not run here) and keeps what the pipeline
    reads from them."""
    est = HandPoseEstimator(lite_est.networks, device="cpu", compile=True)
    assert est.compiled and all(type(n).__name__ == "OptimizedModule" for n in est._nets.values())
    from handcam.estimator import posenet_input_size

    assert posenet_input_size(est._nets["posenet"]) == lite.CROP_SIZE
    assert est.networks["posenet"] is lite_est.networks["posenet"]  # the plain modules stay public
