"""handcam.stages.keypoints: PoseNet's stages -> 2D keypoints (TF1 upsampling, first-pixel argmax)."""
import numpy as np
import torch

from handcam import geometry as G
from handcam.models.layers import tf1_resize_bilinear
from handcam.stages.keypoints import Keypoints2D, detect_keypoints


class PeakPoseNet:
    """Two stages of 21 x 32 x 32 maps with one peak per keypoint (the last stage's at ``peaks``)."""

    def __init__(self, peaks, dtype=torch.float32):
        self.peaks, self.dtype = peaks, dtype
        self.calls = []

    def __call__(self, crop):
        self.calls.append(tuple(crop.shape))
        b = crop.shape[0]
        side = crop.shape[-1] // 4 if crop.shape[-1] < 128 else 32
        maps = torch.zeros(b, 21, side, side)
        for k, (r, c) in enumerate(self.peaks):
            maps[:, k, r, c] = 1.0 + k / 100
        return [torch.zeros(b, 21, side, side, dtype=self.dtype), maps.to(self.dtype)]


def test_keypoints_are_the_upsampled_peaks():
    peaks = [(k % 32, (3 * k) % 32) for k in range(21)]
    net = PeakPoseNet(peaks)
    out = detect_keypoints(net, torch.zeros(2, 3, 256, 256))
    assert isinstance(out, Keypoints2D) and net.calls == [(2, 3, 256, 256)]
    assert len(out.scoremaps) == 2 and out.scoremap is out.scoremaps[-1]
    # TF1 resize copies source pixel r to output pixel 8r exactly (no half-pixel shift)
    np.testing.assert_array_equal(out.keypoints[0].numpy(), 8 * np.array(peaks, np.float32))
    np.testing.assert_array_equal(out.keypoints[1].numpy(), out.keypoints[0].numpy())
    np.testing.assert_allclose(out.scores[0].numpy(), 1.0 + np.arange(21) / 100, rtol=1e-6)


def test_keypoints_at_the_crop_size_and_ties():
    # a 128 crop (the lite family): maps are upsampled to 128, peak r -> 4r; a flat map ties -> pixel 0
    net = PeakPoseNet([(5, 7)] * 20 + [(0, 0)])
    out = detect_keypoints(net, torch.zeros(1, 3, 128, 128))
    np.testing.assert_array_equal(out.keypoints[0, 0].numpy(), [20, 28])
    flat = detect_keypoints(lambda crop: [torch.full((1, 21, 32, 32), 0.5)], torch.zeros(1, 3, 128, 128))
    np.testing.assert_array_equal(flat.keypoints.numpy(), np.zeros((1, 21, 2)))
    np.testing.assert_allclose(flat.scores.numpy(), 0.5)


def test_subpixel_keypoints_refine_the_maps_own_peaks():
    # the lite rule: the same peaks as the upsampled argmax, then moved below a map pixel
    peaks = [(k % 24, (5 * k) % 24) for k in range(21)]
    net = PeakPoseNet(peaks)
    maps = net(torch.zeros(1, 3, 96, 96))[-1]
    maps[0, 1, 1, 6] = 0.5                  # keypoint 1 peaks at (1, 5): a right neighbour pulls it right
    release = detect_keypoints(lambda crop: [maps], torch.zeros(1, 3, 96, 96))
    refined = detect_keypoints(lambda crop: [maps], torch.zeros(1, 3, 96, 96), subpixel=True)
    others = [k for k in range(21) if k != 1]
    np.testing.assert_array_equal(refined.keypoints[0, others].numpy(), release.keypoints[0, others].numpy())
    step = 0.5 * (0.0 - 0.5) / (0.0 - 2 * maps[0, 1, 1, 5] + 0.5)          # the parabola's top, map pixels
    np.testing.assert_allclose(refined.keypoints[0, 1].numpy(), [4.0, 4 * (5 + float(step))], rtol=1e-6)
    torch.testing.assert_close(refined.scores, release.scores)


def test_reduced_precision_stages_become_float32():
    net = PeakPoseNet([(1, 2)] * 21, dtype=torch.bfloat16)
    out = detect_keypoints(net, torch.zeros(1, 3, 256, 256))
    assert all(s.dtype == torch.float32 for s in out.scoremaps) and out.scores.dtype == torch.float32
    np.testing.assert_array_equal(out.keypoints[0, 0].numpy(), [8, 16])
    up = tf1_resize_bilinear(out.scoremap, (256, 256))
    assert torch.equal(out.scores, up.flatten(2).amax(2))


def test_subpixel_keypoints_on_the_host_equal_the_tensor_peaks():
    """The lite rule's peaks are computed in numpy on the host: the same float32 arithmetic as
    ``geometry.scoremap_peaks`` on the tensor, returned as tensors."""
    peaks = [(k % 24, (7 * k) % 24) for k in range(21)]          # some on the maps' border
    net = PeakPoseNet(peaks)
    crop = torch.zeros(2, 3, 96, 96)
    noise = torch.rand(2, 21, 24, 24, generator=torch.Generator().manual_seed(5)) * 0.5
    maps = net(crop)[-1] + noise                                  # neighbours of every peak differ: refined
    out = detect_keypoints(lambda c: [torch.zeros_like(maps), maps], crop, subpixel=True)
    want_keypoints, want_scores = G.scoremap_peaks(maps, (96, 96))
    assert isinstance(want_keypoints, torch.Tensor)
    assert isinstance(out.keypoints, torch.Tensor) and isinstance(out.scores, torch.Tensor)
    assert out.keypoints.dtype == out.scores.dtype == torch.float32
    assert out.keypoints.shape == (2, 21, 2) and out.scores.shape == (2, 21)
    assert torch.equal(out.keypoints, want_keypoints) and torch.equal(out.scores, want_scores)
    assert len(out.scoremaps) == 2 and out.scoremap is out.scoremaps[-1] and torch.equal(out.scoremap, maps)
    # refined: not all on the 4-pixel grid of the upsampled argmax, and never more than half a map pixel away
    grid = 4 * torch.tensor(peaks, dtype=torch.float32)
    assert (out.keypoints % 4 != 0).any()
    assert ((out.keypoints - grid).abs() <= 2.0 + 1e-5).all()
    # numpy in, numpy out: the same values
    host_keypoints, host_scores = G.scoremap_peaks(maps.numpy(), (96, 96))
    assert isinstance(host_keypoints, np.ndarray) and isinstance(host_scores, np.ndarray)
    np.testing.assert_array_equal(host_keypoints, want_keypoints.numpy())
    np.testing.assert_array_equal(host_scores, want_scores.numpy())
