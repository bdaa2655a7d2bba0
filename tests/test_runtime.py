"""handcam.runtime: device, threads, autocast, the stage clock, BatchNorm folding, the torch network
wrapper, the layout probe, the backend choice -- and every fast path against the plain fp32 path."""
import itertools

import numpy as np
import pytest
import torch
from conftest import synthetic_frame
from torch import nn

from handcam import geometry as G
from handcam import runtime
from handcam.errors import InputError
from handcam.estimator import HandPoseEstimator
from handcam.models import lite, registry
from handcam.models.efficientnet import ConvBN
from handcam.onnx_backend import OrtNetwork
from handcam.pipeline import run_pipeline
from handcam.runtime import (
    Clock,
    TorchNetwork,
    autocast,
    fuse_conv_bn,
    inference_copy,
    inference_threads,
    layout_times,
    prepare_networks,
    probe_layout,
    resolve_backend,
    resolve_device,
    set_inference_threads,
)
from handcam.settings import PipelineSettings, RuntimeOptions

CPU = torch.device("cpu")


# ---------------------------------------------------------------- device, threads, autocast, clock
def test_resolve_device(monkeypatch):
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device(None) == resolve_device("auto")
    assert resolve_device("CPU") == CPU and resolve_device(CPU) is CPU
    with pytest.raises(InputError, match="unknown device 'tpu'"):
        resolve_device("tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == CPU
    with pytest.raises(InputError, match="no CUDA device"):
        resolve_device("cuda")


def test_thread_rule_leaves_a_core(monkeypatch):
    monkeypatch.delenv("HANDCAM_THREADS", raising=False)
    assert [inference_threads(c) for c in (1, 2, 4, 16)] == [1, 1, 3, 15]
    monkeypatch.setenv("HANDCAM_THREADS", "5")
    assert inference_threads(2) == 5
    monkeypatch.setenv("HANDCAM_THREADS", "many")  # ignored, with a warning
    assert inference_threads(4) == 3
    before = torch.get_num_threads()
    try:
        assert set_inference_threads(1) == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_autocast():
    x = torch.rand(2, 3)
    lin = nn.Linear(3, 2)
    with autocast(CPU, "fp32"):
        assert lin(x).dtype == torch.float32
    with autocast(CPU, "bf16"):
        assert lin(x).dtype == torch.bfloat16
    with pytest.raises(ValueError, match="precision"):
        autocast(CPU, "fp8")


def test_clock_sums_the_marks(monkeypatch):
    ticks = itertools.chain([10.0, 10.5, 10.75, 11.75], itertools.repeat(99.0))
    monkeypatch.setattr(runtime.time, "perf_counter", lambda: next(ticks))
    clock = Clock(CPU)
    for name in ("start", "a", "b", "a"):
        clock.mark(name)
    assert [name for name, _ in clock.marks] == ["start", "a", "b", "a"]
    assert clock.elapsed_ms() == {"a": 1500.0, "b": 250.0}  # a repeated stage adds up
    assert clock.total_ms() == 1750.0


# ---------------------------------------------------------------- BatchNorm folding, the torch wrapper
@pytest.mark.parametrize("cls,size", [(lite.PoseNet, (128, 128)), (lite.HandSegNet, (120, 160))])
def test_lite_bn_folding_is_exact_enough(cls, size):
    torch.manual_seed(0)
    net = cls().eval()
    for m in net.modules():  # non-trivial statistics, as after training
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
    fused = inference_copy(net)
    # (the lite classes no longer carry an input_size to compare; the copy is of the same class)
    assert fused is not net and type(fused) is type(net)
    # every BatchNorm folded: the decoder's (in Sequentials) and the EfficientNet trunk's (ConvBN blocks)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    assert all(isinstance(m.bn, torch.nn.Identity) and m.conv.bias is not None
               for m in fused.backbone.modules() if isinstance(m, ConvBN))
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())  # the original is untouched
    x = torch.randn(1, 3, *size)
    with torch.inference_mode():
        outs, fused_outs = net(x), fused(x)
    if not isinstance(outs, list):  # HandSegNet: one logits map; PoseNet: its stages
        outs, fused_outs = [outs], [fused_outs]
    for a, b in zip(outs, fused_outs, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)
    paper = HandPoseEstimator.random(seed=0, device="cpu").networks["posenet"]
    assert inference_copy(paper) is paper and fuse_conv_bn(torch.nn.Sequential()) is not None


def test_torch_network_layout_and_precision():
    conv = nn.Conv2d(3, 4, 3)
    seen = []
    conv.register_forward_pre_hook(lambda m, a: seen.append(a[0].is_contiguous(memory_format=torch.channels_last)))
    net = TorchNetwork(conv, CPU, "fp32", channels_last=True)
    assert net.module is conv and net.channels_last
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.rand(1, 3, 8, 8)
    out = net(x)
    assert seen == [True] and out.dtype == torch.float32
    net.set_layout(False)
    assert not net.channels_last and conv.weight.is_contiguous()
    torch.testing.assert_close(net(x), out)
    assert seen == [True, False]
    half = TorchNetwork(nn.Linear(3, 2), CPU, "bf16", channels_last=True)
    assert half(torch.rand(2, 3)).dtype == torch.bfloat16  # 2-D inputs pass as they are, under autocast


def test_prepare_networks_copies_and_wraps():
    nets = registry.LITE.build(seed=0)
    modules, calls, backend, cl = prepare_networks(nets, registry.LITE, CPU,
                                                   RuntimeOptions(backend="torch", layout="contiguous"))
    assert backend == "torch" and cl is False
    assert set(modules) == set(calls) == set(registry.NETWORK_KEYS)
    assert all(isinstance(c, TorchNetwork) and not c.channels_last for c in calls.values())
    assert all(modules[k] is not nets[k] and not modules[k].training for k in nets)
    assert any(isinstance(m, nn.BatchNorm2d) for m in modules["posenet"].modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in calls["posenet"].module.modules())  # folded copy
    m2, c2, b2, cl2 = prepare_networks(nets, registry.LITE, CPU, RuntimeOptions(backend="onnxruntime"))
    assert b2 == "onnxruntime" and cl2 is False and all(isinstance(c, OrtNetwork) for c in c2.values())
    with pytest.raises(ValueError, match="networks missing"):
        prepare_networks({"posenet": nets["posenet"]}, registry.LITE, CPU, RuntimeOptions())


# ---------------------------------------------------------------- the backend choice
def test_backend_choice_follows_the_options_and_the_environment(monkeypatch):
    monkeypatch.delenv("HANDCAM_BACKEND", raising=False)
    assert resolve_backend(RuntimeOptions(), CPU) == "onnxruntime"
    assert resolve_backend(RuntimeOptions(precision="bf16"), CPU) == "torch"
    assert resolve_backend(RuntimeOptions(compile=True), CPU) == "torch"
    assert resolve_backend(RuntimeOptions(backend="torch"), CPU) == "torch"
    monkeypatch.setenv("HANDCAM_BACKEND", "torch")
    assert resolve_backend(RuntimeOptions(), CPU) == "torch"
    assert resolve_backend(RuntimeOptions(backend="onnxruntime"), CPU) == "onnxruntime"
    assert HandPoseEstimator.random(seed=0, device="cpu", arch="lite").backend == "torch"
    assert HandPoseEstimator.random(seed=0, device="cpu", arch="lite",
                                    runtime=RuntimeOptions(backend="onnxruntime")).backend == "onnxruntime"


# ---------------------------------------------------------------- fast paths vs the plain fp32 path
@pytest.fixture(scope="module")
def plain():
    return HandPoseEstimator.random(seed=0, device="cpu", runtime=RuntimeOptions(
        layout="contiguous", mask_method="torch", backend="torch"))


def test_channels_last_and_opencv_mask_match_plain_path(plain):
    fast = HandPoseEstimator.random(seed=0, device="cpu", runtime=RuntimeOptions(backend="torch"))  # fast torch CPU
    assert fast.channels_last and fast.mask_method == "opencv"
    assert all(n.channels_last for n in fast.runnable_networks.values())
    assert not plain.channels_last and plain.mask_method == "torch"
    assert not any(n.channels_last for n in plain.runnable_networks.values())
    for seed in range(2):
        f = synthetic_frame(seed=seed)
        a, b = fast.estimate(f, with_mask=True).hand, plain.estimate(f, with_mask=True).hand
        assert a.mask is not None and b.mask is not None
        np.testing.assert_array_equal(a.mask, b.mask)
        assert np.abs(a.keypoints_2d - b.keypoints_2d).max() <= 1.0
        np.testing.assert_allclose(a.keypoints_3d, b.keypoints_3d, atol=1e-4)


def _rel(a, b) -> float:
    return float((a.float() - b.float()).norm() / b.float().norm())


def test_bf16_autocast_close_to_fp32():
    """Reduced precision, network by network on the same inputs: every output within 1e-2 (relative),
    3D within 1e-2. (Random networks have nearly flat scoremaps and masks, so their argmax keypoints
    say nothing about precision; with real weights, ``test_bf16_keypoints_with_real_weights`` checks
    the keypoints themselves.)"""
    est32 = HandPoseEstimator.random(seed=3, device="cpu")
    est16 = HandPoseEstimator(est32.networks, device="cpu", runtime=RuntimeOptions(precision="bf16"))
    assert est16.backend == "torch" and all(n.precision == "bf16" for n in est16.runnable_networks.values())
    frame = synthetic_frame(seed=4)
    image = G.normalize_image(torch.from_numpy(frame)[None])
    side = G.hand_side_onehot(["left"])
    a = run_pipeline(est32.runnable_networks, image, side, PipelineSettings.release())
    b = run_pipeline(est16.runnable_networks, image, side, PipelineSettings.release())
    assert all(s.dtype == torch.float32 for s in b.scoremaps) and b.keypoints_3d.dtype == torch.float32
    assert _rel(b.segmentation.logits, a.segmentation.logits) <= 1e-2
    with torch.inference_mode():
        maps16 = est16.runnable_networks["posenet"](a.crop.image)  # the wrapper runs under bf16 autocast
        can16 = est16.runnable_networks["poseprior"](a.scoremaps[-1], side)
        vp16 = est16.runnable_networks["viewpoint"](a.scoremaps[-1], side)
        vp32 = est32.runnable_networks["viewpoint"](a.scoremaps[-1], side)
    assert maps16[-1].dtype == torch.bfloat16  # autocast really ran in reduced precision
    for m16, m32 in zip(maps16, a.scoremaps):
        assert _rel(m16, m32) <= 1e-2
    assert _rel(can16, a.pose.coord_can) <= 1e-2 and _rel(vp16, vp32) <= 1e-2
    xyz16 = G.from_canonical(can16.float(), G.rodrigues(vp16.float()), side)
    xyz32 = G.from_canonical(a.pose.coord_can, G.rodrigues(vp32), side)
    assert (xyz16 - xyz32).abs().max() <= 1e-2 * max(1.0, float(xyz32.abs().max()))


def _real_weights():
    from handcam.weights import default_weights_candidates

    found = [p for p in default_weights_candidates() if p.is_file()]
    return found[0] if found else None


@pytest.mark.skipif(_real_weights() is None, reason="no trained weights (weights/handcam.pt, $HANDCAM_WEIGHTS); "
                    "random networks have flat scoremaps")
def test_bf16_keypoints_with_real_weights():
    est32 = HandPoseEstimator.load(_real_weights(), device="cpu")
    est16 = HandPoseEstimator(est32.networks, device="cpu", runtime=RuntimeOptions(precision="bf16"))
    from training.synth.dataset import render_sample

    # rendered hands (the trained weights' keypoints of a hand-free frame are ill-conditioned)
    frames = [render_sample(i, seed=12345, set_name="evaluation").color for i in range(12)]
    frames = [f for f in frames if est32.estimate(f).hand is not None][:3]
    assert frames
    for f in frames:
        one = PipelineSettings.release()           # the most confident hand of each, compared
        a, b = est32.estimate(f, one).hands[0], est16.estimate(f, one).hands[0]
        if np.allclose(a.box, b.box, atol=1.0):
            assert np.median(np.abs(a.keypoints_2d - b.keypoints_2d).max(axis=1)) <= 1.0
            # bf16 keeps 8 bits of mantissa; with the trained lite networks the normalised 3D moves by several
            # per cent of the hand's extent (measured 7.6 % and 11.1 % on these renders: the lifting networks
            # see 24 x 24 maps resized to 32, whose peaks bf16 moves), the paper's by < 1 %
            tol = 1.5e-1 if est32.architecture.name == "lite" else 1e-2
            assert np.abs(a.keypoints_3d - b.keypoints_3d).max() <= tol * max(1.0, np.abs(a.keypoints_3d).max())


def test_layout_probe_picks_one_and_keeps_results(lite_estimator, monkeypatch):
    est = HandPoseEstimator(lite_estimator.networks, device="cpu",
                            runtime=RuntimeOptions(layout="probe", backend="torch"))
    calls = est.runnable_networks
    assert all(n.channels_last == est.channels_last for n in calls.values())
    times = layout_times(calls, est.architecture, est.device, iterations=1)
    assert set(times) == {"contiguous", "channels_last"} and all(t > 0 for t in times.values())
    # the probe keeps the faster layout (ties: channels_last), on every network
    for fake, expected in (({"channels_last": 2.0, "contiguous": 1.0}, False),
                           ({"channels_last": 1.0, "contiguous": 1.0}, True)):
        monkeypatch.setattr(runtime, "layout_times", lambda *a, fake=fake, **k: fake)
        assert probe_layout(calls, est.architecture, est.device, iterations=1) is expected
        assert all(n.channels_last == expected for n in calls.values())
    monkeypatch.undo()
    chosen = est.channels_last
    for n in calls.values():  # either layout gives the same result
        n.set_layout(not chosen)
    f = synthetic_frame(seed=9)
    a = est.estimate(f).hand
    for n in calls.values():
        n.set_layout(chosen)
    b = est.estimate(f).hand
    np.testing.assert_allclose(a.keypoints_3d, b.keypoints_3d, atol=1e-4)
    assert np.abs(a.keypoints_2d - b.keypoints_2d).max() <= 1.0
    with pytest.raises(ValueError, match="channels_last"):
        RuntimeOptions(layout="yes")


def test_layout_auto_probes_the_lite_family_only(lite_estimator, monkeypatch):
    probes = []

    def fake(*a, **k):
        probes.append(1)
        return {"channels_last": 2.0, "contiguous": 1.0}

    monkeypatch.setattr(runtime, "layout_times", fake)
    est = HandPoseEstimator(lite_estimator.networks, device="cpu", runtime=RuntimeOptions(backend="torch"))
    assert len(probes) == 1 and est.channels_last is False
    paper = HandPoseEstimator.random(seed=0, device="cpu", runtime=RuntimeOptions(backend="torch"))
    assert len(probes) == 1 and paper.channels_last is True  # no probe for the paper family
    cl = HandPoseEstimator(lite_estimator.networks, device="cpu",
                           runtime=RuntimeOptions(backend="torch", layout="channels_last"))
    assert len(probes) == 1 and cl.channels_last is True
    ort = HandPoseEstimator(lite_estimator.networks, device="cpu", runtime=RuntimeOptions(backend="onnxruntime"))
    assert len(probes) == 1 and ort.channels_last is False  # ONNX Runtime picks its own layouts


def test_compile_option_wraps_networks_lazily(lite_estimator):
    """``compile=True`` wraps each network in torch.compile (compilation itself happens on the first
    call, about a minute per network on this CPU, so it is not run here) and keeps what the pipeline
    reads from them."""
    est = HandPoseEstimator(lite_estimator.networks, device="cpu", runtime=RuntimeOptions(compile=True))
    assert est.runtime.compile and est.backend == "torch"
    assert all(type(n.module).__name__ == "OptimizedModule" for n in est.runnable_networks.values())
    assert est.architecture.crop_size == registry.LITE.crop_size
    # the plain modules stay public (copies of the ones passed in, which are left as they are)
    assert isinstance(est.networks["posenet"], lite.PoseNet)
    assert type(lite_estimator.networks["posenet"]).__name__ != "OptimizedModule"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_cuda_fast_path_matches_cpu(precision):
    cpu = HandPoseEstimator.random(seed=0, device="cpu")
    gpu = HandPoseEstimator.random(seed=0, device="cuda", runtime=RuntimeOptions(precision=precision))
    assert gpu.mask_method == "torch" and gpu.backend == "torch"
    for seed in range(2):
        f = synthetic_frame(seed=seed)
        a, b = cpu.estimate(f, with_mask=True).hand, gpu.estimate(f, with_mask=True).hand
        tol = 1e-3 if precision == "fp32" else 1e-2
        assert (a.mask == b.mask).mean() > 0.99
        if np.array_equal(a.mask, b.mask):
            np.testing.assert_allclose(b.keypoints_3d, a.keypoints_3d, atol=tol * max(1, np.abs(a.keypoints_3d).max()))
