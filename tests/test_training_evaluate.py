"""training/evaluate.py: the release's four RHD evaluations, end to end and with oracle networks."""
import json
import math

import cv2
import numpy as np
import torch
from rhd_tiny import make_rhd

from handcam import models, weights
from handcam.models import registry
from training import augment as A
from training import evaluate
from training.data import CropDataset


def test_evaluate_cli_all_modes(tmp_path, capsys):
    """The four evaluations run end to end (random weights, tiny RHD) and write table, JSON and PNG."""
    make_rhd(tmp_path / "rhd", n_train=1, n_eval=2)
    torch.manual_seed(0)
    w = tmp_path / "w.pt"
    weights.save_weights(w, {k: c().state_dict() for k, c in models.NETWORKS.items()}, {})
    for mode in evaluate.MODES:
        assert evaluate.main([mode, "--data", str(tmp_path / "rhd"), "--weights", str(w), "--out",
                              str(tmp_path / "ev"), "--limit", "1", "--workers", "0", "--device", "cpu"]) == 0
        res = json.loads((tmp_path / "ev" / f"{mode}.json").read_text())["results"]
        assert cv2.imread(str(tmp_path / "ev" / f"{mode}_pck.png")) is not None
        for s in res.values():
            assert 0.0 <= s["auc"] <= 1.0 and s["median_epe"] >= 0 and len(s["pck"]) == 20
    assert set(res) == {"release"} and "auc_20_50_release" in res["release"]
    res2d = json.loads((tmp_path / "ev" / "full-2d.json").read_text())["results"]
    assert set(res2d) == {"release", "palm_240x320", "corrected"}
    # weights that are not there: one line, exit status 2
    capsys.readouterr()
    assert evaluate.main(["gt-crop", "--data", str(tmp_path / "rhd"), "--weights", str(tmp_path / "none.pt"),
                          "--out", str(tmp_path / "ev"), "--device", "cpu"]) == 2
    assert capsys.readouterr().err.startswith("error: weights file")


def _axis_angle(r):
    theta = math.acos(max(-1.0, min(1.0, (float(r.trace()) - 1) / 2)))
    k = np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]]) / (2 * math.sin(theta))
    return k * theta


def test_evaluate_with_oracle_networks(tmp_path, monkeypatch):
    """Networks that output the ground truth score ~0 error: checks the wiring of crops, scales,
    the canonical frame, bone length and mm units in gt-crop and lift-3d."""
    make_rhd(tmp_path / "rhd", n_train=1, n_eval=2)
    gt = CropDataset(tmp_path / "rhd", "evaluation", noise=A.EVAL_NOISE)[1]

    class PoseNet(torch.nn.Module):
        def forward(self, x):
            # peaks at uv / 8 (TF1 upsampling maps map pixel p to crop pixel 8 p)
            c = gt["uv"][None, :, :, None, None] / 8
            g = torch.arange(32.0)
            m = torch.exp(-((g[None, :] - c[..., 0, :, :]) ** 2 + (g[:, None] - c[..., 1, :, :]) ** 2) / 0.25)
            return [m, m, m]

    class PosePrior(torch.nn.Module):
        def forward(self, s, hs):
            return gt["coord_can"][None]

    class ViewPoint(torch.nn.Module):
        def forward(self, s, hs):
            return torch.tensor(_axis_angle(gt["rot_mat"].double().numpy()), dtype=torch.float32)[None]

    fake = {"posenet": PoseNet(), "poseprior": PosePrior(), "viewpoint": ViewPoint()}
    monkeypatch.setattr(evaluate, "_networks", lambda path, keys, device: (registry.PAPER, fake))
    monkeypatch.setattr(evaluate, "_Subset", lambda ds, n: torch.utils.data.Subset(ds, [1]))
    res = evaluate.evaluate("gt-crop", tmp_path / "rhd", None, limit=1)["release"]
    # argmax of the upsampled 32x32 map is within one 8 px cell of the truth, in frame pixels / scale
    assert res["mean_epe"] < 4 * 1.5 / float(gt["crop_scale"])
    res = evaluate.evaluate("lift-3d", tmp_path / "rhd", None, limit=1)
    assert res["release"]["mean_epe"] < 0.05 and res["release"]["auc"] > 0.97  # mm
    assert res["release"]["count"] == [1] * 21
