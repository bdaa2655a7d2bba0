"""training/augment.py: crops, noise, hue, and the numpy input normalisation."""
import numpy as np
import torch

from handcam.geometry import normalize_image
from training import augment as A


def test_normalize_is_the_librarys_formula():
    """The data pipeline's numpy normalisation equals handcam.geometry.normalize_image bit for bit."""
    img = np.random.default_rng(0).integers(0, 256, (7, 9, 3), dtype=np.uint8)
    ref = normalize_image(torch.from_numpy(img)[None])[0].numpy()
    out = A.normalize(img)
    assert out.dtype == np.float32 and out.shape == (3, 7, 9) and out.flags.c_contiguous
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(A.normalize_hwc(img), ref.transpose(1, 2, 0))


def test_crop_keeps_keypoints_on_their_pixels():
    """A dot drawn at a keypoint lands at the keypoint's crop coordinates."""
    rng = np.random.default_rng(0)
    img = np.zeros((320, 320, 3), np.uint8)
    uv = rng.uniform(80, 240, (21, 2)).round()
    img[uv[:, 1].astype(int), uv[:, 0].astype(int)] = 255
    vis = np.ones(21, bool)
    for noise in (A.EVAL_NOISE, A.POSENET_NOISE, A.LIFTING_NOISE):
        _, centre, scale = A.hand_crop(uv, vis, (320, 320), rng, A.CropNoise(center_sigma=noise.center_sigma,
                                       scale_range=noise.scale_range, offset_sigma=noise.offset_sigma))
        crop = A.crop_normalized(img, centre, scale)
        uvc = A.to_crop(uv, centre, scale)
        bright = crop[0] + 0.5  # back to [0, 1]
        for (x, y) in uvc:
            if 1 <= x < 255 and 1 <= y < 255:
                xi, yi = int(round(x)), int(round(y))
                assert bright[yi - 1 : yi + 2, xi - 1 : xi + 2].max() > 0.2
    # outside the frame the crop is 0 in normalised units (mid-grey)
    crop = A.crop_normalized(img, np.array([0.0, 0.0]), 1.0)
    assert np.all(crop[:, :100, :100] == 0)


def test_posenet_crop_contains_visible_keypoints():
    rng = np.random.default_rng(1)
    for _ in range(50):
        uv = rng.uniform(100, 220, 2) + rng.uniform(-40, 40, (21, 2))  # side <= 2 * (80 + 40) < 256
        vis = rng.random(21) > 0.3
        vis[12] = True
        uvn, centre, scale = A.hand_crop(uv, vis, (320, 320), rng, A.POSENET_NOISE)
        assert 1.0 <= scale <= 10.0
        uvc = A.to_crop(uvn, centre, scale)[vis]
        assert (uvc >= -1e-3).all() and (uvc <= 256 + 1e-3).all()
    # the evaluation crop is centred on keypoint 12
    uv = rng.uniform(100, 200, (21, 2))
    _, centre, _ = A.hand_crop(uv, np.ones(21, bool), (320, 320))
    assert np.allclose(centre, uv[12])


def test_truncated_normal_bounds():
    x = A.truncated_normal(np.random.default_rng(0), 20.0, 10000)
    assert np.abs(x).max() <= 40.0 and 12 < x.std() < 20


def test_hue_shift():
    img = np.array([[[200, 50, 50]]], np.uint8)
    assert (A.shift_hue(img, 0.0) == img).all()
    out = A.shift_hue(img, 1 / 3)  # red -> green
    assert out[0, 0, 1] > 150 and out[0, 0, 0] < 80
    assert np.abs(A.shift_hue(out, -1 / 3).astype(int) - img).max() <= 2


def test_mirror_labels_swap_hands():
    mask = np.array([[0, 1, 2, 17, 18, 33, 34]], np.uint8)
    # mirrored (34, 33, 18, 17, 2, 1, 0), then left 2..17 <-> right 18..33
    assert A.mirror_mask(mask).tolist() == [[34, 17, 2, 33, 18, 1, 0]]
