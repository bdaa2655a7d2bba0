"""RHD reader, hand selection, augmentations and targets on a tiny dataset in RHD's native layout."""
import numpy as np
import pytest
import torch

from rhd_tiny import make_rhd, project
from training import augment as A
from training.data import CropDataset, HandSegDataset, SeededBatchSampler
from training.rhd import RHD, decode_depth, dominant_side, encode_depth, load_annotations, select_hand
from training.targets import gaussian_scoremaps, pooled_gaussian_scoremaps, pooled_scoremaps


@pytest.fixture(scope="module")
def rhd_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("rhd")
    make_rhd(root)
    return root


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


def test_depth_codec():
    d = np.array([[0.0, 1.234, 4.9]], np.float32)
    assert np.abs(decode_depth(encode_depth(d)) - d).max() < 5.0 / 65535


def test_unpickler_refuses_code(tmp_path):
    import pickle

    p = tmp_path / "evil.pickle"
    p.write_bytes(pickle.dumps({0: {"x": print}}))
    with pytest.raises(pickle.UnpicklingError):
        load_annotations(p)


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


def test_scoremaps():
    uv = torch.tensor([[[10.7, 20.2], [0.0, 5.0], [30.0, 30.0]]])
    vis = torch.tensor([[True, True, False]])
    m = gaussian_scoremaps(uv, vis, (40, 50), sigma=5.0)
    assert m.shape == (1, 3, 40, 50)
    assert m[0, 0, 20, 10] == 1.0  # truncated to (10, 20)
    assert m[0, 0, 20, 13] == pytest.approx(np.exp(-9 / 25))
    assert m[0, 1].abs().max() == 0  # on the border -> zero (release: strictly inside)
    assert m[0, 2].abs().max() == 0  # invisible -> zero
    assert pooled_scoremaps(torch.ones(1, 2, 256, 256)).shape == (1, 2, 32, 32)
    # direct pooled maps (lifting input) == average-pooling the full-size maps
    uv = torch.rand(3, 21, 2) * 300 - 20
    vis = torch.rand(3, 21) > 0.2
    ref = pooled_scoremaps(gaussian_scoremaps(uv, vis, (256, 256), 25.0), 8)
    assert torch.allclose(pooled_gaussian_scoremaps(uv, vis, (256, 256), 25.0, 8), ref, atol=1e-6)
    # and the separable full-size maps equal the direct formula
    yy, xx = torch.meshgrid(torch.arange(40.0), torch.arange(50.0), indexing="ij")
    direct = torch.exp(-((yy - 20) ** 2 + (xx - 10) ** 2) / 25.0)
    assert torch.allclose(m[0, 0], direct, atol=1e-6)


def test_datasets_and_sampler(rhd_root):
    seg = HandSegDataset(rhd_root, crop_size=128)
    s = seg[(0, (0, 0))]
    assert s["image"].shape == (3, 128, 128) and s["image"].dtype == torch.float32
    assert s["hand_mask"].shape == (128, 128) and set(s["hand_mask"].unique().tolist()) <= {0, 1}
    assert torch.equal(seg[(0, (0, 0))]["image"], s["image"])  # a sample is a function of its seed
    crop = CropDataset(rhd_root, crop_size=256)
    c = crop[(1, (0, 7))]
    assert c["image"].shape == (3, 256, 256) and c["uv"].shape == (21, 2)
    lift = CropDataset(rhd_root, noise=A.LIFTING_NOISE, with_image=False)
    assert "image" not in lift[(1, (0, 7))]
    # sampler: deterministic, resumable, shards ranks without overlap
    full = list(SeededBatchSampler(6, 2, seed=3, start=0, stop=5))
    assert list(SeededBatchSampler(6, 2, seed=3, start=2, stop=5)) == full[2:]
    ep0 = sorted(i for b in full[:3] for i, _ in b)
    assert ep0 == list(range(6))
    r0 = list(SeededBatchSampler(6, 1, 3, 0, 3, rank=0, world=2))
    r1 = list(SeededBatchSampler(6, 1, 3, 0, 3, rank=1, world=2))
    assert sorted(i for b in r0 + r1 for i, _ in b) == list(range(6))


def test_annotations_written_by_old_numpy_load(tmp_path):
    """RHD's pickle references numpy.core.multiarray (older numpy); the safe loader accepts it."""
    import pickle

    anno = {7: {"xyz": np.zeros((42, 3), np.float32), "uv_vis": np.ones((42, 3)), "K": np.eye(3)}}
    blob = pickle.dumps(anno, protocol=2).replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"numpy.core.multiarray" in blob
    p = tmp_path / "anno_training.pickle"
    p.write_bytes(blob)
    got = load_annotations(p)
    assert list(got) == [7] and got[7]["uv_vis"].shape == (42, 3) and got[7]["xyz"].dtype == np.float32
