"""training/targets.py: the release's scoremap targets."""
import numpy as np
import pytest
import torch
from training_support import mean_hand

from training.targets import bone_proportion_loss, gaussian_scoremaps, pooled_gaussian_scoremaps, pooled_scoremaps


def test_scoremaps():
    uv = torch.tensor([[[10.7, 20.2], [0.0, 5.0], [30.0, 30.0]]])
    vis = torch.tensor([[True, True, False]])
    m = gaussian_scoremaps(uv, vis, (40, 50), sigma=5.0)
    assert m.shape == (1, 3, 40, 50)
    assert m[0, 0, 20, 10] == 1.0  # truncated to (10, 20)
    assert m[0, 0, 20, 13] == pytest.approx(np.exp(-9 / 25))
    assert m[0, 1].abs().max() == 0  # on the border -> zero (release: strictly inside)
    assert m[0, 2].abs().max() == 0  # invisible -> zero
    assert pooled_scoremaps(torch.ones(1, 2, 256, 256)).shape == (1, 2, 32, 32)
    # direct pooled maps (lifting input) == average-pooling the full-size maps
    uv = torch.rand(3, 21, 2) * 300 - 20
    vis = torch.rand(3, 21) > 0.2
    ref = pooled_scoremaps(gaussian_scoremaps(uv, vis, (256, 256), 25.0), 8)
    assert torch.allclose(pooled_gaussian_scoremaps(uv, vis, (256, 256), 25.0, 8), ref, atol=1e-6)
    # and the separable full-size maps equal the direct formula
    yy, xx = torch.meshgrid(torch.arange(40.0), torch.arange(50.0), indexing="ij")
    direct = torch.exp(-((yy - 20) ** 2 + (xx - 10) ** 2) / 25.0)
    assert torch.allclose(m[0, 0], direct, atol=1e-6)


def test_bone_proportion_loss_by_hand():
    import math

    from handcam.skeleton import BONES

    assert bone_proportion_loss(mean_hand()).item() < 1e-10
    assert bone_proportion_loss(mean_hand(3.0)).item() < 1e-10       # the size does not count
    # one bone doubled: its log length +log 2; centred on the mean, the squares' mean is log(2)^2 (n - 1) / n^2
    hand = mean_hand()
    leaf = next(k for k, (p, c) in enumerate(BONES) if c not in {q for q, _ in BONES})
    p, c = BONES[leaf]
    hand[0, c] = hand[0, p] + 2 * (hand[0, c] - hand[0, p])
    n = len(BONES)
    assert bone_proportion_loss(hand).item() == pytest.approx(math.log(2) ** 2 * (n - 1) / n ** 2, rel=1e-6)
