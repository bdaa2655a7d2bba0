"""handcam.stages.crop: hand boxes (from the mask or the previous keypoints) and the crops cut
around them."""
import numpy as np
import torch

from handcam import geometry as G
from handcam.stages.crop import (
    TRACK_CENTER,
    TRACK_CROP_FACTOR,
    TRACK_MIN_EXTENT,
    Crop,
    HandBox,
    box_from_keypoints,
    crop_hands,
    crop_scale,
    crop_uint8_opencv,
)
from handcam.transform import CropTransform, FrameTransform


def test_box_from_keypoints():
    kp = torch.zeros(2, 21, 2)
    kp[0] = torch.tensor([70.0, 100.0])           # every keypoint at the middle MCP's place ...
    kp[0, 3] = torch.tensor([50.0, 60.0])          # ... but two: 20 rows and 40 columns away
    kp[0, 8] = torch.tensor([90.0, 110.0])
    kp[1] = torch.tensor([10.0, 10.0])
    kp[1, 0] = torch.tensor([12.0, 11.0])          # a tiny hand
    box = box_from_keypoints(kp)
    assert TRACK_CENTER == 12 and TRACK_CROP_FACTOR == 1.1 and box.factor == TRACK_CROP_FACTOR
    assert isinstance(box.center, np.ndarray) and box.center.dtype == np.float32
    assert isinstance(box.size, np.ndarray) and box.size.dtype == np.float32
    np.testing.assert_allclose(box.center, [[70.0, 100.0], [10.0, 10.0]])    # the middle MCP
    # twice the largest per-axis distance from it; at least TRACK_MIN_EXTENT
    np.testing.assert_allclose(box.size, [80.0, TRACK_MIN_EXTENT])
    # a host array of keypoints gives the same box
    from_array = box_from_keypoints(kp.numpy())
    np.testing.assert_array_equal(from_array.center, box.center)
    np.testing.assert_array_equal(from_array.size, box.size)
    assert from_array.factor == box.factor


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
    # the box given with tensors: the crop geometry is kept as host arrays
    assert isinstance(crop.network.center, np.ndarray) and isinstance(crop.network.scale, np.ndarray)
    np.testing.assert_array_equal(crop.network.center, box.center.numpy())
    np.testing.assert_array_equal(crop.network.scale, scale.numpy())
    assert crop.network.size == 256
    assert (crop.image[1, :, :, -10:] == 0).all()  # beyond the right border: 0


def test_crop_hands_from_the_frame():
    frame = _image(480, 640, seed=1)
    transform = FrameTransform((480, 640), (240, 320), crop_from_frame=True)
    box = HandBox(torch.tensor([[100.0, 150.0], [60.0, 200.0]]), torch.tensor([80.0, 40.0]), 1.25)
    crop = crop_hands(frame, box, 128, transform)
    src = crop.source
    assert isinstance(src.center, np.ndarray) and isinstance(src.scale, np.ndarray)
    np.testing.assert_allclose(src.center, ((box.center + 0.5) * 2 - 0.5).numpy())
    np.testing.assert_allclose(src.scale, (crop_scale(box, 128) / 2).numpy())
    expected = G.crop_and_resize(frame, G.normalize_boxes(G.crop_boxes(src.center, src.scale, 128), 480, 640),
                                 (128, 128))
    assert torch.equal(crop.image, expected)


def test_crop_hands_from_the_uint8_frame_normalises_the_crop_only():
    rgb = torch.from_numpy(np.random.default_rng(3).integers(0, 256, (2, 480, 640, 3), dtype=np.uint8))
    transform = FrameTransform((480, 640), (120, 160), crop_from_frame=True)
    # the second box leaves the frame: outside is 0 in normalised units, as from the normalised frame
    box = HandBox(torch.tensor([[60.0, 80.0], [5.0, 150.0]]), torch.tensor([30.0, 40.0]), 1.25)
    from_uint8 = crop_hands(rgb.permute(0, 3, 1, 2), box, 96, transform)     # OpenCV on a CPU: rounded to uint8
    from_float = crop_hands(G.normalize_image(rgb), box, 96, transform)
    assert from_uint8.image.dtype == torch.float32 and from_uint8.image.shape == (2, 3, 96, 96)
    torch.testing.assert_close(from_uint8.image, from_float.image, rtol=0, atol=1.0 / 255)
    assert (from_uint8.image[1, :, :5] == 0).all()              # rows above the frame
    # the gathering path (any device): the crop of the normalised frame to float rounding
    boxes = G.normalize_boxes(from_float.source.boxes(), 480, 640)
    gathered = G.crop_and_resize(rgb.permute(0, 3, 1, 2), boxes, (96, 96), normalize=True)
    torch.testing.assert_close(gathered, from_float.image, rtol=0, atol=2e-6)


def test_the_opencv_crop_of_uint8_frames_is_the_gathered_crop_to_half_a_grey_level():
    rng = np.random.default_rng(4)
    rgb = torch.from_numpy(rng.integers(0, 256, (2, 120, 160, 3), dtype=np.uint8))
    boxes = torch.tensor([[0.2, 0.3, 0.6, 0.7], [-0.1, 0.8, 0.3, 1.2]])     # the second leaves the frame
    frames = rgb.permute(0, 3, 1, 2)
    fast = crop_uint8_opencv(frames, boxes, 48)
    exact = G.crop_and_resize(frames, boxes, (48, 48), normalize=True)
    assert fast.shape == exact.shape == (2, 3, 48, 48) and fast.dtype == torch.float32
    assert float((fast - exact).abs().max()) <= 1.0 / 255              # fixed point, uint8 rounding
    assert (fast[1, :, :12] == 0).all()                                  # above the frame: 0, as in TF
