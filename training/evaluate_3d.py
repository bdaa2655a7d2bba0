"""``python -m training.evaluate_3d --weights W.pt [--labels L.jsonl ...] [--renders DIR] [--limit N]
[--json OUT.json]``

How good a handcam weights file's 3D hands are, with the estimator as a user runs it
(``HandPoseEstimator.load(weights)``, default settings: reported hands have presence >= 0.5).

Real photos (``--labels``: teacher JSONL with ``keypoints_world``, ``training.teacher``): each labelled photo
is estimated, the reported hands are matched one-to-one to the teacher's hands by their 2D centres
(``training.evaluate_real.match_nearest`` of ``keypoints_center``; the teacher's keypoint 0 moved to the
palm, ``teacher_to_palm``), and a pair counts when the centres lie within ``--match-fraction`` of the
teacher hand's 2D size (``hand_size``) of each other. Reference: the teacher's world landmarks with
keypoint 0 moved to the palm centre, root-relative, in metres. MediaPipe's 3D is itself an estimate: these
numbers measure agreement with it, not truth.

Renders (``--renders``: an RHD-layout folder, its ``evaluation`` split, e.g. ``python -m training.synth
--set evaluation``): every hand with mask pixels and a visible keypoint is a true hand (its exact 3D, palm
root, camera metres); matching as above with the exact 2D keypoints. Each frame is estimated twice: with
the render's own camera (``PipelineSettings.intrinsics`` = fx, fy, cx, cy of its K) and with the default
settings (the default field of view), for the camera-space root error of each.

Errors, in mm, over all 21 keypoints of every matched hand (``training.align3d``):
  scale_fit    the estimated root-relative hand (``HandPose.keypoints_3d``: palm root, bone 12-11 = 1)
               times the least-squares scale onto the reference's root-relative metres (the shape and the
               rotation are measured; the hand's size is not);
  procrustes   after the best rotation (proper: a mirror-image hand is not aligned), scale and translation
               (the shape alone).
Both also over only the matched hands whose predicted side is the reference's (``per_joint_mm_same_side``):
a wrong side gives the lifting networks the wrong handedness, a mirrored hand.
Renders also: ``root`` (distance between the estimated camera-space palm root,
``HandPose.keypoints_3d_camera[0]``, and the true one) and ``root_depth`` (|z difference|), per camera;
hands whose camera-space 3D could not be solved are counted, not measured. Each as median, p90, mean and
count (``training.evaluate_camera.summarise``).
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch

from .align3d import fit_scale, joint_errors, procrustes
from .errors import cli_main
from .evaluate_camera import summarise
from .evaluate_real import hand_size, keypoints_center, match_nearest
from .labels import read_label_files, resolve_image, teacher_to_palm
from .real3d import palm_root
from .report import publish

log = logging.getLogger(__name__)

ALIGNMENTS = ("scale_fit", "procrustes")
CAMERAS = ("true_intrinsics", "default_fov")


def aligned_errors_mm(pred_norm, target_rel_m) -> dict[str, np.ndarray]:
    """Per-keypoint errors (21,) in mm of an estimated normalised hand (root-relative, bone 12-11 = 1) against
    a root-relative reference in metres, after each of ``ALIGNMENTS``."""
    p = torch.from_numpy(np.array(pred_norm, np.float64))          # a copy: HandPose arrays are read-only
    t = torch.from_numpy(np.array(target_rel_m, np.float64))
    return {"scale_fit": joint_errors(fit_scale(p, t).aligned, t).numpy() * 1e3,
            "procrustes": joint_errors(procrustes(p, t).aligned, t).numpy() * 1e3}


def match_hands(predicted_2d: list, reference_2d: list, max_fraction: float) -> tuple[list[tuple[int, int]], int]:
    """One-to-one (predicted, reference) pairs by nearest 2D centre, kept when the centres are at most
    ``max_fraction`` x the reference hand's size apart; and how many pairs were dropped for that."""
    pc = [keypoints_center(k) for k in predicted_2d]
    rc = [keypoints_center(k) for k in reference_2d]
    pairs = match_nearest(pc, rc)
    kept = [(i, j) for i, j in pairs
            if np.hypot(*(pc[i] - rc[j])) <= max_fraction * hand_size(reference_2d[j])]
    return kept, len(pairs) - len(kept)


class _Tally:
    """Errors and counts of one evaluation set."""

    def __init__(self):
        self.counts = {"reported_hands": 0, "matched": 0, "too_far": 0, "same_side": 0}
        self.errors: dict[str, list] = {a: [] for a in ALIGNMENTS}
        self.same: list[bool] = []

    def add(self, pred_norm, target_rel_m, same_side: bool) -> None:
        self.counts["matched"] += 1
        self.counts["same_side"] += int(same_side)
        self.same.append(bool(same_side))
        for k, v in aligned_errors_mm(pred_norm, target_rel_m).items():
            self.errors[k].append(v)

    def report(self) -> dict:
        """The counts, and the errors of all matched hands and of those whose side was right."""
        def pooled(keep):
            return {a: summarise(np.concatenate([e for e, k in zip(v, keep) if k]) if any(keep) else [])
                    for a, v in self.errors.items()}

        return {**self.counts, "per_joint_mm": pooled([True] * len(self.same)),
                "per_joint_mm_same_side": pooled(self.same)}


def photo_records(labels) -> list[tuple[dict, Path]]:
    """The pooled records of the teacher JSONL files ``labels``, each with its file; a ValueError when no hand
    of them has world landmarks."""
    records = read_label_files(labels)
    if not any("keypoints_world" in h for r, _ in records for h in r["hands"]):
        raise ValueError(f"no teacher hand in {', '.join(map(str, labels))} has keypoints_world; label the photos "
                         f"again with python -m training.teacher")
    return records


def evaluate_photos(estimator, records: list[tuple[dict, Path]], limit: int | None = None,
                    max_fraction: float = 0.5) -> dict:
    """The real-photo part (see the module doc) over the first ``limit`` of ``records`` (``photo_records``)."""
    from handcam.sources import load_image

    records = records[:limit]
    tally = _Tally()
    teacher_hands = without_world = 0
    for n, (r, path) in enumerate(records, 1):
        hands = [h for h in r["hands"] if "keypoints_world" in h]
        teacher_hands += len(r["hands"])
        without_world += len(r["hands"]) - len(hands)
        found = estimator.estimate(load_image(resolve_image(r["image"], path))).hands
        tally.counts["reported_hands"] += len(found)
        palms = [teacher_to_palm(h["keypoints_2d"]) for h in hands]
        pairs, far = match_hands([h.keypoints_2d for h in found], palms, max_fraction)
        tally.counts["too_far"] += far
        for i, j in pairs:
            world = palm_root(torch.as_tensor(hands[j]["keypoints_world"])).numpy()
            tally.add(found[i].keypoints_3d, world - world[0], found[i].side == hands[j]["side"])
        if n % 50 == 0:
            log.info("%d / %d photos", n, len(records))
    return {"labels": sorted({str(p) for _, p in records}), "images": len(records), "teacher_hands": teacher_hands,
            "teacher_hands_without_world": without_world, **tally.report()}


def true_hands(rhd, i: int) -> list:
    """The hands of render ``i`` with mask pixels and a visible keypoint (``select_hand``: palm root)."""
    from .rhd import hand_pixel_counts, select_hand

    pixels = hand_pixel_counts(rhd.mask(i))
    anno = rhd.annotation(i)
    hands = [select_hand(anno, side, truncate_uv=False) for side in (0, 1) if pixels[side] > 0]
    return [h for h in hands if h.vis.any()]


def evaluate_renders(estimator, data, limit: int | None = None, max_fraction: float = 0.5) -> dict:
    """The renders part (see the module doc) over the first ``limit`` frames of ``data``'s evaluation split."""
    from handcam.skeleton import HAND_SIDES

    from .rhd import RHD

    rhd = RHD(data, "evaluation")
    frames = min(len(rhd), limit or len(rhd))
    tally = _Tally()
    n_true = 0
    root: dict[str, list] = {c: [] for c in CAMERAS}
    depth: dict[str, list] = {c: [] for c in CAMERAS}
    unsolved = dict.fromkeys(CAMERAS, 0)
    for i in range(frames):
        truth = true_hands(rhd, i)
        n_true += len(truth)
        frame = rhd.color(i)
        k = np.asarray(rhd.annotation(i)["K"], np.float64)       # the render's camera, in its frame's pixels
        own = estimator.settings.replace(intrinsics=(float(k[0, 0]), float(k[1, 1]), float(k[0, 2]),
                                                     float(k[1, 2])))
        runs = {"true_intrinsics": estimator.estimate(frame, own).hands, "default_fov": estimator.estimate(frame).hands}
        found = runs["true_intrinsics"]
        tally.counts["reported_hands"] += len(found)
        pairs, far = match_hands([h.keypoints_2d for h in found], [h.uv for h in truth], max_fraction)
        tally.counts["too_far"] += far
        for a, b in pairs:
            t = truth[b].xyz.astype(np.float64)
            tally.add(found[a].keypoints_3d, t - t[0], found[a].side == HAND_SIDES[truth[b].side])
            for cam, hands in runs.items():
                xyz = hands[a].keypoints_3d_camera if len(hands) == len(found) else None
                if xyz is None:
                    unsolved[cam] += 1
                    continue
                root[cam].append(np.linalg.norm(xyz[0] - t[0]) * 1e3)
                depth[cam].append(abs(xyz[0, 2] - t[0, 2]) * 1e3)
        if (i + 1) % 50 == 0:
            log.info("%d / %d renders", i + 1, frames)
    return {"data": str(data), "frames": frames, "true_hands": n_true, **tally.report(),
            "root_mm": {c: summarise(v) for c, v in root.items()},
            "root_depth_mm": {c: summarise(v) for c, v in depth.items()}, "unsolved": unsolved}


def evaluate_3d(weights, labels=(), renders=None, limit: int | None = None, device="auto",
                max_fraction: float = 0.5) -> dict:
    """Both parts (either may be left out) -> the JSON report."""
    from handcam.estimator import HandPoseEstimator

    if not labels and renders is None:
        raise ValueError("nothing to evaluate: give --labels, --renders or both")
    records = photo_records(labels) if labels else None     # the inputs' errors before the (slow) estimator
    if renders is not None:
        from .rhd import RHD

        RHD(renders, "evaluation")
    if not Path(weights).is_file():
        raise ValueError(f"--weights {weights}: no such file")
    est = HandPoseEstimator.load(weights, device=device)
    t0 = time.perf_counter()
    s = est.settings
    report = {"weights": str(weights), "architecture": est.architecture.name, "limit": limit,
              "match_fraction": max_fraction,
              "settings": {"presence_threshold": s.presence_threshold, "fov_deg": s.fov_deg,
                           "bone_length_m": s.bone_length_m, "hand_size": getattr(s, "hand_size", None)},
              "photos": evaluate_photos(est, records, limit, max_fraction) if records else None,
              "renders": evaluate_renders(est, renders, limit, max_fraction) if renders is not None else None}
    report["seconds"] = round(time.perf_counter() - t0, 1)
    return report


def _cell(summary: dict) -> str:
    if summary["n"] == 0:
        return "-"
    return f"{summary['mean']:.1f} / {summary['median']:.1f} / {summary['p90']:.1f}"


def format_table(report: dict) -> str:
    """The report as text: per set, the counts and mean / median / p90 of each error (mm)."""
    lines = [f"weights {report['weights']} ({report['architecture']}); errors in mm as mean / median / p90"]
    for name in ("photos", "renders"):
        r = report[name]
        if r is None:
            continue
        where = ", ".join(r["labels"]) if name == "photos" else f"{r['data']} ({r['frames']} frames)"
        truth = r["teacher_hands"] if name == "photos" else r["true_hands"]
        lines.append(f"{name}: {where}: {truth} reference hands, {r['reported_hands']} reported, {r['matched']} "
                     f"matched ({r['same_side']} of the same side, {r['too_far']} pairs too far apart)")
        for a in ALIGNMENTS:
            lines.append(f"  {a + ' per joint':<34}{_cell(r['per_joint_mm'][a]):>24}   side right only "
                         f"{_cell(r['per_joint_mm_same_side'][a])}")
        if name == "renders":
            for cam in CAMERAS:
                lines.append(f"  {'root, ' + cam:<34}{_cell(r['root_mm'][cam]):>24}"
                             f"   depth {_cell(r['root_depth_mm'][cam])}   unsolved {r['unsolved'][cam]}")
    return "\n".join(lines)


@cli_main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.evaluate_3d", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", required=True, help="a handcam weights file (e.g. weights/handcam-lite.pt)")
    p.add_argument("--labels", nargs="+", default=[], metavar="LABELS.jsonl",
                   help="teacher labels of held-out photos, with keypoints_world (several files pool their photos)")
    p.add_argument("--renders", metavar="DIR", help="an RHD-layout folder whose evaluation split holds held-out "
                   "renders (python -m training.synth --set evaluation)")
    p.add_argument("--limit", type=int, help="only the first N photos (pooled over --labels) and the first N renders")
    p.add_argument("--match-fraction", type=float, default=0.5, help="a reported hand and a reference hand match "
                   "when their 2D centres are at most this fraction of the reference hand's 2D size apart "
                   "(default 0.5)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="auto = CUDA if available")
    p.add_argument("--json", metavar="OUT.json", help="also write the report to this JSON file")
    args = p.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be at least 1, got {args.limit}")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    report = evaluate_3d(args.weights, args.labels, args.renders, args.limit, args.device, args.match_fraction)
    publish(report, format_table(report), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
