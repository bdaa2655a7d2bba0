"""How the camera-space hand's size choice (``handcam.handsize``) alone moves its root, on renders with
exact labels: the true normalised 3D hand and the true 2D keypoints go into the camera solve with the true
intrinsics, so that the only error left is the scale's.

    python benchmarks/hand_size.py --data RENDERS                   # 200 hands of RENDERS' evaluation split
    python benchmarks/hand_size.py --data RENDERS --count 600 --json benchmarks/results/hand_size.json

Per hand (the dominant hand of each sample, ``training.rhd``; 2D keypoints not truncated to integers):

    bone:   the assumed bone 12-11, ``DEFAULT_BONE_LENGTH`` (``hand_size="bone"``, the default)
    auto:   the whole-hand fit to the mean hand, ``fit_scale`` (``hand_size="auto"``)
    given:  the hand's true length (wrist to middle fingertip along its bones) through the mean hand,
            ``scale_for_hand_length`` (``hand_size=<metres>``)
    true:   the true bone 12-11 (the floor: the solve itself)

Reported: the root's 3D error in mm (median, p90) and the scale's error in % of the true bone 12-11.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from handcam.camera import DEFAULT_BONE_LENGTH, Intrinsics, camera_keypoints  # noqa: E402
from handcam.estimator import CAMERA_REFINE_STEPS  # noqa: E402
from handcam.handsize import fit_scale, scale_for_hand_length  # noqa: E402
from handcam.skeleton import FINGER_INDICES, ROOT, SCALE_BONE  # noqa: E402

VARIANTS = ("bone", "auto", "given", "true")


def hand_length(xyz: np.ndarray) -> float:
    """Wrist to middle fingertip along the bones (metres): twice root -> middle MCP (the root is the palm
    centre, halfway from the wrist) plus the middle finger's three bones."""
    tip, dip, pip, mcp = FINGER_INDICES["middle"]
    chain = [(ROOT, mcp), (ROOT, mcp), (mcp, pip), (pip, dip), (dip, tip)]
    return float(sum(np.linalg.norm(xyz[b] - xyz[a]) for a, b in chain))


def measure(data: str, split: str, count: int) -> dict:
    from training.rhd import RHD

    rhd = RHD(data, split)
    errors = {v: [] for v in VARIANTS}
    scale_errors = {v: [] for v in VARIANTS}
    for i in range(min(count, len(rhd))):
        h = rhd.hand(i, truncate_uv=False)
        xyz = h.xyz.astype(np.float64)
        p = h.xyz_norm.astype(np.float64)
        true_bone = float(np.linalg.norm(xyz[SCALE_BONE[0]] - xyz[SCALE_BONE[1]]))
        scales = {"bone": DEFAULT_BONE_LENGTH, "auto": float(fit_scale(p)),
                  "given": scale_for_hand_length(hand_length(xyz)), "true": true_bone}
        k = Intrinsics.from_matrix(h.K)
        for v, s in scales.items():
            cam = camera_keypoints(p, h.uv.astype(np.float64), k, s, refine_steps=CAMERA_REFINE_STEPS)
            errors[v].append(1e3 * float(np.linalg.norm(cam[ROOT] - xyz[ROOT])))
            scale_errors[v].append(100.0 * (s / true_bone - 1.0))
    report = {"data": str(data), "set": split, "hands": len(errors["bone"]), "variants": {}}
    for v in VARIANTS:
        e, se = np.array(errors[v]), np.array(scale_errors[v])
        report["variants"][v] = {"root_error_mm": {"median": float(np.median(e)), "p90": float(np.percentile(e, 90))},
                                 "scale_error_pct": {"median": float(np.median(se)),
                                                     "median_abs": float(np.median(np.abs(se))),
                                                     "p90_abs": float(np.percentile(np.abs(se), 90))}}
    return report


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="renders in RHD's layout (python -m training.synth) or RHD")
    ap.add_argument("--set", default="evaluation", help="the split")
    ap.add_argument("--count", type=int, default=200, help="hands (the first samples of the split)")
    ap.add_argument("--json", help="also write the report here")
    args = ap.parse_args(argv)
    report = measure(args.data, args.set, args.count)
    print(f"{report['hands']} hands of {report['data']} ({report['set']}); true normalised 3D and 2D keypoints")
    print(f"{'variant':8} {'root median':>12} {'root p90':>10} {'scale err median':>17} {'|scale err| p90':>16}")
    for v, r in report["variants"].items():
        print(f"{v:8} {r['root_error_mm']['median']:9.1f} mm {r['root_error_mm']['p90']:7.1f} mm "
              f"{r['scale_error_pct']['median']:+15.1f} % {r['scale_error_pct']['p90_abs']:14.1f} %")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
