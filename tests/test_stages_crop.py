"""handcam.stages.crop: hand boxes (from the mask or the previous keypoints) and the crops cut
around them."""
import numpy as np
import torch

from handcam import geometry as G
from handcam.stages.crop import (
    TRACK_CROP_FACTOR,
    TRACK_MIN_EXTENT,
    Crop,
    HandBox,
    box_from_keypoints,
    crop_hands,
    crop_scale,
)
from handcam.transform import CropTransform, FrameTransform


def test_box_from_keypoints():
    kp = torch.tensor([[[50.0, 60.0], [90.0, 100.0], [70.0, 140.0]],
                       [[10.0, 10.0], [12.0, 11.0], [11.0, 13.0]]])
    box = box_from_keypoints(kp)
    assert TRACK_CROP_FACTOR == 2.0 and box.factor == TRACK_CROP_FACTOR
    np.testing.assert_allclose(box.center.numpy(), [[70.0, 100.0], [11.0, 11.5]])
    # the larger side of the keypoints' box; at least TRACK_MIN_EXTENT
    np.testing.assert_allclose(box.size.numpy(), [80.0, TRACK_MIN_EXTENT])


def test_crop_scale_follows_the_crop_size():
    box = HandBox(torch.zeros(3, 2), torch.tensor([10.0, 2000.0, 100.0]), 2.0)
    s256 = crop_scale(box, 256)
    np.testing.assert_allclose(s256.numpy(), G.crop_scale(box.size, 2.0).numpy())
    np.testing.assert_allclose(s256.numpy(), [5.0, 0.25, 1.28], rtol=1e-6)
    np.testing.assert_allclose(crop_scale(box, 128).numpy(), s256.numpy() / 2)  # the same box, half the pixels


def _image(h, w, seed=0):
    return torch.rand(2, 3, h, w, generator=torch.Generator().manual_seed(seed)) - 0.5


def test_crop_hands_in_network_pixels():
    image = _image(240, 320)
    box = HandBox(torch.tensor([[100.0, 150.0], [20.0, 300.0]]), torch.tensor([80.0, 50.0]), 1.25)
    crop = crop_hands(image, box, 256, FrameTransform((240, 320), (240, 320)))
    assert isinstance(crop, Crop) and crop.image.shape == (2, 3, 256, 256)
    scale = G.crop_scale(box.size, 1.25)
    expected = G.crop_and_resize(image, G.normalize_boxes(G.crop_boxes(box.center, scale), 240, 320), (256, 256))
    assert torch.equal(crop.image, expected)
    assert isinstance(crop.network, CropTransform) and crop.source is crop.network
    assert torch.equal(crop.network.center, box.center) and torch.equal(crop.network.scale, scale)
    assert crop.network.size == 256
    assert (crop.image[1, :, :, -10:] == 0).all()  # beyond the right border: 0


def test_crop_hands_from_the_frame():
    frame = _image(480, 640, seed=1)
    transform = FrameTransform((480, 640), (240, 320), crop_from_frame=True)
    box = HandBox(torch.tensor([[100.0, 150.0], [60.0, 200.0]]), torch.tensor([80.0, 40.0]), 1.25)
    crop = crop_hands(frame, box, 128, transform)
    src = crop.source
    np.testing.assert_allclose(src.center.numpy(), ((box.center + 0.5) * 2 - 0.5).numpy())
    np.testing.assert_allclose(src.scale.numpy(), (crop_scale(box, 128) / 2).numpy())
    expected = G.crop_and_resize(frame, G.normalize_boxes(G.crop_boxes(src.center, src.scale, 128), 480, 640),
                                 (128, 128))
    assert torch.equal(crop.image, expected)
