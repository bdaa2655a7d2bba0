"""Parity with the original TensorFlow implementation, from the oracle's golden arrays.

Reads every ``*.npz`` in $HANDCAM_ORACLE_DIR (default ../shared/oracle); each case's networks carry
the weights ``make_weights.py <seed>`` in that folder writes, converted by our official-pickle
converter. Each stage is fed the golden input of that stage; then the chained pipeline runs from the
input image alone. The default folder may be absent (the tests then skip, saying so); a
$HANDCAM_ORACLE_DIR without cases is a usage error (``conftest.oracle_cases``).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import ROOT, oracle_cases, oracle_dir

from handcam import geometry as G
from handcam.estimator import HandPoseEstimator
from handcam.models.layers import tf1_resize_bilinear
from handcam.pipeline import run_pipeline
from handcam.settings import PipelineSettings
from handcam.stages import HandBox, crop_hands, lift_pose, single_object_mask
from handcam.transform import FrameTransform

CASES = oracle_cases()
pytestmark = [pytest.mark.oracle]
needs_cases = pytest.mark.skipif(
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


@pytest.mark.slow
def test_a_wrong_oracle_dir_is_an_error_not_a_skip():
    """An explicit $HANDCAM_ORACLE_DIR without cases fails the run, naming the folder (a typo must
    not pass as "no data")."""
    env = {**os.environ, "HANDCAM_ORACLE_DIR": "/nonexistent"}
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        str(ROOT / "tests" / "test_parity.py"), "-k", "not wrong_oracle_dir"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    out = p.stdout + p.stderr
    assert p.returncode != 0, out
    assert "HANDCAM_ORACLE_DIR=/nonexistent holds no oracle cases" in out
    assert " passed" not in out and " skipped" not in out


@needs_cases
def test_handsegnet(case):
    d, est = case
    with torch.inference_mode():
        logits = est.networks["handsegnet"](nchw(d["input_image"]))
    assert rel(nhwc(logits), d["hand_scoremap"]) <= REL_TOL


@needs_cases
def test_mask_center_scale_from_golden_scoremap(case):
    d, _ = case
    mask, _ = single_object_mask(nchw(d["hand_scoremap"]))
    np.testing.assert_array_equal(mask.numpy(), d["hand_mask"][..., 0] > 0.5)
    center, size = G.mask_center_and_size(torch.from_numpy(d["hand_mask"][..., 0] > 0.5))
    np.testing.assert_allclose(size.numpy(), d["crop_size_best"][:, 0], atol=1e-5)
    np.testing.assert_allclose(center.numpy(), d["center"], atol=1e-5)
    np.testing.assert_allclose(G.crop_scale(size).numpy(), d["scale"][:, 0], rtol=1e-5)


@needs_cases
def test_crop_from_golden_center_scale(case):
    d, _ = case
    boxes = G.normalize_boxes(G.crop_boxes(torch.from_numpy(d["center"]), torch.from_numpy(d["scale"][:, 0])),
                              240, 320)
    crop = G.crop_and_resize(nchw(d["input_image"]), boxes, (256, 256))
    assert rel(nhwc(crop), d["image_crop"]) <= REL_TOL
    # the crop stage, from the golden box (centre and size, the release's crop factor)
    box = HandBox(torch.from_numpy(d["center"]), torch.from_numpy(d["crop_size_best"][:, 0]), 1.25)
    staged = crop_hands(nchw(d["input_image"]), box, 256, FrameTransform((240, 320), (240, 320)))
    assert rel(nhwc(staged.image), d["image_crop"]) <= REL_TOL


@needs_cases
@pytest.mark.parametrize("prefix,inp", [("", "image_crop"), ("iso_", "iso_crop_input")])
def test_posenet_three_stages(case, prefix, inp):
    d, est = case
    with torch.inference_mode():
        maps = est.networks["posenet"](nchw(d[inp]))
    assert len(maps) == 3
    for i, m in enumerate(maps, start=1):
        assert rel(nhwc(m), d[f"{prefix}scoremap_stage{i}"]) <= REL_TOL, f"stage {i}"


@needs_cases
def test_keypoints_from_golden_scoremap(case):
    d, _ = case
    up = tf1_resize_bilinear(nchw(d["scoremap_stage3"]), (256, 256))
    # the golden 256 map is stored as float16: compare at that precision
    np.testing.assert_allclose(nhwc(up), d["keypoints_scoremap_256"].astype(np.float32), rtol=2e-3, atol=2e-3)
    rc, _ = G.scoremap_argmax(up)
    np.testing.assert_array_equal(rc[0].numpy(), d["keypoints_crop_rc"])
    frame = G.crop_to_image(torch.from_numpy(d["keypoints_crop_rc"])[None].float(),
                            torch.from_numpy(d["center"]), torch.from_numpy(d["scale"][:, 0]))
    np.testing.assert_allclose(frame[0].numpy(), d["keypoints_frame_rc"], atol=1e-3)


@needs_cases
@pytest.mark.parametrize("prefix,inp", [("", "scoremap_stage3"), ("iso_", "iso_scoremap_input")])
def test_lifting(case, prefix, inp):
    d, est = case
    hs = torch.from_numpy(d["hand_side"])
    sm = nchw(d[inp])
    with torch.inference_mode():
        pose = lift_pose(est.networks["poseprior"], est.networks["viewpoint"], sm, hs)
    assert rel(pose.coord_can, d[f"{prefix}coord_can"]) <= REL_TOL
    assert rel(pose.rot_mat, d[f"{prefix}rot_mat"]) <= REL_TOL
    if not prefix:
        assert rel(pose.keypoints, d["keypoint_coord3d"]) <= REL_TOL


@needs_cases
def test_chained_pipeline_from_input_image(case):
    d, est = case
    hs = torch.from_numpy(d["hand_side"])
    out = run_pipeline(est.networks, nchw(d["input_image"]), hs, PipelineSettings.release())
    ours, gold = out.mask[0], d["hand_mask"][0, ..., 0] > 0.5
    iou = (ours & gold).sum() / max((ours | gold).sum(), 1)
    assert iou >= 0.999
    assert np.abs(out.center - d["center"]).max() <= 0.5
    assert abs(float(out.scale[0]) - float(d["scale"][0, 0])) <= 1e-3
    # when the box is the same, everything downstream must be too
    if np.allclose(out.center, d["center"], atol=1e-5):
        assert rel(nhwc(out.crop.image), d["image_crop"]) <= REL_TOL
        assert rel(nhwc(out.scoremaps[-1]), d["scoremap_stage3"]) <= REL_TOL
        assert rel(out.keypoints_3d, d["keypoint_coord3d"]) <= REL_TOL


@needs_cases
def test_estimator_public_api_matches_oracle(case):
    """The public estimator on the uint8 frame (img is already 320x240) reproduces the release."""
    d, est = case
    frame = np.round((d["input_image"][0] + 0.5) * 255).astype(np.uint8)
    side = "right" if d["hand_side"][0, 1] > 0.5 else "left"
    pose = est.estimate(frame, settings=est.settings.replace(hand_side=side)).hand
    np.testing.assert_allclose(pose.center[::-1], d["center"][0], atol=0.5)
    assert pose.side == side
    if np.allclose(pose.center[::-1], d["center"][0], atol=1e-5):
        np.testing.assert_allclose(pose.keypoints_2d[:, ::-1], d["keypoints_frame_rc"], atol=1e-3)
        assert rel(pose.keypoints_3d, d["keypoint_coord3d"][0]) <= REL_TOL
