"""The synthetic data engine (training/synth): RHD format, labels, depth, joint limits, determinism."""
from __future__ import annotations

import filecmp
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from handcam.skeleton import FINGER_INDICES, NUM_KEYPOINTS
from training import rhd
from training.rhd_format import decode_depth, load_annotations
from training.synth import backgrounds, dataset, kinematics, render
from training.synth.__main__ import main as cli_main

N = 14
SEED = 7


def _generate(root: Path, count: int = N, seed: int = SEED, workers: int = 1, **kw):
    return dataset.generate(root, count, seed=seed, workers=workers, photos=[], **kw)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    _generate(root)
    return root, load_annotations(root / "training" / "anno_training.pickle")


def _read(root: Path, kind: str, i: int) -> np.ndarray:
    img = cv2.imread(str(root / "training" / kind / f"{i:05d}.png"), cv2.IMREAD_UNCHANGED)
    assert img is not None, (kind, i)
    return img


def _visible(anno):
    """(sample id, keypoint index 0..41) of every visible keypoint."""
    return [(i, k) for i, a in anno.items() for k in np.nonzero(a["uv_vis"][:, 2] > 0)[0]]


def test_layout_and_types(data):
    root, anno = data
    assert sorted(anno) == list(range(N))
    assert (root / "README.md").is_file()
    for i in range(N):
        color = _read(root, "color", i)
        mask = _read(root, "mask", i)
        depth = _read(root, "depth", i)
        assert color.shape == (320, 320, 3) and color.dtype == np.uint8
        assert mask.shape == (320, 320) and mask.dtype == np.uint8 and mask.max() <= 33
        assert depth.shape == (320, 320, 3) and depth.dtype == np.uint8
        assert depth[..., 0].max() == 0                     # OpenCV's BGR: RHD's B channel is unused
        a = anno[i]
        assert set(a) == {"xyz", "uv_vis", "K"}
        assert a["xyz"].shape == (42, 3) and a["xyz"].dtype == np.float32
        assert a["uv_vis"].shape == (42, 3) and a["uv_vis"].dtype == np.float32
        assert a["K"].shape == (3, 3) and a["K"][2, 2] == 1.0
        assert set(np.unique(a["uv_vis"][:, 2])) <= {0.0, 1.0}


def test_dataset_is_not_empty(data):
    """The checks below are about visible keypoints; make sure there are plenty to check."""
    root, anno = data
    vis = _visible(anno)
    assert len(vis) > 100
    assert any(k < 21 for _, k in vis) and any(k >= 21 for _, k in vis)   # left and right hands both occur


def test_projection_matches_uv(data):
    _, anno = data
    for a in anno.values():
        xyz, K = a["xyz"].astype(np.float64), a["K"].astype(np.float64)
        assert (xyz[:, 2] > 0).all()
        p = xyz @ K.T
        uv = p[:, :2] / p[:, 2:]
        inside = np.abs(uv).max(1) < 1e4
        np.testing.assert_allclose(uv[inside], a["uv_vis"][inside, :2], atol=0.5)


def test_visible_keypoints_lie_on_their_hand(data):
    root, anno = data
    for i, k in _visible(anno):
        u, v = anno[i]["uv_vis"][k, :2]
        label = _read(root, "mask", i)[int(round(v)), int(round(u))]
        lo = 2 if k < NUM_KEYPOINTS else 18
        assert lo <= label <= lo + 15, (i, k, label)


def test_depth_at_visible_keypoints(data):
    root, anno = data
    tol = kinematics.VIS_TOLERANCE_M
    # finger joints and tips: 1 cm; only joints buried under the palm/knuckles get more
    buried = {0, FINGER_INDICES["thumb"][3]} | {FINGER_INDICES[f][3] for f in ("index", "middle", "ring", "little")}
    assert all(tol[k] == 0.01 for k in range(NUM_KEYPOINTS) if k not in buried)
    assert tol.max() <= 0.025
    checked = 0
    for i, k in _visible(anno):
        u, v = anno[i]["uv_vis"][k, :2]
        bgr = _read(root, "depth", i)[int(round(v)), int(round(u))]
        depth_m = (int(bgr[2]) * 256 + int(bgr[1])) / (2**16 - 1) * 5.0
        assert abs(depth_m - anno[i]["xyz"][k, 2]) <= tol[k % NUM_KEYPOINTS] + 1e-4, (i, k)
        checked += k % NUM_KEYPOINTS not in buried
    assert checked > 50


def test_strict_visibility_keeps_every_visible_keypoint_within_1cm(data, tmp_path):
    """--vis-tolerance 0.01: the issue's literal rule (depth within 1 cm) for every keypoint; the images are
    the same and the visible keypoints a subset of the default's."""
    root, anno = data
    _generate(tmp_path, vis_tolerance=0.01)
    strict = load_annotations(tmp_path / "training" / "anno_training.pickle")
    n_strict = 0
    for i in range(N):
        name = f"training/color/{i:05d}.png"
        assert filecmp.cmp(root / name, tmp_path / name,
                           shallow=False)
        vis, vis_default = strict[i]["uv_vis"][:, 2] > 0, anno[i]["uv_vis"][:, 2] > 0
        assert not (vis & ~vis_default).any()
        depth = decode_depth(_read(tmp_path, "depth", i), np.float64)
        for k in np.nonzero(vis)[0]:
            u, v = strict[i]["uv_vis"][k, :2]
            assert abs(depth[int(round(v)), int(round(u))] - strict[i]["xyz"][k, 2]) <= 0.01 + 1e-6, (i, k)
        n_strict += int(vis.sum())
    assert n_strict > 50
    readme = (tmp_path / "README.md").read_text()
    assert "within 1 cm of its z.\n" in readme and "2.5 cm" not in readme


def test_hand_labels_match_present_hands(data):
    root, anno = data
    for i, a in anno.items():
        mask = _read(root, "mask", i)
        for h, lo in ((0, 2), (1, 18)):
            if a["uv_vis"][21 * h:21 * h + 21, 2].any():
                assert ((mask >= lo) & (mask <= lo + 15)).any()


def test_joint_angles_inside_limits(data):
    _, anno = data
    eps = np.radians(0.5)
    n = 0
    for a in anno.values():
        for h, side in ((0, "left"), (1, "right")):
            ang = kinematics.joint_angles(a["xyz"][21 * h:21 * h + 21], side)
            for name, (lo, hi) in kinematics.LIMITS.items():
                assert lo - eps <= ang[name] <= hi + eps, (name, np.degrees(ang[name]))
                n += 1
            for f in kinematics.FINGERS:
                assert ang[f"{f}_planarity"] < eps
    assert n > 0


def test_joint_angle_recovery_is_exact():
    """joint_angles inverts forward() for any pose, rotation, translation and side, so the limit test is real."""
    rng = np.random.default_rng(0)
    for i in range(200):
        shape = kinematics.sample_shape(rng)
        _, ang = kinematics.sample_pose(rng)
        xyz, _ = kinematics.forward(shape, ang)
        side = ("left", "right")[i % 2]
        if side == "left":
            xyz = xyz * np.array([-1.0, 1.0, 1.0])
        q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        q *= np.sign(np.linalg.det(q))
        got = kinematics.joint_angles(xyz @ q.T + rng.normal(size=3), side)
        for name in kinematics.JOINT_NAMES:
            assert got[name] == pytest.approx(ang[name], abs=1e-6), name
    # and a joint pushed past its limit is reported as such
    shape = kinematics.sample_shape(rng)
    ang = dict(kinematics.sample_pose(rng, "open")[1])
    ang["index_pip_flex"] = np.radians(150)
    xyz, _ = kinematics.forward(shape, ang)
    assert kinematics.joint_angles(xyz)["index_pip_flex"] > kinematics.LIMITS["index_pip_flex"][1]


def test_pose_sampler_respects_limits_and_varies():
    rng = np.random.default_rng(1)
    kinds = set()
    for _ in range(300):
        kind, ang = kinematics.sample_pose(rng)
        kinds.add(kind)
        for name, (lo, hi) in kinematics.LIMITS.items():
            assert lo <= ang[name] <= hi
    assert {"open", "fist", "pointing", "pinch", "random"} <= kinds


def test_same_seed_same_bytes_any_worker_count(data, tmp_path):
    root, _ = data
    other = tmp_path / "again"
    _generate(other, workers=2)
    a, b = root / "training", other / "training"
    names = [f"{kind}/{i:05d}.png" for kind in ("color", "mask", "depth") for i in range(N)] + ["anno_training.pickle"]
    match, mismatch, errors = filecmp.cmpfiles(a, b, names, shallow=False)
    assert not mismatch and not errors
    # a different seed gives different images
    diff = tmp_path / "diff"
    _generate(diff, count=2, seed=SEED + 1)
    assert not filecmp.cmp(a / "color/00000.png", diff / "training/color/00000.png", shallow=False)


def test_resume_skips_finished_and_rebuilds_missing(data, tmp_path):
    root, _ = data
    part = tmp_path / "part"
    _generate(part, count=5)
    os.remove(part / "training" / "mask" / "00003.png")          # an interrupted sample
    summary = _generate(part, count=8)
    assert summary["rendered"] == 4                                # 3 (incomplete) and 5, 6, 7
    for kind in ("color", "mask", "depth"):
        for i in range(8):
            name = f"{kind}/{i:05d}.png"
            assert filecmp.cmp(part / "training" / name, root / "training" / name, shallow=False), name
    assert not list((part / "training").rglob("*.tmp*"))


def test_rhd_reader_reads_generated_data(data):
    root, anno = data
    ds = rhd.RHD(root, "training")
    assert len(ds) == N
    seen_hand = False
    for i in range(N):
        assert ds.color(i).shape == (320, 320, 3)
        mask = ds.mask(i)
        assert mask.shape == (320, 320)
        np.testing.assert_array_equal(mask, _read(root, "mask", i))
        a = ds.annotation(i)
        np.testing.assert_array_equal(a["xyz"], anno[i]["xyz"])
        depth = ds.depth(i)
        vis = np.nonzero(anno[i]["uv_vis"][:, 2])[0]
        for k in vis:
            u, v = anno[i]["uv_vis"][k, :2]
            assert abs(depth[int(round(v)), int(round(u))] - anno[i]["xyz"][k, 2]) <= 0.0251
        if len(vis):
            sample = ds.hand(i)
            assert sample is not None
            seen_hand = True
    assert seen_hand


def test_raycast_sphere_depth_and_box():
    """A sphere straight ahead: depth at the centre pixel is z - r, silhouette radius is f r / sqrt(z^2 - r^2)."""
    p = render.Prims()
    p.sphere([0.0, 0.0, 1.0], 0.1, 5, [0.5, 0.5, 0.5])
    K = np.array([[200.0, 0, 50.0], [0, 200.0, 50.0], [0, 0, 1]])
    depth, prim = render.raycast(p.arrays(), K, 101, 101)
    assert depth[50, 50] == pytest.approx(0.9, abs=1e-4)
    radius_px = 200 * 0.1 / np.sqrt(1.0 - 0.01)
    cols = np.nonzero(prim[50] == 0)[0]
    assert cols.min() == pytest.approx(50 - radius_px, abs=1.0)
    assert cols.max() == pytest.approx(50 + radius_px, abs=1.0)
    assert (prim[0] == -1).all()


def test_photo_backgrounds_found_and_licence_listed(tmp_path, monkeypatch):
    img = (np.random.default_rng(0).uniform(0, 255, (200, 300, 3))).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "room.png"), img)
    photos = backgrounds.find_photos(extra=str(tmp_path))
    assert str(tmp_path / "room.png") in [p.path for p in photos]
    assert "room.png" in backgrounds.licence_table(photos)
    bank = backgrounds.BackgroundBank([p for p in photos if p.path.startswith(str(tmp_path))])
    bg, src = bank.sample(np.random.default_rng(3), 64, p_photo=1.0)
    assert bg.shape == (64, 64, 3) and src == "room.png"


def test_cli(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        cli_main(["--help"])
    assert e.value.code == 0
    assert "--count" in capsys.readouterr().out
    assert cli_main(["--out", str(tmp_path), "--count", "2", "--seed", "3", "--workers", "1", "--no-progress",
                     "--set", "evaluation", "--size", "96"]) == 0
    assert (tmp_path / "evaluation" / "anno_evaluation.pickle").is_file()
    assert cv2.imread(str(tmp_path / "evaluation" / "color" / "00001.png")).shape == (96, 96, 3)
    assert cli_main(["--out", str(tmp_path), "--count", "-1"]) == 2


def test_transfer_check_smoke(data, tmp_path):
    """The realism check's pieces run end to end on a tiny dataset (the real run trains for minutes)."""
    import torch

    from training.synth import transfer_check as tc

    root, _ = data
    X, Y = tc.load_split(root / "training", 64)
    assert X.shape == (N, 64, 64, 3) and Y.shape == (N, 64, 64) and 0 < Y.mean() < 0.5
    torch.manual_seed(0)
    net, summary = tc.train(X, Y, minutes=0.01, batch=4, crop=48, val=4)
    assert summary["iterations"] >= 1 and 0.0 <= summary["val_iou"] <= 1.0
    real = tmp_path / "real"
    real.mkdir()
    cv2.imwrite(str(real / "a.png"), X[0][..., ::-1])
    cv2.imwrite(str(real / "b.jpg"), cv2.resize(X[1], (96, 64))[..., ::-1])
    sheet, stats = tc.overlay_sheet(net, real, tile=64, cols=2, long_side=64)
    assert sheet.shape == (64, 128, 3) and [s["image"] for s in stats] == ["a.png", "b.jpg"]


def test_speed_benchmark_short_mode(tmp_path):
    """benchmarks/synth_speed.py runs (few small samples) and writes a complete JSON; its target is only
    checked from that JSON (here --report-only), never by timing inside a test."""
    import json
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    out = tmp_path / "synth.json"
    env = dict(os.environ, HANDCAM_SYNTH_BACKGROUNDS="")
    proc = subprocess.run([sys.executable, str(root / "benchmarks" / "synth_speed.py"), "--json", str(out),
                           "--count", "3", "--workers", "1", "--profile", "2", "--size", "64", "--report-only"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    r = json.loads(out.read_text())
    assert r["config"]["count"] == 3 and r["throughput"]["samples_per_s"] > 0
    assert r["target_met"] == (r["throughput"]["samples_per_s"] >= 50.0)
    stages = r["profile"]["stages_ms"]
    assert {"scene", "background", "raycast", "shade", "compose", "effects", "keypoints", "write"} <= set(stages)
    assert sum(stages.values()) <= r["profile"]["ms_per_sample"] * 1.05
    assert "samples/s" in proc.stdout


def test_contact_sheet(data, tmp_path, capsys):
    from training.synth import contact_sheet

    root, _ = data
    sheet = contact_sheet.contact_sheet(root / "training", list(range(6)), cols=4, tile=32)
    assert sheet.shape == (64, 128, 3) and sheet.dtype == np.uint8
    out = tmp_path / "sheet.png"
    assert contact_sheet.main(["--data", str(root), "--out", str(out), "--rows", "1", "--cols", "2"]) == 0
    assert cv2.imread(str(out)).shape == (160, 320, 3)
    assert contact_sheet.main(["--data", str(tmp_path), "--out", str(out)]) == 2
    assert "no anno_<set>.pickle" in capsys.readouterr().err
