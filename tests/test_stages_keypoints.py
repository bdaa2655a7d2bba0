"""handcam.stages.keypoints: PoseNet's stages -> 2D keypoints (TF1 upsampling, first-pixel argmax)."""
import numpy as np
import torch

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
        maps = torch.zeros(b, 21, 32, 32)
        for k, (r, c) in enumerate(self.peaks):
            maps[:, k, r, c] = 1.0 + k / 100
        return [torch.zeros(b, 21, 32, 32, dtype=self.dtype), maps.to(self.dtype)]


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


def test_reduced_precision_stages_become_float32():
    net = PeakPoseNet([(1, 2)] * 21, dtype=torch.bfloat16)
    out = detect_keypoints(net, torch.zeros(1, 3, 256, 256))
    assert all(s.dtype == torch.float32 for s in out.scoremaps) and out.scores.dtype == torch.float32
    np.testing.assert_array_equal(out.keypoints[0, 0].numpy(), [8, 16])
    up = tf1_resize_bilinear(out.scoremap, (256, 256))
    assert torch.equal(out.scores, up.flatten(2).amax(2))
