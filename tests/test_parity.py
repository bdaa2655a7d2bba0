"""Parity with the original TensorFlow implementation, from the oracle's golden arrays.

Reads every ``*.npz`` in $HANDCAM_ORACLE_DIR (default ../shared/oracle); each case's networks carry
the weights ``make_weights.py <seed>`` in that folder writes, converted by our official-pickle
converter. Each stage is fed the golden input of that stage; then the chained pipeline runs from the
input image alone.
"""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from conftest import oracle_cases, oracle_dir
from handcam import geometry as G
from handcam.estimator import HandPoseEstimator, run_pipeline
from handcam.pose import PipelineSettings
from handcam.segmentation import single_object_mask

CASES = oracle_cases()
pytestmark = pytest.mark.skipif(
    not CASES, reason=f"no oracle parity data: {oracle_dir()} has no *.npz (set HANDCAM_ORACLE_DIR)")

REL_TOL = 1e-4


def rel(ours, golden) -> float:
    ours = np.asarray(ours, np.float64)
    golden = np.asarray(golden, np.float64)
    return float(np.linalg.norm(ours - golden) / np.linalg.norm(golden))


def nchw(a) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).permute(0, 3, 1, 2)


def nhwc(t: torch.Tensor) -> np.ndarray:
    return t.permute(0, 2, 3, 1).numpy()


_estimators = {}


@pytest.fixture(params=CASES, ids=[c.stem for c in CASES])
def case(request, oracle_weights):
    m = re.match(r"seed(\d+)_", request.param.name)
    assert m, f"oracle case {request.param.name} is not named seed<S>_<image>_<side>.npz"
    seed = int(m.group(1))
    if seed not in _estimators:
        _estimators[seed] = HandPoseEstimator.load(oracle_weights(seed), device="cpu")
    return dict(np.load(request.param)), _estimators[seed]


def test_handsegnet(case):
    d, est = case
    with torch.inference_mode():
        logits = est.networks["handsegnet"](nchw(d["input_image"]))
    assert rel(nhwc(logits), d["hand_scoremap"]) <= REL_TOL


def test_mask_center_scale_from_golden_scoremap(case):
    d, _ = case
    mask, _ = single_object_mask(nchw(d["hand_scoremap"]))
    np.testing.assert_array_equal(mask.numpy(), d["hand_mask"][..., 0] > 0.5)
    center, size = G.mask_center_and_size(torch.from_numpy(d["hand_mask"][..., 0] > 0.5))
    np.testing.assert_allclose(size.numpy(), d["crop_size_best"][:, 0], atol=1e-5)
    np.testing.assert_allclose(center.numpy(), d["center"], atol=1e-5)
    np.testing.assert_allclose(G.crop_scale(size).numpy(), d["scale"][:, 0], rtol=1e-5)


def test_crop_from_golden_center_scale(case):
    d, _ = case
    boxes = G.normalize_boxes(G.crop_boxes(torch.from_numpy(d["center"]), torch.from_numpy(d["scale"][:, 0])),
                              240, 320)
    crop = G.crop_and_resize(nchw(d["input_image"]), boxes, (256, 256))
    assert rel(nhwc(crop), d["image_crop"]) <= REL_TOL


@pytest.mark.parametrize("prefix,inp", [("", "image_crop"), ("iso_", "iso_crop_input")])
def test_posenet_three_stages(case, prefix, inp):
    d, est = case
    with torch.inference_mode():
        maps = est.networks["posenet"](nchw(d[inp]))
    assert len(maps) == 3
    for i, m in enumerate(maps, start=1):
        assert rel(nhwc(m), d[f"{prefix}scoremap_stage{i}"]) <= REL_TOL, f"stage {i}"


def test_keypoints_from_golden_scoremap(case):
    d, _ = case
    up = G.tf1_resize_bilinear(nchw(d["scoremap_stage3"]), (256, 256))
    # the golden 256 map is stored as float16: compare at that precision
    np.testing.assert_allclose(nhwc(up), d["keypoints_scoremap_256"].astype(np.float32), rtol=2e-3, atol=2e-3)
    rc, _ = G.scoremap_argmax(up)
    np.testing.assert_array_equal(rc[0].numpy(), d["keypoints_crop_rc"])
    frame = G.crop_to_image(torch.from_numpy(d["keypoints_crop_rc"])[None].float(),
                            torch.from_numpy(d["center"]), torch.from_numpy(d["scale"][:, 0]))
    np.testing.assert_allclose(frame[0].numpy(), d["keypoints_frame_rc"], atol=1e-3)


@pytest.mark.parametrize("prefix,inp", [("", "scoremap_stage3"), ("iso_", "iso_scoremap_input")])
def test_lifting(case, prefix, inp):
    d, est = case
    hs = torch.from_numpy(d["hand_side"])
    sm = nchw(d[inp])
    with torch.inference_mode():
        can = est.networks["poseprior"](sm, hs)
        xyz, rot = G.lift(can, est.networks["viewpoint"](sm, hs), hs)
    assert rel(can, d[f"{prefix}coord_can"]) <= REL_TOL
    assert rel(rot, d[f"{prefix}rot_mat"]) <= REL_TOL
    if not prefix:
        assert rel(xyz, d["keypoint_coord3d"]) <= REL_TOL


def test_chained_pipeline_from_input_image(case):
    d, est = case
    hs = torch.from_numpy(d["hand_side"])
    out = run_pipeline(est.networks, nchw(d["input_image"]), hs, PipelineSettings())
    ours, gold = out.mask[0].numpy(), d["hand_mask"][0, ..., 0] > 0.5
    iou = (ours & gold).sum() / max((ours | gold).sum(), 1)
    assert iou >= 0.999
    assert np.abs(out.center.numpy() - d["center"]).max() <= 0.5
    assert abs(float(out.scale[0]) - float(d["scale"][0, 0])) <= 1e-3
    # when the box is the same, everything downstream must be too
    if np.allclose(out.center.numpy(), d["center"], atol=1e-5):
        assert rel(nhwc(out.crop), d["image_crop"]) <= REL_TOL
        assert rel(nhwc(out.scoremaps[-1]), d["scoremap_stage3"]) <= REL_TOL
        assert rel(out.keypoints_3d, d["keypoint_coord3d"]) <= REL_TOL


def test_estimator_public_api_matches_oracle(case):
    """The public estimator on the uint8 frame (img is already 320x240) reproduces the release."""
    d, est = case
    frame = np.round((d["input_image"][0] + 0.5) * 255).astype(np.uint8)
    side = "right" if d["hand_side"][0, 1] > 0.5 else "left"
    pose = est(frame, hand_side=side)
    np.testing.assert_allclose(pose.center[::-1], d["center"][0], atol=0.5)
    assert pose.hand_side == side
    if np.allclose(pose.center[::-1], d["center"][0], atol=1e-5):
        np.testing.assert_allclose(pose.keypoints_2d[:, ::-1], d["keypoints_frame_rc"], atol=1e-3)
        assert rel(pose.keypoints_3d, d["keypoint_coord3d"][0]) <= REL_TOL
