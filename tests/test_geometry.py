"""Geometry against hand-computed values (TF semantics where the release relies on them)."""
import math

import numpy as np
import pytest
import torch

from handcam import geometry as G
from handcam.models.layers import Conv, tf_same_pads
from handcam.segmentation import single_object_mask


def test_tf_same_pads():
    assert tf_same_pads(32, 3, 2) == (0, 1)   # even input, stride 2: all padding after
    assert tf_same_pads(31, 3, 2) == (1, 1)
    assert tf_same_pads(32, 7, 1) == (3, 3)
    assert tf_same_pads(8, 1, 1) == (0, 0)


def test_stride2_conv_pads_after_only():
    conv = Conv(1, 1, 3, stride=2, act=False)
    with torch.no_grad():
        conv.conv.weight.fill_(1.0)
        conv.conv.bias.zero_()
    out = conv(torch.ones(1, 1, 4, 4))[0, 0]
    # window of output (0,0) covers rows/cols 0..2 (all inside); output (1,1) covers 2..4 (4 is padding)
    np.testing.assert_array_equal(out.detach().numpy(), [[9, 6], [6, 4]])


def test_tf1_resize_copies_top_left_and_clamps():
    x = torch.tensor([[0.0, 10.0], [20.0, 30.0]])[None, None]
    out = G.tf1_resize_bilinear(x, (4, 4))[0, 0].numpy()
    np.testing.assert_allclose(out, [[0, 5, 10, 10], [10, 15, 20, 20], [20, 25, 30, 30], [20, 25, 30, 30]])
    # PyTorch's half-pixel resize would give a different first row: guard against mixing them up
    torch_default = torch.nn.functional.interpolate(x, size=(4, 4), mode="bilinear", align_corners=False)
    assert not np.allclose(torch_default[0, 0].numpy(), out)


def test_tf1_resize_non_integer_ratio():
    x = torch.arange(3.0)[None, None, None]  # 1 x 1 x 1 x 3: [0, 1, 2]
    out = G.tf1_resize_bilinear(x, (1, 5))[0, 0, 0].numpy()
    # src = dst * 3/5 = 0, 0.6, 1.2, 1.8, 2.4 -> clamp at the last pixel
    np.testing.assert_allclose(out, [0, 0.6, 1.2, 1.8, 2.0], atol=1e-6)


def test_crop_and_resize_inside():
    img = torch.arange(5.0).repeat(5, 1)[None, None]  # value = column index
    boxes = G.normalize_boxes(torch.tensor([[0.0, 0.0, 4.0, 4.0]]), 5, 5)  # normalised by H, W (not H-1)
    out = G.crop_and_resize(img, boxes, (5, 5))[0, 0].numpy()
    # samples at x = 0 * 4 + i * (0.8 * 4) / 4 = 0, 0.8, 1.6, 2.4, 3.2
    np.testing.assert_allclose(out, np.tile([0, 0.8, 1.6, 2.4, 3.2], (5, 1)), atol=1e-6)


def test_crop_and_resize_zero_outside():
    img = torch.arange(5.0).repeat(5, 1)[None, None] + 1.0  # 1..5, so 0 means "outside"
    boxes = G.normalize_boxes(torch.tensor([[-1.0, -1.0, 3.0, 3.0]]), 5, 5)
    out = G.crop_and_resize(img, boxes, (5, 5))[0, 0].numpy()
    # start at -0.8, step 0.8: samples -0.8 (outside), 0, 0.8, 1.6, 2.4
    row = [0, 1, 1.8, 2.6, 3.4]
    expected = np.array([[0] * 5] + [row] * 4)
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_crop_boxes_release_rounding():
    boxes = G.crop_boxes(torch.tensor([[100.0, 150.0], [100.0, 150.0]]), torch.tensor([1.0, 0.7]))
    side = 256 / 0.7
    np.testing.assert_allclose(boxes[0].numpy(), [-28, 22, 228, 278])
    # side // 2 = floor(182.857) = 182
    np.testing.assert_allclose(boxes[1].numpy(), [-82, -32, -82 + side, -32 + side], rtol=1e-6)


def test_empty_mask_fallback():
    c, s = G.mask_center_and_size(torch.zeros(2, 240, 320, dtype=torch.bool))
    np.testing.assert_array_equal(c.numpy(), [[160, 160], [160, 160]])
    np.testing.assert_array_equal(s.numpy(), [100, 100])


def test_mask_touching_border():
    m = torch.zeros(1, 240, 320, dtype=torch.bool)
    m[0, 0:10, 300:320] = True
    c, s = G.mask_center_and_size(m)
    np.testing.assert_array_equal(c.numpy(), [[4.5, 309.5]])
    assert s.item() == 19  # max(9, 19): max - min, no +1


def test_scale_clamping():
    s = G.crop_scale(torch.tensor([10.0, 2000.0, 204.8]), 1.25)
    np.testing.assert_allclose(s.numpy(), [5.0, 0.25, 1.0], rtol=1e-6)
    np.testing.assert_allclose(G.crop_scale(torch.tensor([100.0]), 2.0).numpy(), [1.28], rtol=1e-6)


def test_keypoint_back_mapping():
    pts = torch.tensor([[[128.0, 128.0], [0.0, 0.0], [256.0, 64.0]]])
    c, s = torch.tensor([[100.0, 50.0]]), torch.tensor([2.0])
    out = G.crop_to_image(pts, c, s)
    np.testing.assert_allclose(out[0].numpy(), [[100, 50], [36, -14], [164, 18]])
    np.testing.assert_allclose(G.image_to_crop(out, c, s).numpy(), pts.numpy())


def test_resize_points_half_pixel():
    p = torch.tensor([[[0.0, 0.0], [119.5, 159.5]]])
    out = G.resize_points(p, (240, 320), (480, 640))
    np.testing.assert_allclose(out[0].numpy(), [[0.5, 0.5], [239.5, 319.5]])


def test_rodrigues_known_rotations():
    u = torch.tensor([[0, 0, math.pi / 2], [math.pi, 0, 0], [0, 0, 0]], dtype=torch.float64)
    R = G.rodrigues(u).numpy()
    np.testing.assert_allclose(R[0], [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-7)
    np.testing.assert_allclose(R[1], np.diag([1, -1, -1]), atol=1e-7)
    np.testing.assert_allclose(R[2], np.eye(3), atol=1e-7)
    # the release's theta = sqrt(|u|^2 + 1e-8) leaves the axis a hair short of unit length
    r = G.rodrigues(torch.randn(16, 3, dtype=torch.float64) + 0.5)
    np.testing.assert_allclose((r @ r.transpose(1, 2)).numpy(), np.broadcast_to(np.eye(3), (16, 3, 3)), atol=1e-6)
    np.testing.assert_allclose(torch.linalg.det(r).numpy(), 1.0, atol=1e-6)


def test_right_hand_flip_and_lift():
    coords = torch.tensor([[[1.0, 2.0, 3.0]], [[1.0, 2.0, 3.0]]])
    side = G.hand_side_onehot(["left", "right"])
    np.testing.assert_array_equal(side.numpy(), [[1, 0], [0, 1]])
    out = G.flip_right_hand(coords, side)
    np.testing.assert_array_equal(out.numpy(), [[[1, 2, 3]], [[1, 2, -3]]])
    # lift: flip first, then row vectors times R (rotation by 90 degrees about z)
    xyz, R = G.lift(coords, torch.tensor([[0, 0, math.pi / 2]] * 2), side)
    np.testing.assert_allclose(xyz.numpy(), [[[2, -1, 3]], [[2, -1, -3]]], atol=1e-6)
    with pytest.raises(ValueError, match="left.*right"):
        G.hand_side_onehot(["up"])


def test_normalize_image():
    f = torch.tensor([[[[0, 255, 51]]]], dtype=torch.uint8)
    np.testing.assert_allclose(G.normalize_image(f)[0, :, 0, 0].numpy(), [-0.5, 0.5, -0.3], atol=1e-6)


def _logits_from_prob(p: np.ndarray) -> torch.Tensor:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return torch.from_numpy(np.stack([np.zeros_like(p), np.log(p / (1 - p))])[None].astype(np.float32))


def test_single_object_mask_keeps_most_confident_region():
    p = np.full((60, 100), 0.1)
    p[10:30, 5:25] = 0.8       # region A
    p[10:30, 50:70] = 0.9      # region B, more confident; 25 px gap: not reachable in 21-px steps
    p[20, 60] = 0.99
    p[39:49, 76:90] = 0.7      # region C, 10 rows below and 7 cols right of B: in reach, joins B
    mask, prob = single_object_mask(_logits_from_prob(p))
    m = mask[0].numpy()
    assert not m[10:30, 5:25].any()
    assert m[10:30, 50:70].all() and m[39:49, 76:90].all()
    assert m.sum() == 400 + 140


def test_single_object_mask_threshold_and_tie_rounding():
    p = np.full((40, 40), 0.1)
    p[10:20, 10:20] = 0.6
    p[15, 15] = 0.7
    p[10:20, 20:22] = 0.5      # exactly 0.5 rounds to 0 (ties to even), as tf.round does
    assert single_object_mask(_logits_from_prob(p))[0].sum() == 100
    assert single_object_mask(_logits_from_prob(p), threshold=0.45)[0].sum() == 120
    assert single_object_mask(_logits_from_prob(p), threshold=0.65)[0].sum() == 1


def test_single_object_mask_grows_10px_per_pass():
    p = np.full((8, 320), 0.1)
    p[4, :] = 0.8
    p[4, 0] = 0.95             # seed at the left end of a 320-px line
    full = single_object_mask(_logits_from_prob(p))[0][0].numpy()
    assert full[4].all()       # 320 // 10 = 32 passes reach the far end
    few = single_object_mask(_logits_from_prob(p), passes=5)[0][0].numpy()
    assert few[4, :51].all() and not few[4, 51:].any()
