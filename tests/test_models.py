"""handcam.models: the paper's four networks -- parameter counts, shapes, dropout."""
import pytest
import torch

from handcam.models import NETWORKS, HandSegNet, PoseNet, PosePrior, ViewPoint

# Published by the issue (and consistent with the spec's layer list).
EXPECTED = {"handsegnet": 13_601_986, "posenet": 17_518_847, "lifting": 3_875_682}


def count(net) -> int:
    return sum(p.numel() for p in net.parameters())


def test_parameter_counts():
    counts = {k: count(cls()) for k, cls in NETWORKS.items()}
    lifting = counts["poseprior"] + counts["viewpoint"]
    print(f"\nHandSegNet {counts['handsegnet']:,}; PoseNet {counts['posenet']:,}; "
          f"PosePrior + ViewPoint {lifting:,} ({counts['poseprior']:,} + {counts['viewpoint']:,})")
    assert counts["handsegnet"] == EXPECTED["handsegnet"]
    assert counts["posenet"] == EXPECTED["posenet"]
    assert lifting == EXPECTED["lifting"]


def test_output_shapes():
    torch.manual_seed(0)
    with torch.inference_mode():
        assert HandSegNet()(torch.zeros(2, 3, 64, 96)).shape == (2, 2, 64, 96)
        assert HandSegNet()(torch.zeros(1, 3, 64, 96), upsample=False).shape == (1, 2, 8, 12)
        maps = PoseNet()(torch.zeros(2, 3, 256, 256))
        assert [tuple(m.shape) for m in maps] == [(2, 21, 32, 32)] * 3
        sm, hs = torch.randn(2, 21, 32, 32), torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        assert PosePrior().eval()(sm, hs).shape == (2, 21, 3)
        assert ViewPoint().eval()(sm, hs).shape == (2, 3)


def test_dropout_only_in_training():
    torch.manual_seed(0)
    net, sm, hs = PosePrior(), torch.randn(1, 21, 32, 32), torch.tensor([[1.0, 0.0]])
    net.eval()
    assert torch.equal(net(sm, hs), net(sm, hs))
    net.train()
    assert not torch.equal(net(sm, hs), net(sm, hs))
    assert PosePrior().dropout.p == pytest.approx(0.2) and ViewPoint().dropout.p == pytest.approx(0.25)


def test_network_table_and_tf_scopes():
    assert list(NETWORKS) == ["handsegnet", "posenet", "poseprior", "viewpoint"]
    assert [cls.TF_SCOPE for cls in NETWORKS.values()] == ["HandSegNet", "PoseNet2D", "PosePrior", "ViewpointNet"]
    assert HandSegNet.ARCHITECTURE == PoseNet.ARCHITECTURE == "paper"
