"""handcam.stages.lift: PosePrior + ViewPoint -> the normalised 3D hand (right hands mirrored)."""
import math

import numpy as np
import torch

from handcam import geometry as G
from handcam.stages.lift import Pose3D, lift_pose


def test_lift_pose_combines_both_networks():
    calls = []

    def poseprior(scoremap, side):
        calls.append(("poseprior", tuple(scoremap.shape), side.tolist()))
        return torch.tensor([[[1.0, 2.0, 3.0]]]).expand(side.shape[0], 21, 3).to(torch.bfloat16)

    def viewpoint(scoremap, side):
        calls.append(("viewpoint", tuple(scoremap.shape), side.tolist()))
        return torch.tensor([[0.0, 0.0, math.pi / 2]]).expand(side.shape[0], 3)

    side = G.hand_side_onehot(["left", "right"])
    out = lift_pose(poseprior, viewpoint, torch.zeros(2, 21, 32, 32), side)
    assert isinstance(out, Pose3D)
    assert [c[0] for c in calls] == ["poseprior", "viewpoint"]
    assert all(c[1] == (2, 21, 32, 32) and c[2] == [[1, 0], [0, 1]] for c in calls)
    assert out.coord_can.dtype == out.rot_mat.dtype == out.keypoints.dtype == torch.float32
    np.testing.assert_allclose(out.rot_mat[0].numpy(), [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-6)
    # right hands: z -> -z, then row vectors times R (90 degrees about z)
    np.testing.assert_allclose(out.keypoints[0, 0].numpy(), [2, -1, 3], atol=1e-6)
    np.testing.assert_allclose(out.keypoints[1, 0].numpy(), [2, -1, -3], atol=1e-6)
    torch.testing.assert_close(out.keypoints, G.from_canonical(out.coord_can, out.rot_mat, side))
