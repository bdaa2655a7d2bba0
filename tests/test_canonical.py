"""handcam.canonical: the canonical frame of the lifting targets -- construction, round trip through
geometry.from_canonical, right-hand mirror."""
import math

import pytest
import torch

from handcam import canonical, geometry
from handcam.canonical import canonical_rotation, canonical_transform, normalize_xyz
from handcam.geometry import flip_right_hand, from_canonical


def _hands(b=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    xyz = (torch.randn(b, 21, 3, generator=g, dtype=torch.float64) * 0.05
           + torch.tensor([0, 0, 0.5], dtype=torch.float64))
    side = torch.zeros(b, 2, dtype=torch.float64)
    side[torch.arange(b), torch.arange(b) % 2] = 1  # alternate left / right
    return xyz, side


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_round_trip_both_hands(dtype):
    xyz, side = _hands()
    xn, _ = normalize_xyz(xyz.to(dtype))
    can, rot = canonical_transform(xn, side.to(dtype))
    back = flip_right_hand(can, side.to(dtype)) @ rot  # the library's inference formula
    assert (back - xn).abs().max() < 1e-5
    assert torch.allclose(from_canonical(can, rot, side.to(dtype)), back)


def test_frame_properties():
    xyz, side = _hands()
    xn, scale = normalize_xyz(xyz)
    assert torch.allclose(xn[:, 0], torch.zeros(3, dtype=xn.dtype))
    assert torch.allclose((xn[:, 12] - xn[:, 11]).norm(dim=-1), torch.ones(16, dtype=xn.dtype))
    assert torch.allclose(scale, (xyz[:, 12] - xyz[:, 11]).norm(dim=-1))
    can, rot = canonical_transform(xn, side)
    # kp12 on the -y axis, kp20 in the z = 0 plane with x >= 0 (for both hands: z flip keeps that)
    assert can[:, 12, 0].abs().max() < 1e-9 and can[:, 12, 2].abs().max() < 1e-9
    assert (can[:, 12, 1] < 0).all()
    assert can[:, 20, 2].abs().max() < 1e-9 and (can[:, 20, 0] >= 0).all()
    eye = torch.eye(3, dtype=rot.dtype).expand_as(rot)
    assert torch.allclose(rot @ rot.transpose(1, 2), eye, atol=1e-9)
    assert torch.allclose(torch.linalg.det(rot), torch.ones(16, dtype=rot.dtype))


def test_right_hand_target_is_mirrored_left_hand():
    """A right hand and its mirror image (a left hand) get the same canonical coordinates."""
    xyz, _ = _hands(8, seed=3)
    xn, _ = normalize_xyz(xyz)
    mirrored = xn * torch.tensor([1.0, 1.0, -1.0], dtype=xn.dtype)
    left = torch.tensor([[1.0, 0.0]], dtype=xn.dtype).expand(8, 2)
    right = torch.tensor([[0.0, 1.0]], dtype=xn.dtype).expand(8, 2)
    can_r, rot_r = canonical_transform(xn, right)
    can_l, _ = canonical_transform(mirrored, left)
    assert torch.allclose(can_r, can_l, atol=1e-9)
    # the spec's literal reading (mirror first, ViewPoint target = inverse rotation) gives the same
    # coordinates but a rotation that does NOT invert the inference formula for right hands
    rot_lit = canonical_rotation(mirrored).transpose(1, 2)
    assert torch.allclose(mirrored @ rot_lit.transpose(1, 2), can_r, atol=1e-9)
    err_literal = (flip_right_hand(can_r, right) @ rot_lit - xn).abs().amax(dim=(1, 2))
    assert (err_literal > 1e-3).any()
    f = torch.diag(torch.tensor([1.0, 1.0, -1.0], dtype=xn.dtype))
    assert torch.allclose(rot_r, f @ rot_lit @ f, atol=1e-9)


def test_known_rotation():
    """Rotating a canonical hand by a known rotation yields that rotation as the target."""
    xyz, side = _hands(1, seed=5)
    xn, _ = normalize_xyz(xyz)
    left = torch.tensor([[1.0, 0.0]], dtype=xn.dtype)
    can, _ = canonical_transform(xn, left)
    a = 0.7
    r = torch.tensor([[[math.cos(a), math.sin(a), 0], [-math.sin(a), math.cos(a), 0], [0, 0, 1]]], dtype=xn.dtype)
    can2, rot2 = canonical_transform(can @ r, left)
    assert torch.allclose(can2, can, atol=1e-9)
    assert torch.allclose(rot2, r, atol=1e-9)


def test_batched_matches_single_and_the_mirror():
    xyz, side = _hands(6)
    xn, _ = normalize_xyz(xyz)
    can, rot = canonical_transform(xn, side)
    for i in range(6):
        c1, r1 = canonical_transform(xn[i : i + 1], side[i : i + 1])
        assert torch.allclose(c1[0], can[i]) and torch.allclose(r1[0], rot[i])
    # (canonical's own flip_right is gone: the one mirror is geometry's, z -> -z for right hands)
    right = (side[:, 1] > side[:, 0])[:, None, None]
    mirrored = torch.where(right, can * torch.tensor([1.0, 1.0, -1.0], dtype=can.dtype), can)
    assert torch.allclose(geometry.flip_right_hand(can, side), mirrored)
    assert not hasattr(canonical, "flip_right") and not hasattr(canonical, "from_canonical")
