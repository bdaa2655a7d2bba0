"""handcam.results: HandPose / FrameResult are owned, read-only and serialise under a schema."""
import json
import types

import numpy as np
import pytest
from conftest import synthetic_frame
from core_fakes import blob_estimator

from handcam.results import SCHEMA_VERSION, FrameResult, HandPose

HAND_KEYS = {"id", "side", "side_score", "presence", "box", "center", "scale", "keypoints_2d", "keypoint_scores",
             "keypoints_3d", "keypoints_3d_camera", "mask_area", "tracked", "camera_scale"}


def _hand(**changes):
    kw = dict(id=0, side="left", side_score=None, presence=0.75, box=[1.0, 2.0, 3.0, 4.0], center=[2.0, 3.0],
              scale=0.5, keypoints_2d=np.arange(42.0).reshape(21, 2), keypoint_scores=np.linspace(0, 1, 21),
              keypoints_3d=np.ones((21, 3)), keypoints_crop=np.zeros((21, 2)))
    kw.update(changes)
    return HandPose(**kw)


def test_arrays_are_owned_and_read_only():
    kp = np.arange(42.0).reshape(21, 2)
    mask = np.zeros((4, 5), bool)
    crop = np.zeros((8, 8, 3), np.uint8)
    h = _hand(keypoints_2d=kp, mask=mask, crop=crop)
    kp[0, 0] = 99.0
    mask[0, 0] = True
    assert h.keypoints_2d[0, 0] == 0.0 and not h.mask[0, 0]  # copies, not views of the caller's arrays
    for name in ("box", "center", "keypoints_2d", "keypoint_scores", "keypoints_3d", "keypoints_crop", "mask",
                 "crop"):
        a = getattr(h, name)
        assert not a.flags.writeable, name
        with pytest.raises(ValueError):
            a[(0,) * a.ndim] = 1
    assert h.keypoints_2d.dtype == np.float64 and h.mask.dtype == bool and h.crop.dtype == np.uint8
    with pytest.raises(AttributeError):
        h.scale = 2.0  # frozen


def test_estimator_results_are_read_only(lite_estimator):
    r = lite_estimator.estimate(synthetic_frame(), with_mask=True, with_crop=True)
    h = r.hand
    for name in ("box", "center", "keypoints_2d", "keypoint_scores", "keypoints_3d", "keypoints_crop", "mask",
                 "crop"):
        assert not getattr(h, name).flags.writeable, name
    assert isinstance(r.timings_ms, types.MappingProxyType)
    with pytest.raises(TypeError):
        r.timings_ms["total"] = 0.0
    assert isinstance(r.hands, tuple)


def test_frame_result_hand_and_json_schema():
    a, b = _hand(id=0), _hand(id=1, side="right", side_score=0.812345678, tracked=True, mask_area=7)
    r = FrameResult([a, b], (240.0, 320), {"total": 1.23456})
    assert r.hand is a and r.hands == (a, b) and r.frame_size == (240, 320)
    assert FrameResult((), (10, 20)).hand is None
    j = r.to_json()
    assert json.loads(json.dumps(j)) == j  # plain JSON types only
    assert set(j) == {"schema", "frame_size", "hands", "timings_ms"}
    assert j["schema"] == SCHEMA_VERSION == 3 and j["frame_size"] == [240, 320]
    assert j["timings_ms"] == {"total": 1.235}
    assert [set(h) for h in j["hands"]] == [HAND_KEYS, HAND_KEYS]
    h0, h1 = j["hands"]
    assert h0["id"] == 0 and h1["id"] == 1 and h1["side"] == "right" and h1["side_score"] == 0.81235
    assert h0["side_score"] is None and h0["keypoints_3d_camera"] is None and h0["camera_scale"] is None
    solved = _hand(keypoints_3d_camera=np.ones((21, 3)), camera_scale=np.float32(0.0451234567)).to_json()
    assert solved["camera_scale"] == 0.045123 and type(_hand(camera_scale=np.float32(0.05)).camera_scale) is float
    assert h0["box"] == [1.0, 2.0, 3.0, 4.0] and h0["center"] == [2.0, 3.0] and h0["scale"] == 0.5
    assert np.array(h0["keypoints_2d"]).shape == (21, 2) and np.array(h0["keypoints_3d"]).shape == (21, 3)
    assert len(h0["keypoint_scores"]) == 21 and h1["tracked"] is True and h1["mask_area"] == 7
    assert "mask" not in h0 and "crop" not in h0  # numbers only, no images


@pytest.fixture(scope="module")
def blob_est():
    return blob_estimator()


@pytest.mark.parametrize("hw,mode", [((240, 320), "faithful"), ((97, 131), "faithful"), ((300, 500), "faithful"),
                                     ((300, 500), "aspect"), ((120, 160), "faithful")])
def test_mask_area_is_frame_pixels_also_without_the_mask(blob_est, hw, mode):
    """mask_area counts the hand pixels of the mask in frame pixels (the nearest-neighbour upsampling
    of the network-resolution mask), whether or not the mask itself is returned."""
    frame = synthetic_frame(*hw, seed=2)
    settings = blob_est.settings.replace(resize_mode=mode)
    with_mask = blob_est.estimate(frame, settings, with_mask=True).hand
    without = blob_est.estimate(frame, settings).hand   # the default: no mask
    assert with_mask.mask.shape == hw and without.mask is None
    assert with_mask.mask_area == int(with_mask.mask.sum()) > 100
    assert without.mask_area == with_mask.mask_area
