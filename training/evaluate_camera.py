"""``python -m training.evaluate_camera [--weights W.pt] [--count N] [--seed S] [--json OUT.json]``

How well :func:`handcam.camera.camera_keypoints` puts the estimated hand in the camera's metres, measured
on renders of the synthetic engine (``training.synth``), whose metric 3D hands and camera matrices are
known exactly. Each render is made in memory (``dataset.render_sample``; procedural backgrounds, set
``evaluation`` by default, which no training run draws from with the same seed), the estimator runs on
its frame, its hand is matched to the nearest rendered hand in 2D, and the camera 3D is computed from the
hand's ``keypoints_3d``, ``keypoints_2d`` and ``keypoint_scores`` with the render's true intrinsics.

Errors, in millimetres, per variant of the inputs (``variants()``):
  * ``root_depth``: |z of the estimated root - z of the true root| (root = palm centre, keypoint 0);
  * ``root_depth_signed``: the same without the absolute value (< 0: the hand is placed too near);
  * ``root``: distance between the estimated and the true root;
  * ``relative``: per joint (keypoints 1-20), distance between the camera 3D minus its root and the true
    hand minus its root (this only depends on the scale and on the networks' 3D shape, not on T);
  * ``reprojection_px``: per keypoint, the solved hand's projection vs the 2D keypoints it was fitted to.
Each as median, p90 and mean over all hands (resp. all joints of all hands) and a count.

The variants separate the error sources: ``floor`` (the true normalised 3D, the true 2D, the true bone
length: what the solver itself loses, ~0), ``network`` (everything estimated, the default bone length),
``network_true_bone`` (the true bone length instead: the scale's share), ``true_shape_network_2d`` and
``network_shape_true_2d`` (one input true, the other estimated), an unweighted fit of the network inputs,
and ``*_gn<k>``: k Gauss-Newton steps on the reprojection error after the linear solve. The floor runs on
every rendered hand in view, the network variants on the matched hands.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch

from handcam.camera import DEFAULT_BONE_LENGTH, Intrinsics, camera_keypoints, reprojection_errors
from handcam.canonical import normalize_xyz
from handcam.skeleton import HAND_SIDES, NUM_KEYPOINTS, PALM_FROM

from .errors import cli_main
from .report import publish

log = logging.getLogger(__name__)

#: name -> (normalised 3D from, 2D from, bone length, weights, Gauss-Newton steps): sources "true" (the
#: render's) or "net" (the estimator's), bone "default" (the --bone-length) or "true" (the rendered hand's),
#: weights "scores" (``keypoint_scores``) or "uniform". ``variants()`` adds ``*_gn<k>`` variants.
BASE_VARIANTS: dict[str, tuple[str, str, str, str, int]] = {
    "floor": ("true", "true", "true", "uniform", 0),
    "network": ("net", "net", "default", "scores", 0),
    "network_unweighted": ("net", "net", "default", "uniform", 0),
    "network_true_bone": ("net", "net", "true", "scores", 0),
    "true_shape_network_2d": ("true", "net", "true", "scores", 0),
    "network_shape_true_2d": ("net", "true", "true", "uniform", 0),
}


def variants(refine_steps=(1, 2)) -> dict[str, tuple[str, str, str, str, int]]:
    """``BASE_VARIANTS`` plus, per number of Gauss-Newton steps k, ``network_gn<k>``,
    ``network_true_bone_gn<k>`` and ``true_shape_network_2d_gn<k>``."""
    out = dict(BASE_VARIANTS)
    for k in refine_steps:
        if int(k) != k or k < 1:
            raise ValueError(f"refine steps must be integers >= 1, got {k!r}")
        for base in ("network", "network_true_bone", "true_shape_network_2d"):
            out[f"{base}_gn{int(k)}"] = BASE_VARIANTS[base][:4] + (int(k),)
    return out


METRICS = ("root_depth", "root_depth_signed", "root", "relative", "reprojection_px")


@dataclass(frozen=True)
class TrueHand:
    """A rendered hand: metric 3D (21 x 3, camera frame, keypoint 0 the palm centre), its exact projection
    (21 x 2 frame pixels), its normalised 3D and bone-12-11 length, the camera, and its side."""

    side: str
    xyz: np.ndarray
    uv: np.ndarray
    xyz_norm: np.ndarray
    bone_length: float
    intrinsics: Intrinsics


def true_hands(anno: dict, present: dict) -> list[TrueHand]:
    """The hands of one render's annotation (RHD layout: 42 keypoints, left then right) that are present
    and have at least one visible keypoint; keypoint 0 becomes the palm centre (as the networks use it) and
    the 2D keypoints are the exact projections of the 3D ones."""
    k = Intrinsics.from_matrix(np.asarray(anno["K"], np.float64))
    out = []
    for i, side in enumerate(HAND_SIDES):
        sl = slice(NUM_KEYPOINTS * i, NUM_KEYPOINTS * (i + 1))
        if not present.get(side) or not (anno["uv_vis"][sl, 2] > 0).any():
            continue
        xyz = np.asarray(anno["xyz"][sl], np.float64).copy()
        xyz[0] = (xyz[PALM_FROM[0]] + xyz[PALM_FROM[1]]) / 2
        uv = np.stack([k.fx * xyz[:, 0] / xyz[:, 2] + k.cx, k.fy * xyz[:, 1] / xyz[:, 2] + k.cy], axis=1)
        norm, scale = normalize_xyz(torch.from_numpy(xyz))
        out.append(TrueHand(side, xyz, uv, norm.numpy(), float(scale), k))
    return out


def match_hand(keypoints_2d: np.ndarray, hands: list[TrueHand], max_fraction: float = 0.5) -> TrueHand | None:
    """The rendered hand nearest to estimated 2D keypoints (median keypoint distance), if that distance is at
    most ``max_fraction`` of the hand's 2D extent (the longer side of its keypoints' box); else None."""
    best, best_d = None, np.inf
    for h in hands:
        d = float(np.median(np.linalg.norm(np.asarray(keypoints_2d) - h.uv, axis=1)))
        extent = float((h.uv.max(0) - h.uv.min(0)).max())
        if d <= max_fraction * extent and d < best_d:
            best, best_d = h, d
    return best


def hand_errors(camera_xyz: np.ndarray, truth: TrueHand, fitted_2d: np.ndarray) -> dict[str, np.ndarray]:
    """Errors of one solved hand (21 x 3 metres) against the truth: mm and pixels (see the module doc)."""
    cam = np.asarray(camera_xyz, np.float64)
    rel = (cam - cam[0]) - (truth.xyz - truth.xyz[0])
    reproj = reprojection_errors(torch.from_numpy(cam), torch.from_numpy(np.array(fitted_2d, np.float64)),
                                 truth.intrinsics).numpy()
    dz = (cam[0, 2] - truth.xyz[0, 2]) * 1e3
    return {"root_depth": np.array([abs(dz)]), "root_depth_signed": np.array([dz]),
            "root": np.array([np.linalg.norm(cam[0] - truth.xyz[0]) * 1e3]),
            "relative": np.linalg.norm(rel[1:], axis=1) * 1e3,
            "reprojection_px": reproj}


def summarise(values) -> dict:
    """median, p90, mean and count of the finite values (None for no values)."""
    v = np.asarray(list(values), np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"median": None, "p90": None, "mean": None, "n": 0}
    return {"median": float(np.median(v)), "p90": float(np.percentile(v, 90)), "mean": float(v.mean()),
            "n": int(v.size)}


def solve_variant(spec: tuple[str, str, str, str, int], truth: TrueHand, pose, bone_length: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The camera 3D (21 x 3) of one variant's inputs (a ``variants()`` value) for a rendered hand and the
    estimated ``HandPose`` (None for the floor), and the 2D keypoints it was fitted to."""
    src3d, src2d, bone, weights, steps = spec
    p = truth.xyz_norm if src3d == "true" else pose.keypoints_3d
    uv = truth.uv if src2d == "true" else pose.keypoints_2d
    w = None if weights == "uniform" else torch.from_numpy(np.array(pose.keypoint_scores, np.float64))
    s = truth.bone_length if bone == "true" else bone_length
    out = camera_keypoints(torch.from_numpy(np.array(p, np.float64)), torch.from_numpy(np.array(uv, np.float64)),
                           truth.intrinsics, s, w, refine_steps=steps)
    return out.numpy(), np.asarray(uv, np.float64)


def evaluate(estimator, count: int, seed: int = 1, set_name: str = "evaluation", size: int = 320,
             bone_length: float = DEFAULT_BONE_LENGTH, refine_steps=(1, 2), presence_threshold: float = 0.5,
             max_fraction: float = 0.5) -> dict:
    """Render ``count`` samples, estimate, solve every variant and summarise (the JSON report)."""
    from .synth import dataset

    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    specs = variants(refine_steps)
    errors: dict[str, dict[str, list]] = {v: {m: [] for m in METRICS} for v in specs}
    nan_hands = dict.fromkeys(specs, 0)
    counts = {"renders": count, "hands_in_view": 0, "renders_with_hand": 0, "reported": 0, "matched": 0}
    true_bones, true_depths = [], []
    t0 = time.perf_counter()
    for index in range(count):
        sample = dataset.render_sample(index, seed, set_name, size)
        hands = true_hands(sample.anno, sample.meta["present"])
        counts["hands_in_view"] += len(hands)
        counts["renders_with_hand"] += bool(hands)
        for h in hands:
            true_bones.append(h.bone_length * 1e3)
            true_depths.append(h.xyz[0, 2] * 1e3)
            cam, uv = solve_variant(specs["floor"], h, None, bone_length)
            _add(errors["floor"], nan_hands, "floor", cam, h, uv)
        found = [p for p in estimator.estimate(sample.color).hands if p.presence >= presence_threshold]
        counts["reported"] += len(found)
        for pose in found:
            truth = match_hand(pose.keypoints_2d, hands, max_fraction)
            if truth is None:
                continue
            counts["matched"] += 1
            for v in specs:
                if v != "floor":
                    cam, uv = solve_variant(specs[v], truth, pose, bone_length)
                    _add(errors[v], nan_hands, v, cam, truth, uv)
        if (index + 1) % 50 == 0:
            log.info("%d / %d renders (%.1f s)", index + 1, count, time.perf_counter() - t0)
    return {
        "renders": {"count": count, "seed": seed, "set": set_name, "size": size, "backgrounds": "procedural"},
        "counts": counts,
        "bone_length_default_mm": bone_length * 1e3,
        "refine_steps": [int(k) for k in refine_steps],
        "presence_threshold": presence_threshold,
        "true_bone_length_mm": summarise(true_bones),
        "true_root_depth_mm": summarise(true_depths),
        "variants": {v: {"inputs": dict(zip(("keypoints_3d", "keypoints_2d", "bone_length", "weights", "steps"),
                                            specs[v])),
                         "nan_hands": nan_hands[v],
                         **{m: summarise(np.concatenate(errors[v][m]) if errors[v][m] else [])
                            for m in METRICS}}
                     for v in specs},
        "seconds": time.perf_counter() - t0,
    }


def _add(store: dict, nan_hands: dict, variant: str, cam: np.ndarray, truth: TrueHand, uv: np.ndarray) -> None:
    if not np.isfinite(cam).all():
        nan_hands[variant] += 1
        return
    for m, v in hand_errors(cam, truth, uv).items():
        store[m].append(v)


def format_table(report: dict) -> str:
    """The medians and p90s as a text table."""
    c = report["counts"]
    lines = [f"{c['renders']} renders, {c['hands_in_view']} hands in view, {c['reported']} reported, "
             f"{c['matched']} matched; default bone {report['bone_length_default_mm']:.1f} mm, true bone median "
             f"{_fmt(report['true_bone_length_mm']['median'])} mm",
             f"{'variant':<28}" + "".join(f"{m + ' med/p90':>26}" for m in METRICS) + f"{'NaN':>6}"]
    for v, r in report["variants"].items():
        cells = "".join(f"{_fmt(r[m]['median']) + ' / ' + _fmt(r[m]['p90']):>26}" for m in METRICS)
        lines.append(f"{v:<28}{cells}{r['nan_hands']:>6}")
    return "\n".join(lines)


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.2f}"


@cli_main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.evaluate_camera", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", default="weights/handcam-lite.pt", help="a handcam weights file "
                   "(default: the bundled weights/handcam-lite.pt)")
    p.add_argument("--count", type=int, default=200, help="how many renders to make and evaluate (default 200)")
    p.add_argument("--seed", type=int, default=1, help="seed of the renders (default 1)")
    p.add_argument("--set", default="evaluation", choices=["training", "evaluation"],
                   help="which of the engine's random streams to render from (default evaluation)")
    p.add_argument("--size", type=int, default=320, help="render size in pixels (default 320, as RHD)")
    p.add_argument("--bone-length", type=float, default=DEFAULT_BONE_LENGTH,
                   help=f"assumed bone 12-11 length in metres (default {DEFAULT_BONE_LENGTH})")
    p.add_argument("--refine-steps", type=int, nargs="*", default=[1, 2, 10], metavar="K",
                   help="numbers of Gauss-Newton steps, one set of *_gn<K> variants each (default 1 2 10)")
    p.add_argument("--presence-threshold", type=float, default=0.5,
                   help="use the estimator's hands with presence >= T (default 0.5)")
    p.add_argument("--match-fraction", type=float, default=0.5,
                   help="a hand matches a rendered one when their median 2D keypoint distance is at most this "
                        "fraction of the rendered hand's 2D extent (default 0.5)")
    p.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"], help="estimator device (default cpu)")
    p.add_argument("--json", help="write the report to this JSON file")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from handcam.estimator import HandPoseEstimator

    estimator = HandPoseEstimator.load(args.weights, device=args.device)
    report = evaluate(estimator, args.count, args.seed, args.set, args.size, args.bone_length, args.refine_steps,
                      args.presence_threshold, args.match_fraction)
    report["weights"] = str(args.weights)
    publish(report, format_table(report), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
