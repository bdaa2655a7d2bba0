"""handcam.transform: frame <-> network input <-> crop, against hand-computed values and round trips."""
import numpy as np
import pytest
import torch

from handcam.settings import PipelineSettings
from handcam.transform import CropTransform, FrameTransform, network_input_size


def pts(*rc):
    return torch.tensor([list(rc)], dtype=torch.float32)  # 1 x K x 2


def test_network_input_size():
    s = PipelineSettings(resize_mode="aspect")
    assert network_input_size((480, 640), s) == (240, 320)
    assert network_input_size((320, 320), s) == (320, 320)
    assert network_input_size((1920, 1080), s) == (320, 176)
    assert network_input_size((1920, 1080), PipelineSettings()) == (240, 320)
    # the family's size is the default; an explicit input size wins over it
    assert network_input_size((480, 640), PipelineSettings(), (120, 160)) == (120, 160)
    assert network_input_size((1920, 1080), s, (120, 160)) == (160, 88)  # 1080 * 160 / 1920 = 90 -> 88
    assert network_input_size((1920, 1080), s.replace(input_size=(64, 64)), (120, 160)) == (64, 32)
    assert network_input_size((1, 1000), s) == (8, 320)  # at least 8


def test_crop_transform_hand_computed():
    c = CropTransform(torch.tensor([[100.0, 50.0]]), torch.tensor([2.0]), 256)
    np.testing.assert_allclose(c.forward(pts([100, 50], [101, 50], [100, 40]))[0].numpy(),
                               [[128, 128], [130, 128], [128, 108]])
    np.testing.assert_allclose(c.inverse(pts([128, 128], [0, 0], [256, 64]))[0].numpy(),
                               [[100, 50], [36, -14], [164, 18]])
    # side 256 / 2 = 128, y1 = cy - 128 // 2
    np.testing.assert_allclose(c.boxes().numpy(), [[36, -14, 164, 114]])
    small = CropTransform(torch.tensor([[10.0, 20.0]]), torch.tensor([0.5]), 128)
    np.testing.assert_allclose(small.boxes().numpy(), [[-118, -108, 138, 148]])
    np.testing.assert_allclose(small.inverse(pts([64, 64]))[0].numpy(), [[10, 20]])


def test_crop_transform_round_trip():
    g = torch.Generator().manual_seed(0)
    c = CropTransform(torch.rand(3, 2, generator=g) * 300, torch.rand(3, generator=g) * 4 + 0.25, 128)
    p = torch.rand(3, 21, 2, generator=g) * 128
    torch.testing.assert_close(c.forward(c.inverse(p)), p, rtol=0, atol=1e-4)
    q = torch.rand(3, 21, 2, generator=g) * 300
    torch.testing.assert_close(c.inverse(c.forward(q)), q, rtol=0, atol=1e-3)


def test_frame_transform_hand_computed():
    t = FrameTransform((480, 640), (240, 320))
    assert not t.identity and not t.crop_from_frame and FrameTransform((5, 6), (5, 6)).identity
    # half-pixel centres: frame pixel 0 covers [0, 1), its centre 0.5 is network-input 0.25 - 0.5
    np.testing.assert_allclose(t.forward(pts([0, 0], [479.5, 639.5], [1.5, 3.5]))[0].numpy(),
                               [[-0.25, -0.25], [239.5, 319.5], [0.5, 1.5]])
    np.testing.assert_allclose(t.inverse(pts([0, 0], [119.5, 159.5]))[0].numpy(), [[0.5, 0.5], [239.5, 319.5]])
    assert t.frame_per_net() == 2.0
    odd = FrameTransform((97, 131), (240, 320))
    assert odd.frame_per_net() == pytest.approx((97 / 240 + 131 / 320) / 2, rel=1e-6)


def test_frame_transform_for_frame():
    t = FrameTransform.for_frame((1920, 1080), PipelineSettings(resize_mode="aspect"), (240, 320))
    assert t == FrameTransform((1920, 1080), (320, 176), True)
    f = FrameTransform.for_frame((480, 640), PipelineSettings(), (120, 160))
    assert f == FrameTransform((480, 640), (120, 160), False)


def test_frame_transform_round_trip():
    g = torch.Generator().manual_seed(1)
    for frame_hw, net_hw in (((480, 640), (240, 320)), ((97, 131), (240, 320)), ((1920, 1080), (320, 176))):
        t = FrameTransform(frame_hw, net_hw)
        p = torch.rand(2, 21, 2, generator=g) * torch.tensor(frame_hw, dtype=torch.float32)
        torch.testing.assert_close(t.inverse(t.forward(p)), p, rtol=0, atol=2e-3)
        q = torch.rand(2, 21, 2, generator=g) * torch.tensor(net_hw, dtype=torch.float32)
        torch.testing.assert_close(t.forward(t.inverse(q)), q, rtol=0, atol=2e-3)


def test_crop_source_faithful_and_aspect():
    crop = CropTransform(torch.tensor([[100.0, 50.0]]), torch.tensor([2.0]), 256)
    faithful = FrameTransform((480, 640), (240, 320), False)
    assert faithful.crop_source(crop) is crop  # cut from the network input itself
    aspect = FrameTransform((480, 640), (240, 320), True)
    src = aspect.crop_source(crop)  # the same crop in frame pixels: (c + 0.5) * 2 - 0.5, scale / 2
    np.testing.assert_allclose(src.center.numpy(), [[200.5, 100.5]])
    np.testing.assert_allclose(src.scale.numpy(), [1.0])
    assert src.size == 256


def test_crop_to_frame_and_box_in_frame():
    crop = CropTransform(torch.tensor([[100.0, 50.0]]), torch.tensor([2.0]), 256)
    faithful = FrameTransform((480, 640), (240, 320), False)
    p = pts([128, 128], [0, 0], [256, 64])
    # crop -> network input ((p - 128) / 2 + c) -> frame ((q + 0.5) * 2 - 0.5)
    np.testing.assert_allclose(faithful.crop_to_frame(crop, p)[0].numpy(),
                               [[200.5, 100.5], [72.5, -27.5], [328.5, 36.5]])
    np.testing.assert_allclose(faithful.box_in_frame(crop).numpy(), [[72.5, -27.5, 328.5, 228.5]])
    aspect = FrameTransform((480, 640), (240, 320), True)
    src = aspect.crop_source(crop)
    # aspect: the crop is in frame pixels already; with a uniform 2x resize both modes agree
    torch.testing.assert_close(aspect.crop_to_frame(src, p), faithful.crop_to_frame(crop, p))
    np.testing.assert_allclose(aspect.box_in_frame(src).numpy(), src.boxes().numpy())
    np.testing.assert_allclose(aspect.box_in_frame(src).numpy(), [[72.5, -27.5, 328.5, 228.5]])
    # and crop_to_frame inverts "frame -> network input -> crop"
    frame_pts = pts([10.0, 20.0], [300.0, 400.0])
    in_crop = crop.forward(faithful.forward(frame_pts))
    torch.testing.assert_close(faithful.crop_to_frame(crop, in_crop), frame_pts, rtol=0, atol=1e-3)


def test_crop_to_network():
    crop = CropTransform(np.array([[100.0, 50.0]], np.float32), np.array([2.0], np.float32), 256)
    p = np.array([[[128, 128], [0, 0], [256, 64]]], np.float32)
    faithful = FrameTransform((480, 640), (240, 320), False)
    # cut from the network input: (p - 128) / 2 + c
    np.testing.assert_allclose(faithful.crop_to_network(crop, p), [[[100, 50], [36, -14], [164, 18]]])
    # cut from the frame (a frame of another aspect: per axis): via the frame's points
    frame = FrameTransform((480, 960), (240, 320), True)
    src = frame.crop_source(crop)
    np.testing.assert_allclose(frame.crop_to_network(src, p), frame.forward(frame.crop_to_frame(src, p)))
    np.testing.assert_allclose(frame.crop_to_network(src, p)[0, 0], [100, 50], atol=1e-4)


def test_crop_points_are_both_maps_at_once():
    crop = CropTransform(np.array([[100.0, 50.0]], np.float32), np.array([2.0], np.float32), 256)
    p = np.array([[[128, 128], [0, 0], [256, 64]]], np.float32)
    for transform in (FrameTransform((480, 640), (240, 320), False), FrameTransform((480, 960), (240, 320), True)):
        src = transform.crop_source(crop)
        frame_pts, net_pts = transform.crop_points(src, p)
        np.testing.assert_array_equal(frame_pts, transform.crop_to_frame(src, p))
        np.testing.assert_array_equal(net_pts, transform.crop_to_network(src, p))
