"""handcam.geometry against hand-computed values (TF semantics where the release relies on them)."""
import math

import numpy as np
import pytest
import torch

from handcam import geometry as G
from handcam.models.layers import tf1_resize_bilinear


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


def _crop_reference(images, boxes, out_size):
    """Per-pixel four-corner crop_and_resize (loops over the batch; TF's arithmetic order)."""
    b, c, h, w = images.shape
    outs = []

    def positions(lo, hi, n_img, n_out):  # sample positions in float32, as TF computes them
        step = (hi - lo) * (n_img - 1) / (n_out - 1)
        return lo * (n_img - 1) + torch.arange(n_out, dtype=torch.float32) * step

    for i in range(b):
        y1, x1, y2, x2 = boxes[i]
        ys, xs = positions(y1, y2, h, out_size[0]), positions(x1, x2, w, out_size[1])
        yl, xl = ys.floor(), xs.floor()
        wy, wx = ys - yl, xs - xl
        ya, yb = yl.long().clamp(0, h - 1), ys.ceil().long().clamp(0, h - 1)
        xa, xb = xl.long().clamp(0, w - 1), xs.ceil().long().clamp(0, w - 1)
        img = images[i]
        tl, tr = img[:, ya][:, :, xa], img[:, ya][:, :, xb]
        bl, br = img[:, yb][:, :, xa], img[:, yb][:, :, xb]
        top = tl + (tr - tl) * wx
        bottom = bl + (br - bl) * wx
        out = top + (bottom - top) * wy[:, None]
        valid = ((ys >= 0) & (ys <= h - 1))[:, None] & ((xs >= 0) & (xs <= w - 1))[None, :]
        outs.append(torch.where(valid, out, torch.zeros(())))
    return torch.stack(outs)


def test_crop_and_resize_matches_reference():
    g = torch.Generator().manual_seed(2)
    images = torch.rand(3, 3, 48, 64, generator=g) - 0.5
    boxes = torch.tensor([[0.1, 0.1, 0.7, 0.6], [-0.3, -0.2, 0.5, 1.3], [0.2, 0.3, 0.25, 0.31]])
    for size in ((32, 32), (17, 40)):
        ours = G.crop_and_resize(images, boxes, size)
        ref = _crop_reference(images, boxes, size)
        assert torch.equal(ours, ref)


def test_crop_boxes_release_rounding():
    boxes = G.crop_boxes(torch.tensor([[100.0, 150.0], [100.0, 150.0]]), torch.tensor([1.0, 0.7]))
    side = 256 / 0.7
    np.testing.assert_allclose(boxes[0].numpy(), [-28, 22, 228, 278])
    # side // 2 = floor(182.857) = 182
    np.testing.assert_allclose(boxes[1].numpy(), [-82, -32, -82 + side, -32 + side], rtol=1e-6)
    # another crop size: side = crop_size / scale
    np.testing.assert_allclose(G.crop_boxes(torch.tensor([[10.0, 20.0]]), torch.tensor([0.5]), 128).numpy(),
                               [[-118, -108, 138, 148]])


def test_normalize_boxes():
    np.testing.assert_allclose(G.normalize_boxes(torch.tensor([[24.0, 32.0, 120.0, 160.0]]), 240, 320).numpy(),
                               [[0.1, 0.1, 0.5, 0.5]])


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
    np.testing.assert_allclose(G.crop_to_image(torch.tensor([[[64.0, 0.0]]]), c, s, 128)[0].numpy(), [[100, 18]])


def test_resize_points_half_pixel():
    p = torch.tensor([[[0.0, 0.0], [119.5, 159.5]]])
    out = G.resize_points(p, (240, 320), (480, 640))
    np.testing.assert_allclose(out[0].numpy(), [[0.5, 0.5], [239.5, 319.5]])


def test_scoremap_argmax_first_pixel_on_ties():
    maps = torch.zeros(1, 2, 3, 4)
    maps[0, 0, 1, 2] = 3.0
    maps[0, 1, 0, 3] = maps[0, 1, 2, 0] = 1.0  # a tie: row-major first
    rc, peak = G.scoremap_argmax(maps)
    np.testing.assert_array_equal(rc[0].numpy(), [[1, 2], [0, 3]])
    np.testing.assert_array_equal(peak[0].numpy(), [3, 1])


def test_scoremap_peaks_refine_below_a_map_pixel():
    maps = torch.zeros(1, 4, 6, 8)
    maps[0, 0, 2, 3] = 1.0                           # a lone peak: no move
    maps[0, 1, 2, 3], maps[0, 1, 2, 2], maps[0, 1, 2, 4] = 1.0, 0.5, 0.7   # columns 0.5 1.0 0.7
    maps[0, 1, 1, 3], maps[0, 1, 3, 3] = 0.8, 0.2   # rows 0.8 1.0 0.2
    maps[0, 2, 0, 5], maps[0, 2, 1, 5] = 1.0, 0.9   # on the top border: no row move
    maps[0, 2, 0, 4], maps[0, 2, 0, 6] = 0.9, 0.9   # symmetric columns: no column move
    maps[0, 3] = 0.25                                # flat: the first pixel, no move
    rc, peak = G.scoremap_peaks(maps, (24, 32))      # 4 output pixels per map pixel
    # parabola top: 0.5 * (before - after) / (before - 2 peak + after)
    col = 0.5 * (0.5 - 0.7) / (0.5 - 2.0 + 0.7)      # +0.125
    row = 0.5 * (0.8 - 0.2) / (0.8 - 2.0 + 0.2)      # -0.3
    np.testing.assert_allclose(rc[0].numpy(), [[8, 12], [4 * (2 + row), 4 * (3 + col)], [0, 20], [0, 0]],
                               atol=1e-5)
    np.testing.assert_array_equal(peak[0].numpy(), [1.0, 1.0, 1.0, 0.25])
    # unrefined peaks are the release's argmax of the upsampled maps
    lone = torch.zeros(2, 21, 32, 32)
    lone[:, :, 7, 9] = 1.0
    np.testing.assert_array_equal(G.scoremap_peaks(lone, (128, 128))[0].numpy(),
                                  G.scoremap_argmax(tf1_resize_bilinear(lone, (128, 128)))[0].numpy())


def test_scoremap_peaks_move_at_most_half_a_pixel():
    maps = torch.zeros(1, 1, 5, 5)
    maps[0, 0, 2, 1], maps[0, 0, 2, 2], maps[0, 0, 2, 3] = 0.0, 1.0, 1.0 - 1e-6   # almost a plateau
    rc, _ = G.scoremap_peaks(maps, (5, 5))
    assert 2.0 < float(rc[0, 0, 1]) <= 2.5 and float(rc[0, 0, 0]) == 2.0


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


def test_right_hand_flip_and_from_canonical():
    coords = torch.tensor([[[1.0, 2.0, 3.0]], [[1.0, 2.0, 3.0]]])
    side = G.hand_side_onehot(["left", "right"])
    np.testing.assert_array_equal(side.numpy(), [[1, 0], [0, 1]])
    out = G.flip_right_hand(coords, side)
    np.testing.assert_array_equal(out.numpy(), [[[1, 2, 3]], [[1, 2, -3]]])
    # flip first, then row vectors times R (rotation by 90 degrees about z)
    rot = G.rodrigues(torch.tensor([[0, 0, math.pi / 2]] * 2))
    xyz = G.from_canonical(coords, rot, side)
    np.testing.assert_allclose(xyz.numpy(), [[[2, -1, 3]], [[2, -1, -3]]], atol=1e-6)
    with pytest.raises(ValueError, match="left.*right"):
        G.hand_side_onehot(["up"])
    np.testing.assert_array_equal(G.hand_side_onehot("right").numpy(), [[0, 1]])


def test_normalize_image():
    f = torch.tensor([[[[0, 255, 51]]]], dtype=torch.uint8)
    np.testing.assert_allclose(G.normalize_image(f)[0, :, 0, 0].numpy(), [-0.5, 0.5, -0.3], atol=1e-6)
    assert G.normalize_image(torch.zeros(1, 4, 5, 3, dtype=torch.uint8)).is_contiguous()
    with pytest.raises(ValueError, match="B x H x W x 3"):
        G.normalize_image(torch.zeros(4, 5, 3, dtype=torch.uint8))


def test_resize_frames():
    x = torch.rand(1, 3, 8, 10)
    assert G.resize_frames(x, (8, 10)) is x
    assert G.resize_frames(x, (4, 5)).shape == (1, 3, 4, 5)
    flat = torch.full((1, 3, 8, 10), 0.25)
    torch.testing.assert_close(G.resize_frames(flat, (3, 7)), torch.full((1, 3, 3, 7), 0.25))


def test_mask_box_numpy_and_tensor_rules_agree():
    # the CPU (numpy) rule and the device (tensor) rule give the same centre and size, empty masks too
    from handcam.geometry import _mask_center_and_size_torch

    rng = np.random.default_rng(0)
    masks = torch.from_numpy(rng.random((6, 30, 40)) > 0.97)
    masks[2] = False
    masks[3] = False
    masks[3, 7, 11] = True
    c, s = G.mask_center_and_size(masks)
    ct, st = _mask_center_and_size_torch(masks)
    assert c.dtype == ct.dtype == s.dtype == st.dtype == torch.float32
    assert torch.equal(c, ct) and torch.equal(s, st)
    np.testing.assert_array_equal(c[3].numpy(), [7, 11])
    assert float(s[3]) == 0.0


# -- host arrays: the box and point functions take numpy arrays and give the tensors' numbers -----------
def _random_boxes(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    center = torch.rand(5, 2, generator=g) * 300
    size = torch.rand(5, generator=g) * 400 + 5      # some scales clip at 0.25 and 5
    return center, size


def test_box_functions_give_tensors_numbers_for_host_arrays():
    center, size = _random_boxes()
    scale = G.crop_scale(size, 1.25)
    host_scale = G.crop_scale(size.numpy(), 1.25)
    assert isinstance(host_scale, np.ndarray) and host_scale.dtype == np.float32
    np.testing.assert_array_equal(host_scale, scale.numpy())
    boxes = G.crop_boxes(center, scale, 96)
    host_boxes = G.crop_boxes(center.numpy(), host_scale, 96)
    np.testing.assert_array_equal(host_boxes, boxes.numpy())
    np.testing.assert_array_equal(G.normalize_boxes(host_boxes, 480, 640), G.normalize_boxes(boxes, 480, 640).numpy())
    for got, want in zip(G.crop_sample_positions(host_boxes[:, 0], host_boxes[:, 2], 480, 96),
                         G.crop_sample_positions(boxes[:, 0], boxes[:, 2], 480, 96)):
        np.testing.assert_array_equal(got, want.numpy())
    points = torch.rand(5, 21, 2, generator=torch.Generator().manual_seed(1)) * 96
    np.testing.assert_array_equal(G.crop_to_image(points.numpy(), center.numpy(), host_scale, 96),
                                  G.crop_to_image(points, center, scale, 96).numpy())
    for src, dst in (((480, 640), (120, 160)), ((97, 131), (240, 320))):
        host = G.resize_points(points.numpy(), src, dst)
        assert isinstance(host, np.ndarray) and host.dtype == np.float32
        np.testing.assert_array_equal(host, G.resize_points(points, src, dst).numpy())


def test_stack_fills_one_buffer_like_numpy_and_torch():
    parts = [np.arange(6, dtype=np.float32).reshape(2, 3) + i for i in range(4)]
    for axis in (0, 1, 2, -1):
        out = G.stack(parts, axis)
        np.testing.assert_array_equal(out, np.stack(parts, axis))
        assert out.dtype == np.float32
    assert G.stack([np.zeros(2, np.float32), np.ones(2)], 0).dtype == np.float64     # numpy's dtype rule
    torch.testing.assert_close(G.stack([torch.from_numpy(p) for p in parts], 1), torch.from_numpy(np.stack(parts, 1)))


def test_rodrigues_and_from_canonical_on_host_arrays():
    g = torch.Generator().manual_seed(3)
    u = torch.randn(16, 3, generator=g) * 2
    u[0] = 0.0                                        # the release's epsilon keeps theta > 0
    host = G.rodrigues(u.numpy())
    assert isinstance(host, np.ndarray) and host.dtype == np.float32
    np.testing.assert_allclose(host, G.rodrigues(u).numpy(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(host @ host.transpose(0, 2, 1), np.broadcast_to(np.eye(3), host.shape), atol=1e-5)
    np.testing.assert_allclose(np.linalg.det(host), 1.0, atol=1e-5)
    coords = torch.randn(16, 21, 3, generator=g)
    side = G.hand_side_onehot(["left", "right"] * 8)
    np.testing.assert_allclose(G.from_canonical(coords.numpy(), host, side.numpy()),
                               G.from_canonical(coords, G.rodrigues(u), side).numpy(), rtol=0, atol=1e-5)


def test_host_math_runs_cpu_tensors_in_numpy_and_returns_tensors():
    m = torch.rand(2, 21, 12, 12, generator=torch.Generator().manual_seed(4))
    rc, peak = G.host_math(G.scoremap_peaks, m, (96, 96))
    assert isinstance(rc, torch.Tensor) and rc.dtype == torch.float32 and rc.shape == (2, 21, 2)
    want_rc, want_peak = G.scoremap_peaks(m, (96, 96))
    assert torch.equal(rc, want_rc) and torch.equal(peak, want_peak)
    assert isinstance(G.host_math(G.rodrigues, torch.zeros(1, 3)), torch.Tensor)


def test_normalize_image_lookup_equals_the_arithmetic():
    frames = torch.arange(256, dtype=torch.uint8).reshape(1, 16, 16, 1).expand(1, 16, 16, 3)
    want = G.normalize_image(frames)
    assert torch.equal(torch.from_numpy(G.NORMALIZED_UINT8[frames.numpy()]).permute(0, 3, 1, 2), want)
