"""training/rhd.py: the RHD reader and the hand selection, on a tiny dataset in RHD's native layout."""
import numpy as np
import pytest
from rhd_tiny import (
    project,
    rhd_root_fixture,  # noqa: F401  (the rhd_root fixture)
)

from training import augment as A
from training.errors import DatasetNotFoundError
from training.rhd import RHD, dominant_side, select_hand


def test_layout_and_decoding(rhd_root):
    r = RHD(rhd_root, "training")
    assert len(r) == 6 and len(RHD(rhd_root, "evaluation")) == 3
    assert (rhd_root / "training" / "color" / "00005.png").is_file()
    img, mask, depth = r.color(0), r.mask(0), r.depth(0)
    assert img.shape == (320, 320, 3) and img.dtype == np.uint8
    assert mask.shape == (320, 320) and mask.max() <= 33
    assert depth.shape == (320, 320) and abs(float(depth[mask > 1].mean()) - 0.5) < 1e-3
    with pytest.raises(FileNotFoundError, match="anno_training.pickle"):
        RHD(rhd_root / "nope")
    # the same error is a training error, which the command lines print as one line
    with pytest.raises(DatasetNotFoundError, match="--data must point at RHD's top folder"):
        RHD(rhd_root / "nope")


def test_dominant_hand_palm_and_consistency(rhd_root):
    r = RHD(rhd_root)
    for i in range(len(r)):
        mask, anno = r.mask(i), r.annotation(i)
        side = dominant_side(mask)
        assert side == i % 2  # the fixture draws the dominant hand bigger: left, right, left, ...
        h = r.hand(i)
        assert h.side == side and h.hand_side.tolist() == [float(side == 0), float(side == 1)]
        raw = anno["xyz"][21 * side : 21 * side + 21]
        assert np.allclose(h.xyz[0], 0.5 * (raw[0] + raw[12]), atol=1e-6)  # palm centre root
        assert np.allclose(h.xyz[1:], raw[1:])
        # 2D and 3D agree through K (uv truncated to integers like the release)
        uv = project(h.xyz.astype(np.float64))
        assert np.abs(uv[1:] - h.uv[1:]).max() < 1.0 + 1e-3
        # canonical targets invert
        back = h.coord_can.copy()
        if side == 1:
            back[:, 2] *= -1
        assert np.abs(back @ h.rot_mat - h.xyz_norm).max() < 1e-5
        assert h.scale == pytest.approx(np.linalg.norm(raw[12] - raw[11]), rel=1e-6)
        vis_raw = anno["uv_vis"][21 * side : 21 * side + 21, 2] > 0.5
        assert h.vis[0] == (vis_raw[0] or vis_raw[12]) and (h.vis[1:] == vis_raw[1:]).all()
        w = select_hand(anno, side, use_wrist=True)
        assert np.allclose(w.xyz[0], raw[0])


def test_mirror_swaps_side_and_keeps_round_trip(rhd_root):
    r = RHD(rhd_root)
    anno = r.annotation(0)
    h = select_hand(anno, 0, mirror_width=320)
    assert h.side == 1
    back = h.coord_can * np.array([1, 1, -1], np.float32)
    assert np.abs(back @ h.rot_mat - h.xyz_norm).max() < 1e-5
    # a mirrored hand has the same canonical shape as the original
    assert np.abs(h.coord_can - select_hand(anno, 0).coord_can).max() < 1e-5
    m = r.mask(0)
    mm = A.mirror_mask(m)
    assert dominant_side(mm) == 1 - dominant_side(m)
    assert (A.mirror_mask(mm) == m).all()
