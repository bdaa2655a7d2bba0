"""The canonical hand frame of the lifting stage, as pure batched torch functions.

The lifting networks predict a hand in a *canonical* frame (PosePrior) and the rotation from that frame
to the camera frame (ViewPoint). Inference recovers normalised camera-frame coordinates with row
vectors::

    xyz = flip_right_hand(coord_can) @ rot_mat     # z -> -z for right hands (handcam.geometry)

Construction of the frame from root-relative, scale-normalised coordinates ``X`` (B x 21 x 3;
root = keypoint 0, ``|kp12 - kp11| = 1``), all rotations acting on row vectors (``v' = v @ M``):

1. about z by ``atan2(x, y)`` of kp12            -> kp12 in the y-z plane (x = 0, y >= 0);
2. about x by ``-atan2(z, y) + pi`` of kp12      -> kp12 on the -y axis;
3. about y by ``atan2(z, x)`` of kp20            -> kp20 (little-finger MCP) at z = 0 with x >= 0.

``R = Rz @ Rx @ Ry`` and ``C = X @ R``.

Right hands: a subtle point of the recipe
------------------------------------------
The spec phrases it "right hands: z -> -z first; the ViewPoint target is the inverse of the total
rotation". Taken literally (mirror ``X`` first, build ``R'`` on the mirrored hand, targets
``C' = flip(X) @ R'`` and ``R'^T``) the inference formula does **not** round-trip for right hands:
``flip(C') @ R'^T = flip(flip(X) @ R') @ R'^T != X`` in general (a mirror does not commute with a
rotation).

The consistent targets, which are also what the authors' data reader computes, are: build ``R`` on the
*unmirrored* hand, ``C = X @ R``, then mirror the canonical coordinates, ``coord_can = flip(C)``, and
``rot_mat = R^T``. Then ``flip(coord_can) @ rot_mat = C @ R^T = X`` exactly, for both hands.

The canonical *coordinates* of both readings are identical: ``flip(X @ R) == flip(X) @ R'`` because
both are ``X`` times the unique improper orthogonal matrix that puts kp12 on -y and kp20 in the
z = 0, x >= 0 half-plane. Only the rotation target differs: the consistent one is
``R^T = F @ R'^T @ F`` with ``F = diag(1, 1, -1)`` (a proper rotation as well), whereas the literal
``R'^T`` is the mirror image of it. So the PosePrior target is unchanged and always looks like a left
hand, and the ViewPoint target is the one that the library's inference formula inverts.
"""
from __future__ import annotations

import math

import torch

from .geometry import flip_right_hand
from .skeleton import CANONICAL_Y_KEYPOINT, CANONICAL_Z_KEYPOINT, ROOT, SCALE_BONE

__all__ = [
    "normalize_xyz",
    "canonical_rotation",
    "canonical_transform",
]


def _rot_x(a: torch.Tensor) -> torch.Tensor:
    c, s = torch.cos(a), torch.sin(a)
    o, z = torch.ones_like(a), torch.zeros_like(a)
    # row-vector convention: y' = y c - z s, z' = y s + z c
    return torch.stack([o, z, z, z, c, s, z, -s, c], -1).reshape(*a.shape, 3, 3)


def _rot_y(a: torch.Tensor) -> torch.Tensor:
    c, s = torch.cos(a), torch.sin(a)
    o, z = torch.ones_like(a), torch.zeros_like(a)
    # x' = x c + z s, z' = -x s + z c
    return torch.stack([c, z, -s, z, o, z, s, z, c], -1).reshape(*a.shape, 3, 3)


def _rot_z(a: torch.Tensor) -> torch.Tensor:
    c, s = torch.cos(a), torch.sin(a)
    o, z = torch.ones_like(a), torch.zeros_like(a)
    # x' = x c - y s, y' = x s + y c
    return torch.stack([c, s, z, -s, c, z, z, z, o], -1).reshape(*a.shape, 3, 3)


def normalize_xyz(xyz: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Root-relative, scale-normalised coordinates: ``((xyz - xyz[root]) / s, s)``, s = |kp12 - kp11|.

    xyz: (..., 21, 3). Returns the normalised coordinates and the scale (...,).
    """
    rel = xyz - xyz[..., ROOT : ROOT + 1, :]
    a, b = SCALE_BONE
    scale = torch.linalg.vector_norm(rel[..., a, :] - rel[..., b, :], dim=-1)
    return rel / scale[..., None, None], scale


def canonical_rotation(xyz_norm: torch.Tensor) -> torch.Tensor:
    """The total rotation R (B x 3 x 3) with ``xyz_norm @ R`` in the canonical frame (no mirroring)."""
    p = xyz_norm[..., CANONICAL_Y_KEYPOINT, :]
    r1 = _rot_z(torch.atan2(p[..., 0], p[..., 1]))
    p = (p.unsqueeze(-2) @ r1).squeeze(-2)
    r2 = _rot_x(-torch.atan2(p[..., 2], p[..., 1]) + math.pi)
    r12 = r1 @ r2
    q = (xyz_norm[..., CANONICAL_Z_KEYPOINT, :].unsqueeze(-2) @ r12).squeeze(-2)
    r3 = _rot_y(torch.atan2(q[..., 2], q[..., 0]))
    return r12 @ r3


def canonical_transform(xyz_norm: torch.Tensor, hand_side: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Lifting targets from normalised coordinates.

    xyz_norm:  (B, 21, 3) root-relative, bone-12-11-normalised camera-frame coordinates.
    hand_side: (B, 2) one-hot, [1, 0] left, [0, 1] right.
    Returns ``(coord_can, rot_mat)``: the PosePrior target (B, 21, 3; mirrored for right hands so that
    it always has a left hand's handedness) and the ViewPoint target (B, 3, 3), such that
    ``geometry.from_canonical(coord_can, rot_mat, hand_side) == xyz_norm``. See the module docstring
    for why the mirror is applied after, not before, the rotation.
    """
    rot = canonical_rotation(xyz_norm)
    coord_can = flip_right_hand(xyz_norm @ rot, hand_side)
    return coord_can, rot.transpose(-1, -2)
