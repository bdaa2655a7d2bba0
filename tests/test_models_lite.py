"""handcam.models.lite: the lite family's interfaces (the paper's, at the registry's sizes), training."""
import torch

from handcam.models import lite, registry
from handcam.models.efficientnet import EfficientNetLite0


def test_lite_interfaces_and_training_step():
    torch.manual_seed(0)
    seg, pose, prior, view = lite.HandSegNet(), lite.PoseNet(), lite.PosePrior(), lite.ViewPoint()
    crop = registry.LITE.crop_size
    x = torch.randn(2, 3, 240, 320)
    assert seg(x).shape == (2, 3, 240, 320)  # background, left hand, right hand
    assert lite.HandSegNet.CLASSES == ("background", "left", "right") and registry.predicts_sides(seg)
    assert isinstance(seg.backbone, EfficientNetLite0) and isinstance(pose.backbone, EfficientNetLite0)
    assert seg.backbone.max_stride == pose.backbone.max_stride == 16 and not seg.backbone.with_classifier
    maps = pose(torch.randn(2, 3, crop, crop))
    assert isinstance(maps, list) and len(maps) == 2 and all(m.shape == (2, 21, crop // 4, crop // 4) for m in maps)
    side = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert prior(maps[-1], side).shape == (2, 21, 3) and view(maps[-1], side).shape == (2, 3)
    # any scoremap size (the training scripts pool 256 targets to 32 x 32; a 64 crop gives 16 x 16)
    assert prior(torch.randn(2, 21, 16, 16), side).shape == (2, 21, 3)
    loss = sum(m.square().mean() for m in maps) + prior(maps[-1], side).square().mean()
    loss.backward()
    assert all(p.grad is not None for p in pose.parameters())
    seg_loss = torch.nn.functional.cross_entropy(seg(x[:, :, :64, :64]), torch.randint(0, 3, (2, 64, 64)))
    seg_loss.backward()
    assert all(p.grad is not None for p in seg.parameters())


def test_lite_sizes_come_from_the_registry():
    torch.manual_seed(0)
    a = registry.LITE
    with torch.inference_mode():
        seg = lite.HandSegNet().eval()
        classes = len(registry.segmentation_classes(seg))
        assert classes == 3
        assert seg(torch.zeros(1, 3, *a.input_size)).shape == (1, classes, *a.input_size)
        low = seg(torch.zeros(1, 3, *a.input_size), upsample=False)
        assert low.shape == (1, classes, a.input_size[0] // 8, a.input_size[1] // 8)
        maps = lite.PoseNet().eval()(torch.zeros(1, 3, a.crop_size, a.crop_size))
    assert len(maps) == a.posenet_stages and maps[-1].shape[-1] == a.crop_size // 4   # lifting resizes them
    assert not hasattr(lite, "CROP_SIZE") and not hasattr(lite.PoseNet(), "input_size")  # the registry says


def test_lite_classes_say_their_family():
    classes = registry.LITE.classes()
    assert list(classes) == list(registry.NETWORK_KEYS)
    assert all(cls.ARCHITECTURE == "lite" for cls in classes.values())
    assert [classes[k] for k in registry.NETWORK_KEYS] == [lite.HandSegNet, lite.PoseNet, lite.PosePrior,
                                                           lite.ViewPoint]
