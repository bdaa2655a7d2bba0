"""handcam.stages.lift: PosePrior + ViewPoint -> the normalised 3D hand (right hands mirrored)."""
import math

import numpy as np
import torch

from handcam import geometry as G
from handcam.models.layers import tf1_resize_bilinear
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


def test_lift_pose_resizes_maps_to_the_lifting_size():
    seen = []

    def net(scoremap, side):
        seen.append(scoremap)
        return torch.zeros(side.shape[0], 21, 3) if len(seen) == 1 else torch.zeros(side.shape[0], 3)

    maps = torch.rand(1, 21, 24, 24)
    lift_pose(net, net, maps, G.hand_side_onehot(["left"]), size=32)
    assert all(s.shape == (1, 21, 32, 32) for s in seen)
    torch.testing.assert_close(seen[0], tf1_resize_bilinear(maps, (32, 32)))
    seen.clear()
    lift_pose(net, net, maps, G.hand_side_onehot(["left"]), size=24)   # already that size: as it is
    assert seen[0] is maps


def test_lift_module_runs_both_networks_after_the_resize():
    from handcam.models import lite
    from handcam.stages.lift import LiftModule

    torch.manual_seed(0)
    prior, view = lite.PosePrior().eval(), lite.ViewPoint().eval()
    maps, side = torch.rand(2, 21, 24, 24), G.hand_side_onehot(["left", "right"])
    with torch.no_grad():
        out = LiftModule(prior, view, 32)(maps, side)
        resized = tf1_resize_bilinear(maps, (32, 32))
        want_can, want_axis = prior(resized, side), view(resized, side)
    assert len(out) == 2
    coord_can, axis_angle = out
    assert coord_can.shape == (2, 21, 3) and axis_angle.shape == (2, 3)
    assert torch.equal(coord_can, want_can) and torch.equal(axis_angle, want_axis)


def test_lift_module_and_pose_from_equal_lift_pose():
    from handcam.models import lite
    from handcam.stages.lift import LiftModule, pose_from

    torch.manual_seed(0)
    prior, view = lite.PosePrior().eval(), lite.ViewPoint().eval()
    maps, side = torch.rand(2, 21, 24, 24), G.hand_side_onehot(["left", "right"])
    with torch.no_grad():
        got = pose_from(*LiftModule(prior, view, 32)(maps, side), side)
        want = lift_pose(prior, view, maps, side, 32)
    assert isinstance(got, Pose3D)
    assert got.keypoints.shape == (2, 21, 3) and got.rot_mat.shape == (2, 3, 3)
    assert torch.equal(got.coord_can, want.coord_can) and torch.equal(got.rot_mat, want.rot_mat)
    assert torch.equal(got.keypoints, want.keypoints)
    assert not torch.equal(got.keypoints[0], got.keypoints[1])      # two hands, two poses: not a constant


def test_pose_from_is_rodrigues_and_the_inverse_canonical_transform():
    from handcam.stages.lift import pose_from

    coord_can = torch.rand(2, 21, 3, generator=torch.Generator().manual_seed(1)).to(torch.bfloat16)
    axis_angle = torch.tensor([[0.0, 0.0, math.pi / 2], [0.3, -0.2, 0.1]])
    side = G.hand_side_onehot(["left", "right"])
    out = pose_from(coord_can, axis_angle, side)
    assert out.coord_can.dtype == out.rot_mat.dtype == out.keypoints.dtype == torch.float32
    assert torch.equal(out.coord_can, coord_can.float())
    torch.testing.assert_close(out.rot_mat, G.rodrigues(axis_angle), rtol=0, atol=1e-6)
    np.testing.assert_allclose(out.rot_mat[0].numpy(), [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-6)
    torch.testing.assert_close(out.keypoints, G.from_canonical(out.coord_can, out.rot_mat, side),
                               rtol=0, atol=1e-6)
