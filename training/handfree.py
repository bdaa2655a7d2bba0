"""``python -m training.handfree --labels LABELS.jsonl [--boxes BOXES.json] --out DIR``: photos without
hands, cut from photos with hands.

Real webcam frames without a hand (a face, a room, a shirt) are what a hand detector must learn to
leave alone, and there is no such set here; but the photos with hands mostly show much else. For every
labelled photo this cuts the largest window of the frame's aspect ratio that keeps clear of every hand
— the teacher's hands (their keypoints' box) and the human boxes, each grown by ``--margin`` of its
size — and writes it when it is at least ``--min-fraction`` of the frame's width. Cut from a split's
photos, the windows belong to that split (``subhih/train`` for training, ``subhih/test`` to measure
how often a hand is reported where there is none).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import cv2
import numpy as np

from .errors import TrainingError, cli_main
from .labels import boxes_for, read_boxes, read_labels, resolve_image

log = logging.getLogger(__name__)


def hand_boxes(record: dict, boxes: dict | None, margin: float) -> list[tuple[float, float, float, float]]:
    """Every hand of a record (teacher keypoints' boxes and the human boxes), grown by ``margin``."""
    out = []
    for h in record["hands"]:
        kp = np.asarray(h["keypoints_2d"], np.float64)
        out.append((*kp.min(0), *kp.max(0)))
    if boxes is not None:
        out += list(boxes_for(record["image"], boxes) or [])
    grown = []
    for x0, y0, x1, y1 in out:
        mx, my = (x1 - x0) * margin, (y1 - y0) * margin
        grown.append((x0 - mx, y0 - my, x1 + mx, y1 + my))
    return grown


def largest_free_window(size_wh: tuple[int, int], obstacles, steps: int = 24, min_fraction: float = 0.3):
    """The largest window (x0, y0, x1, y1), integer pixels, of the frame's aspect ratio inside the frame
    and overlapping none of ``obstacles``; None when none is at least ``min_fraction`` of the width.
    Widths are tried from the whole frame down in ``steps`` sizes, positions on a grid of 1/steps."""
    w, h = size_wh
    obs = np.asarray(obstacles, np.float64).reshape(-1, 4)
    for frac in np.linspace(1.0, min_fraction, steps):
        ww, hh = int(w * frac), int(h * frac)
        xs = np.linspace(0, w - ww, steps).astype(int)
        ys = np.linspace(0, h - hh, steps).astype(int)
        gx, gy = np.meshgrid(xs, ys)
        x0, y0 = gx.ravel()[:, None], gy.ravel()[:, None]
        clear = ~((x0 < obs[:, 2]) & (x0 + ww > obs[:, 0]) & (y0 < obs[:, 3]) & (y0 + hh > obs[:, 1])).any(1)
        if clear.any():
            k = int(np.flatnonzero(clear)[len(np.flatnonzero(clear)) // 2])  # the middle of the clear ones
            return int(x0[k, 0]), int(y0[k, 0]), int(x0[k, 0]) + ww, int(y0[k, 0]) + hh
    return None


def _photos(labels: Path, numbered, box_map, margin: float):
    """For each (number, record) of ``numbered``: (number, record, image path, BGR image, every hand's box
    grown by ``margin``); a photo that cannot be read is a TrainingError naming the labels file."""
    for n, rec in numbered:
        path = resolve_image(rec["image"], labels)
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise TrainingError(f"cannot read {path} (named by {labels})")
        yield n, rec, path, img, hand_boxes(rec, box_map, margin)


def _write_window(img: np.ndarray, win, dest: Path) -> Path:
    x0, y0, x1, y1 = win
    cv2.imwrite(str(dest), img[y0:y1, x0:x1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    return dest


def cut_hand_free(labels, out, boxes=None, margin: float = 0.15, min_fraction: float = 0.3) -> list[Path]:
    """Write the hand-free windows of every photo of ``labels`` into ``out``; returns their paths."""
    labels = Path(labels)
    records = read_labels(labels)
    box_map = read_boxes(boxes) if boxes else None
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for n, _, path, img, obstacles in _photos(labels, enumerate(records), box_map, margin):
        h, w = img.shape[:2]
        win = largest_free_window((w, h), obstacles, min_fraction=min_fraction)
        if win is not None:
            written.append(_write_window(img, win, out / f"{n:06d}_{path.stem}.jpg"))
    log.info("%d of %d photos gave a hand-free window", len(written), len(records))
    return written


def forearm_window(hand: dict, obstacles, size_wh: tuple[int, int], reach=(1.6, 2.2, 2.8),
                   side: float = 2.2, min_inside: float = 0.7):
    """The square window (x0, y0, x1, y1), integer pixels, on ``hand``'s forearm: centred past its wrist
    (teacher keypoint 0) along the middle MCP -> wrist direction, ``reach`` palm lengths from the wrist (the
    first that is clear), ``side`` palm lengths wide; None when each overlaps an obstacle (every hand's box)
    or keeps less than ``min_inside`` of its area in the frame. What it shows is what a hand detector must
    not call a hand: the arm without its hand."""
    kp = np.asarray(hand["keypoints_2d"], np.float64)
    wrist, mcp = kp[0], kp[12]
    length = float(np.linalg.norm(wrist - mcp))
    if length < 4:
        return None
    d = (wrist - mcp) / length
    w, h = size_wh
    obs = np.asarray(obstacles, np.float64).reshape(-1, 4)
    half = side * length / 2
    for r in reach:
        cx, cy = wrist + d * r * length
        x0, y0, x1, y1 = cx - half, cy - half, cx + half, cy + half
        if ((x0 < obs[:, 2]) & (x1 > obs[:, 0]) & (y0 < obs[:, 3]) & (y1 > obs[:, 1])).any():
            continue
        ix0, iy0, ix1, iy1 = max(0, int(x0)), max(0, int(y0)), min(w, int(np.ceil(x1))), min(h, int(np.ceil(y1)))
        if ix1 - ix0 < 8 or iy1 - iy0 < 8 or (ix1 - ix0) * (iy1 - iy0) < min_inside * (2 * half) ** 2:
            continue
        return ix0, iy0, ix1, iy1
    return None


def cut_forearms(labels, out, boxes=None, margin: float = 0.15) -> list[Path]:
    """Write one forearm window (:func:`forearm_window`) per teacher hand of ``labels`` into ``out``, clear of
    every hand (teacher hands and human boxes grown by ``margin``); returns their paths."""
    labels = Path(labels)
    box_map = read_boxes(boxes) if boxes else None
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with_hands = ((n, r) for n, r in enumerate(read_labels(labels)) if r["hands"])
    for n, rec, path, img, obstacles in _photos(labels, with_hands, box_map, margin):
        for j, hand in enumerate(rec["hands"]):
            win = forearm_window(hand, obstacles, (img.shape[1], img.shape[0]))
            if win is not None:
                written.append(_write_window(img, win, out / f"{n:06d}_{j}_{path.stem}.jpg"))
    log.info("%d forearm windows from %s", len(written), labels)
    return written


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[1].replace("\n", " "),
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--labels", required=True, help="teacher labels of the photos (python -m training.teacher)")
    p.add_argument("--boxes", help="human hand boxes of the same photos (e.g. real_train/subhih/boxes.json)")
    p.add_argument("--out", required=True, help="folder for the hand-free windows (JPEG)")
    p.add_argument("--margin", type=float, default=0.15, help="grow every hand box by this fraction of its size")
    p.add_argument("--min-fraction", type=float, default=0.3, help="smallest window, as a fraction of the width")
    p.add_argument("--forearms", action="store_true", help="instead, one window per hand on its forearm, past the "
                   "wrist and clear of every hand: the arm without its hand")
    return p


@cli_main
def main(argv=None) -> int:
    args = build_parser("python -m training.handfree").parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        if args.forearms:
            written = cut_forearms(args.labels, args.out, args.boxes, args.margin)
        else:
            written = cut_hand_free(args.labels, args.out, args.boxes, args.margin, args.min_fraction)
    except ValueError as e:
        raise TrainingError(str(e)) from None
    print(f"{len(written)} hand-free photos in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
