"""training/predicted_maps.py: PoseNet's own maps of labelled hands with their 3D, and reading them back."""
import numpy as np
import pytest
import torch
from rhd_tiny import rhd_root_fixture  # noqa: F401  (the rhd_root fixture)

from handcam.models import registry
from handcam.weights import save_weights
from training import predicted_maps as P
from training.errors import TrainingError
from training.mixed import RenderFrames
from training.tasks import network_classes


@pytest.fixture(scope="module")
def lite_weights(tmp_path_factory):
    torch.manual_seed(0)
    nets = {k: c().state_dict() for k, c in network_classes("lite").items()}
    path = tmp_path_factory.mktemp("w") / "lite.pt"
    save_weights(path, nets, architecture="lite")
    return path


def test_predicted_maps_of_renders(rhd_root, lite_weights, tmp_path):
    out = tmp_path / "maps.npz"
    assert P.main(["--weights", str(lite_weights), "--data", str(rhd_root), "--passes", "2", "--workers", "0",
                   "--batch-size", "3", "--out", str(out)]) == 0
    arrays = P.read_maps(out)
    render = RenderFrames(rhd_root)
    hands = sum(len(render.hands(i)) for i in range(len(render)))
    side = registry.LITE.crop_size // 4
    assert arrays["scoremaps"].shape == (2 * hands, 21, side, side) and arrays["scoremaps"].dtype == np.float16
    assert arrays["xyz"].shape == (2 * hands, 21, 3) and np.isfinite(arrays["xyz"]).all()
    assert (arrays["hand_side"].sum(1) == 1).all() and (arrays["source"] == 0).all()
    # the two passes crop each hand differently, the same hand's 3D differs only by the crop's turn and mirror
    first, second = arrays["xyz"][:hands], arrays["xyz"][hands:]
    np.testing.assert_allclose(np.linalg.norm(first - first[:, :1], axis=-1),
                               np.linalg.norm(second - second[:, :1], axis=-1), rtol=1e-4, atol=1e-5)
    assert not np.array_equal(arrays["scoremaps"][:hands], arrays["scoremaps"][hands:])
    ds = P.PredictedMaps([out, out])
    assert len(ds) == 4 * hands
    s = ds[(1, (0, 0))]
    assert s["scoremap"].dtype == torch.float32 and s["scoremap"].shape == (21, side, side)


def test_predicted_maps_refuses_what_it_cannot_use(rhd_root, lite_weights, tmp_path):
    with pytest.raises(TrainingError, match="no source"):
        P.predict_maps(lite_weights)
    paper = tmp_path / "paper.pt"
    save_weights(paper, {k: c().state_dict() for k, c in network_classes("paper").items()})
    with pytest.raises(TrainingError, match="paper weights file"):
        P.predict_maps(paper, rhd_root)
    with pytest.raises(TrainingError, match="no such file"):
        P.read_maps(tmp_path / "missing.npz")
    odd = tmp_path / "odd.npz"
    np.savez(odd, something=np.zeros(3))
    with pytest.raises(TrainingError, match="not a predicted-maps file"):
        P.read_maps(odd)
