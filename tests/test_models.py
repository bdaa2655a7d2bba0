"""The four networks: parameter counts, shapes, the official variable table, NHWC flatten."""
import pytest
import torch

from conftest import oracle_dir
from handcam.models import NETWORKS, HandSegNet, PoseNet, PosePrior, ViewPoint
from handcam.models.layers import flatten_nhwc
from handcam.weights import official_variable_table

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


def test_flatten_is_nhwc():
    x = torch.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)  # B C H W
    flat = flatten_nhwc(x)
    b, c, h, w = 1, 2, 3, 4
    assert flat[b, (h * 5 + w) * 3 + c] == x[b, c, h, w]


def test_variable_table_is_one_to_one():
    rows = official_variable_table()
    assert len(rows) == 32 + 102
    assert len({r.tf_name for r in rows}) == len(rows)
    assert len({(r.network, r.param) for r in rows}) == len(rows)
    for key, cls in NETWORKS.items():
        params = {n for n, _ in cls().named_parameters()}
        assert params == {r.param for r in rows if r.network == key}


def test_variable_table_matches_official_list():
    tsv = oracle_dir() / "official_variables.tsv"
    if not tsv.is_file():
        pytest.skip(f"{tsv} not found (the oracle folder is not beside the checkout)")
    official = [line.rstrip("\n").split("\t")[:2] for line in tsv.read_text().splitlines(True)
                if line.strip() and not line.startswith(("#", "name\t"))]
    ours = [[r.tf_name, "x".join(map(str, r.tf_shape))] for r in official_variable_table()]
    assert ours == official
