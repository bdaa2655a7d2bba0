"""The release's evaluation measures: PCK curves, AUC, median and mean end-point error.

Definitions (as the authors' evaluation code computes them):

* errors are Euclidean distances per keypoint; only *visible* keypoints are collected;
* PCK of keypoint k at threshold t = fraction of its collected errors <= t, thresholds
  ``linspace(lo, hi, steps)`` (0-30 px in 2D, 0-50 mm in 3D, 20 steps);
* AUC of a curve = ``trapz(pck, t) / trapz(1, t)`` (area over the threshold range), averaged over the
  keypoints that have data; the reported PCK curve is the mean of the keypoints' curves;
* "median EPE" = mean over keypoints of each keypoint's median error; "mean EPE" = mean over keypoints
  of each keypoint's mean error.

The release's "AUC 20-50 mm" is the AUC of ``thresholds[8:]`` of 20 points in 0-50 mm, i.e.
21.05-50 mm; :func:`auc_subset` reproduces that and :func:`summarize` with ``lo=20`` gives the range
the name promises.
"""
from __future__ import annotations

import cv2
import numpy as np

_trapz = getattr(np, "trapezoid", None) or np.trapz


def distances(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """(N, K, D) x (N, K, D) -> (N, K) Euclidean distances."""
    return np.linalg.norm(np.asarray(gt, np.float64) - np.asarray(pred, np.float64), axis=-1)


def auc(thresholds: np.ndarray, curve: np.ndarray) -> float:
    """Area under a PCK curve normalised by the threshold range."""
    t = np.asarray(thresholds, np.float64)
    return float(_trapz(curve, t) / _trapz(np.ones_like(t), t))


def summarize(dist: np.ndarray, vis: np.ndarray | None = None, lo: float = 0.0, hi: float = 30.0,
              steps: int = 20) -> dict:
    """PCK/AUC/EPE over ``dist`` (N, K) counting only entries with ``vis`` (N, K) true.

    Returns a dict: thresholds, pck (mean curve), pck_per_keypoint (K x steps, NaN where a keypoint
    has no data), auc, median_epe, mean_epe, count (collected errors per keypoint).
    """
    dist = np.asarray(dist, np.float64)
    vis = np.ones_like(dist, bool) if vis is None else np.asarray(vis, bool)
    t = np.linspace(lo, hi, steps)
    k = dist.shape[1]
    per_kp = np.full((k, steps), np.nan)
    means, medians, aucs, counts = [], [], [], []
    for j in range(k):  # loop over 21 keypoints, vectorised over samples and thresholds
        d = dist[vis[:, j], j]
        counts.append(int(d.size))
        if d.size == 0:
            continue
        per_kp[j] = (d[:, None] <= t[None, :]).mean(0)
        means.append(d.mean())
        medians.append(np.median(d))
        aucs.append(auc(t, per_kp[j]))
    have = ~np.isnan(per_kp[:, 0])
    curve = per_kp[have].mean(0) if have.any() else np.full(steps, np.nan)
    nan = float("nan")
    return {
        "thresholds": t.tolist(),
        "pck": curve.tolist(),
        "pck_per_keypoint": per_kp.tolist(),
        "auc": float(np.mean(aucs)) if aucs else nan,
        "median_epe": float(np.mean(medians)) if medians else nan,
        "mean_epe": float(np.mean(means)) if means else nan,
        "count": counts,
    }


def auc_subset(summary: dict, start: int = 8) -> float:
    """AUC of the mean curve over ``thresholds[start:]`` (the release's "20-50 mm": 21.05-50 mm)."""
    t = np.asarray(summary["thresholds"])[start:]
    return auc(t, np.asarray(summary["pck"])[start:])


# ---------------------------------------------------------------- plots (OpenCV, no matplotlib)
_COLORS = [(200, 80, 30), (30, 140, 230), (40, 170, 60), (60, 60, 220), (150, 60, 150), (20, 20, 20)]


def plot_pck(curves: list[tuple[str, list, list]], path: str, xlabel: str = "threshold", title: str = "",
             size: tuple[int, int] = (640, 480)) -> None:
    """Draw PCK curves ``(label, thresholds, pck)`` into a PNG with OpenCV."""
    w, h = size
    img = np.full((h, w, 3), 255, np.uint8)
    left, r, t, b = 60, 20, 40, 50  # margins
    xs = [x for _, th, _ in curves for x in th]
    x0, x1 = (min(xs), max(xs)) if xs else (0.0, 1.0)
    x1 = x1 if x1 > x0 else x0 + 1

    def px(x, y):
        return (int(round(left + (x - x0) / (x1 - x0) * (w - left - r))), int(round(h - b - y * (h - t - b))))

    font = cv2.FONT_HERSHEY_SIMPLEX
    for i in range(6):  # grid and tick labels
        y = i / 5
        cv2.line(img, px(x0, y), px(x1, y), (225, 225, 225), 1)
        cv2.putText(img, f"{y:.1f}", (8, px(x0, y)[1] + 4), font, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        x = x0 + (x1 - x0) * i / 5
        cv2.line(img, px(x, 0), px(x, 1), (225, 225, 225), 1)
        cv2.putText(img, f"{x:g}", (px(x, 0)[0] - 10, h - b + 18), font, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.rectangle(img, px(x0, 1), px(x1, 0), (0, 0, 0), 1)
    cv2.putText(img, xlabel, (w // 2 - 40, h - 12), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, "PCK", (8, t - 12), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    if title:
        cv2.putText(img, title, (left + 60, t - 14), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    for i, (label, th, pck) in enumerate(curves):
        c = _COLORS[i % len(_COLORS)]
        pts = np.array([px(x, y) for x, y in zip(th, pck) if np.isfinite(y)], np.int32)
        if len(pts):
            cv2.polylines(img, [pts], False, c, 2, cv2.LINE_AA)
        ly = t + 18 + 18 * i  # legend top-left inside the axes
        cv2.line(img, (left + 10, ly), (left + 35, ly), c, 2)
        cv2.putText(img, label, (left + 40, ly + 4), font, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    if not cv2.imwrite(str(path), img):
        raise OSError(f"cannot write {path}")
