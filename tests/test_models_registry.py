"""handcam.models.registry: the network families, their sizes and networks."""
import pytest
import torch

from handcam import models
from handcam.models import lite, registry


def test_families():
    assert registry.NETWORK_KEYS == ("handsegnet", "posenet", "poseprior", "viewpoint")
    assert set(registry.ARCHITECTURES) == {"paper", "lite"}
    assert registry.get("paper") is registry.PAPER and registry.get("lite") is registry.LITE
    with pytest.raises(ValueError, match="unknown architecture 'huge'.*paper.*lite"):
        registry.get("huge")
    p, q = registry.PAPER, registry.LITE
    assert (p.input_size, p.crop_size, p.scoremap_size, p.posenet_stages) == ((240, 320), 256, 32, 3)
    assert (q.input_size, q.crop_size, q.scoremap_size, q.posenet_stages) == ((120, 160), 96, 32, 2)
    assert q.subpixel_keypoints and not p.subpixel_keypoints   # the paper family keeps the release rule
    assert p.official and not q.official
    assert (p.uint8_resize, p.probe_layout) == (False, False) and (q.uint8_resize, q.probe_layout) == (True, True)
    assert p.description and q.description


def test_classes():
    assert registry.PAPER.classes() == models.NETWORKS == {
        "handsegnet": models.HandSegNet, "posenet": models.PoseNet, "poseprior": models.PosePrior,
        "viewpoint": models.ViewPoint}
    assert registry.LITE.classes() == {k: getattr(lite, registry.CLASS_NAMES[k]) for k in registry.NETWORK_KEYS}
    assert registry.LITE.network_class("posenet") is lite.PoseNet
    with pytest.raises(ValueError, match="unknown network 'face'"):
        registry.PAPER.network_class("face")


def test_training_scripts_find_the_lite_family():
    # the training scripts build their networks and frame sizes from the registry
    from training.data import HandSegDataset  # noqa: F401  (the training side must import too)
    from training.tasks import HandSegTask

    m = registry.get("lite").classes()
    assert m["posenet"] is lite.PoseNet and m["handsegnet"] is lite.HandSegNet
    assert registry.LITE.downscale == 0.5 and registry.PAPER.downscale == 1.0

    from training.config import TrainConfig

    assert HandSegTask.downscale(TrainConfig.for_task(HandSegTask, "data", "out", arch="lite")) == 0.5
    assert HandSegTask.downscale(TrainConfig.for_task(HandSegTask, "data", "out", arch="paper")) == 1.0


def test_build_is_seeded_and_leaves_the_global_rng():
    state = torch.random.get_rng_state()
    a = registry.LITE.build(seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    b = registry.LITE.build(seed=3)
    c = registry.LITE.build(seed=4)
    assert set(a) == set(registry.NETWORK_KEYS)
    for k in a:
        sa, sb = a[k].state_dict(), b[k].state_dict()
        assert all(torch.equal(sa[n], sb[n]) for n in sa), k
    assert not torch.equal(next(a["posenet"].parameters()), next(c["posenet"].parameters()))
    some = registry.PAPER.build(keys=("poseprior", "viewpoint"), seed=0)
    assert set(some) == {"poseprior", "viewpoint"} and isinstance(some["viewpoint"], models.ViewPoint)


def test_of_networks():
    assert registry.of_networks(registry.LITE.build(keys=("posenet",))) is registry.LITE
    assert registry.of_networks({"posenet": models.PoseNet()}) is registry.PAPER
    assert registry.of_networks({"posenet": torch.nn.Identity()}) is registry.PAPER  # unknown classes: paper
