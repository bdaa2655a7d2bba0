"""``python -m training.calibrate --weights W.pt --labels LABELS.jsonl... --hand-free DIR... --out OUT.pt``:
make a weights file's presence score a calibrated probability.

HandSegNet's peak hand probability separates photos with and without a hand well but is not a
probability: on faces it often peaks above 0.5. Platt's scaling fits ``presence = sigmoid(a * logit(peak)
+ b)`` by maximum likelihood on photos known to hold a hand (the teacher found one: ``--labels``) and
photos known not to (``--hand-free``), and stores ``a b`` in the file's metadata
(``presence_calibration``), which the estimator applies (``handcam.stages.segment.calibrated_presence``).
A ``presence_threshold`` of 0.5 then sits where a hand and no hand are equally likely among such photos.
The command prints the expected calibration error before and after.

With ``--keep-hands Q`` it also sets the keypoint-score floor (``min_keypoint_score``): with the calibrated
presence and the default settings, the mean keypoint score of every reported hand that lies on a teacher
hand, and the floor is the largest score that keeps the share Q of them (``keypoint_floor``). A mask over a
bare forearm, a lamp or a chair passes the presence test but gives a crop in which PoseNet finds no hand's
keypoints; the floor drops such hands. The share of hand-free photos still reported is printed.

Calibrate on photos the evaluation does not use (e.g. the ``train`` split; its numbers are then measured
on ``test``).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

from handcam.estimator import KEYPOINT_SCORE_KEY, PRESENCE_CALIBRATION_KEY, HandPoseEstimator
from handcam.settings import PipelineSettings
from handcam.sources import image_files, load_image
from handcam.weights import load_weights, save_weights

from .errors import TrainingError, cli_main
from .labels import read_labels, resolve_image

log = logging.getLogger(__name__)


def logit(p) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def fit_platt(x, y, iterations: int = 100) -> tuple[float, float]:
    """(a, b) maximising the likelihood of labels ``y`` (0/1) under ``sigmoid(a * x + b)`` (Newton's method
    with a small ridge, so that separable data still gives finite numbers)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 2 or len({*y.tolist()}) != 2:
        raise TrainingError("calibration needs photos of both kinds (with and without a hand)")
    X = np.stack([x, np.ones_like(x)], 1)
    w = np.array([1.0, 0.0])
    ridge = 1e-3 * np.eye(2)
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-(X @ w)))
        grad = X.T @ (p - y) + ridge @ w
        hess = (X * (p * (1 - p))[:, None]).T @ X + ridge
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return float(w[0]), float(w[1])


def expected_calibration_error(p, y, bins: int = 10) -> float:
    """Sum over equal-width bins of |mean score - fraction of hands| weighted by the bin's share."""
    p, y = np.asarray(p, np.float64), np.asarray(y, np.float64)
    idx = np.minimum((p * bins).astype(int), bins - 1)
    err = 0.0
    for k in range(bins):
        sel = idx == k
        if sel.any():
            err += sel.mean() * abs(p[sel].mean() - y[sel].mean())
    return float(err)


def peaks(estimator, paths) -> np.ndarray:
    """The uncalibrated presence (peak hand probability) of each photo."""
    out = []
    for n, path in enumerate(paths, 1):
        out.append(estimator.estimate(load_image(path), with_mask=False, with_crop=False).hands[0].presence)
        if n % 200 == 0:
            log.info("%d / %d photos", n, len(paths))
    return np.array(out)


def keypoint_floor(scores, keep: float) -> float:
    """The largest mean-keypoint-score floor that keeps the share ``keep`` of hands whose mean scores are
    ``scores`` (the (1 - keep) quantile, rounded down to 1e-3, at least 0)."""
    scores = np.sort(np.asarray(scores, np.float64))
    if not len(scores):
        raise TrainingError("no reported hand lies on a teacher hand: the keypoint-score floor cannot be set")
    if not (0.0 < keep <= 1.0):
        raise TrainingError(f"--keep-hands must be in (0, 1], got {keep}")
    dropped = int(np.floor((1.0 - keep) * len(scores) + 1e-9))     # hands the floor may drop
    return max(0.0, float(np.floor(scores[dropped] * 1000) / 1000))


def hand_scores(estimator, photos: list[tuple[Path, list]], hand_free: list[Path]) -> tuple[np.ndarray, list]:
    """The mean keypoint score of every reported hand whose keypoints' centre lies in a teacher hand's
    keypoint box (``photos``: (path, teacher hands)), and per hand-free photo the mean scores of its hands."""
    on_hands = []
    for n, (path, teacher) in enumerate(photos, 1):
        boxes = [np.r_[np.min(h["keypoints_2d"], 0), np.max(h["keypoints_2d"], 0)] for h in teacher]
        for hand in estimator.estimate(load_image(path), with_mask=False, with_crop=False).hands:
            c = np.asarray(hand.keypoints_2d).mean(0)
            if any(b[0] <= c[0] <= b[2] and b[1] <= c[1] <= b[3] for b in boxes):
                on_hands.append(float(np.mean(hand.keypoint_scores)))
        if n % 200 == 0:
            log.info("%d / %d photos", n, len(photos))
    free = [[float(np.mean(h.keypoint_scores)) for h in estimator.estimate(load_image(p)).hands]
            for p in hand_free]
    return np.array(on_hands), free


def calibrate(weights, labels, hand_free, out, device: str = "cpu", keep_hands: float | None = None) -> dict:
    """Fit the calibration on the photos, write ``out`` (``weights`` plus the calibration and, with
    ``keep_hands``, the keypoint-score floor), return a report."""
    positives, labelled = [], []
    for lab in labels:
        lab = Path(lab)
        try:
            records = read_labels(lab)
        except ValueError as e:
            raise TrainingError(str(e)) from None
        labelled += [(resolve_image(r["image"], lab), r["hands"]) for r in records if r["hands"]]
    positives = [p for p, _ in labelled]
    for d in hand_free:
        if not Path(d).is_dir():
            raise TrainingError(f"--hand-free {d} is not a folder; write it with python -m training.handfree")
    negatives = [p for d in hand_free for p in image_files(Path(d))]
    if not positives or not negatives:
        raise TrainingError(f"calibration needs photos with hands (--labels: {len(positives)}) and without "
                            f"(--hand-free: {len(negatives)})")
    # the release's settings: one hand per photo, always reported, its presence the frame's peak
    est = HandPoseEstimator.load(weights, device=device, settings=PipelineSettings.release())
    est.presence_calibration = None          # the raw peak is what is calibrated
    x = logit(np.concatenate([peaks(est, positives), peaks(est, negatives)]))
    y = np.concatenate([np.ones(len(positives)), np.zeros(len(negatives))])
    a, b = fit_platt(x, y)
    if not a > 0:
        raise TrainingError(f"the peak does not rise with a hand on these photos (a = {a:.3g}): these weights do "
                            f"not tell them apart, so no calibration was written")
    before = 1 / (1 + np.exp(-x))
    after = 1 / (1 + np.exp(-(a * x + b)))
    state, meta = load_weights(weights)
    arch = meta.pop("architecture", "paper")
    meta[PRESENCE_CALIBRATION_KEY] = f"{a:.9g} {b:.9g}"
    meta["presence_calibrated_on"] = f"{len(positives)} photos with hands, {len(negatives)} without"
    floor = {}
    if keep_hands is not None:
        # the calibrated presence, the default settings, every hand the mask finds: the floor's evidence
        est = HandPoseEstimator.load(weights, device=device, settings=PipelineSettings(min_keypoint_score=0.0))
        est.presence_calibration = (a, b)
        on_hands, free = hand_scores(est, labelled, negatives)
        value = keypoint_floor(on_hands, keep_hands)
        meta[KEYPOINT_SCORE_KEY] = f"{value:.3f}"
        floor = {"keypoint_floor": value, "hands_scored": len(on_hands),
                 "hands_kept_by_floor": float(np.mean(on_hands >= value)),
                 "hand_free_with_hand_before_floor": float(np.mean([len(f) > 0 for f in free])),
                 "hand_free_with_hand_after_floor": float(np.mean([any(s >= value for s in f) for f in free]))}
    save_weights(out, state, meta, architecture=arch)
    return {**floor, "a": a, "b": b, "positives": len(positives), "negatives": len(negatives),
            "ece_before": expected_calibration_error(before, y), "ece_after": expected_calibration_error(after, y),
            "peak_at_presence_0.5": float(1 / (1 + np.exp(b / a))),
            "hand_free_reported_before": float(np.mean(before[y == 0] >= 0.5)),
            "hand_free_reported_after": float(np.mean(after[y == 0] >= 0.5)),
            "hands_kept_after": float(np.mean(after[y == 1] >= 0.5))}


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[1].replace("\n", " "),
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--weights", required=True, help="the weights file to calibrate")
    p.add_argument("--labels", nargs="+", required=True, help="teacher labels of photos with hands "
                   "(python -m training.teacher); photos where the teacher found none are left out")
    p.add_argument("--hand-free", nargs="+", required=True, metavar="DIR", help="folders of photos without hands "
                   "(python -m training.handfree)")
    p.add_argument("--out", required=True, help="the calibrated weights file (may be --weights itself)")
    p.add_argument("--keep-hands", type=float, default=None, metavar="Q", help="also set the keypoint-score floor "
                   "(min_keypoint_score) to the largest mean keypoint score that keeps the share Q (e.g. 0.99) of "
                   "the reported hands lying on teacher hands (default: no floor)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    return p


@cli_main
def main(argv=None) -> int:
    args = build_parser("python -m training.calibrate").parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    r = calibrate(args.weights, args.labels, args.hand_free, args.out, args.device, args.keep_hands)
    print(f"presence = sigmoid({r['a']:.4f} * logit(peak) + {r['b']:.4f}) on {r['positives']} photos with hands "
          f"and {r['negatives']} without; 0.5 now means a peak of {r['peak_at_presence_0.5']:.3f}")
    print(f"expected calibration error {r['ece_before']:.3f} -> {r['ece_after']:.3f}; hand-free photos reported "
          f"{r['hand_free_reported_before']:.3f} -> {r['hand_free_reported_after']:.3f}; hands kept "
          f"{r['hands_kept_after']:.3f}")
    if "keypoint_floor" in r:
        print(f"keypoint-score floor {r['keypoint_floor']:.3f}: keeps {r['hands_kept_by_floor']:.3f} of "
              f"{r['hands_scored']} hands on teacher hands; hand-free photos with a hand "
              f"{r['hand_free_with_hand_before_floor']:.3f} -> {r['hand_free_with_hand_after_floor']:.3f}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
