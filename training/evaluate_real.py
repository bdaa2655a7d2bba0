"""``python -m training.evaluate_real --weights W.pt --labels LABELS.jsonl [...] [--boxes BOXES.json]
[--hand-free DIR ...] [--synthetic RENDERS_DIR] [--presence-threshold T] [--device cpu] [--json OUT.json]``

Any handcam weights file on real photos: the teacher's labels (``training/teacher.py``'s JSONL), the
human-drawn hand boxes, and photos without hands. A predicted hand is *reported* when its
``presence >= --presence-threshold``. The metrics (pure functions below):

recall / precision   detection against the human boxes (``--boxes``): a reported hand's centre (the
                     middle of its keypoints' bounding box) inside a box is a hit; each box is matched at
                     most once (greedily, nearest box centre first). recall = matched boxes / boxes,
                     precision = matched reported hands / reported hands.
pck@0.1, pck@0.2     keypoint agreement with the teacher: reported hands matched one-to-one to teacher
                     hands by nearest centre (greedy); a keypoint agrees when it lies within 0.1 (0.2) of
                     the teacher hand's size (the longer side of its keypoints' bounding box); over all 21
                     keypoints of the matched hands. The teacher's keypoint 0 is RHD's *wrist*, handcam's
                     is the *palm centre* (midpoint of the wrist and the middle MCP, ``PALM_FROM``), so the
                     teacher's keypoint 0 is converted to the palm (``teacher_to_palm``) before comparing;
                     centres and sizes are taken from the converted keypoints too.
handedness           matched hands whose ``side`` is the teacher's / matched hands.
hand_free_reported   ``--hand-free`` photos where any hand is reported / those photos (lower is better).
held-out renders     with ``--synthetic``: :mod:`training.evaluate`'s full-frame 2D AUC (0-30 px, palm ground
                     truth, the frame's own pixels) and 3D AUC (0-50 mm, root-relative, visible keypoints).

A metric whose denominator is zero (or whose input was not given) is ``None`` (``null`` in the JSON).
Box keys are paths relative to the box file's folder (``"test/NAME.jpg"``); a labelled image takes the
entry whose key is the longest suffix of its path; images without an entry have no boxes.
"""
from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from handcam.settings import PipelineSettings
from handcam.skeleton import NUM_KEYPOINTS
from handcam.sources import IMAGE_SUFFIXES, image_files

from .errors import cli_main
from .labels import (
    boxes_for,
    read_boxes,
    read_label_files,
    read_labels,  # noqa: F401  (re-exported: training.evaluate_real.read_labels)
    resolve_image,
    teacher_to_palm,
)
from .report import publish

log = logging.getLogger(__name__)

PCK_THRESHOLDS = (0.1, 0.2)
METRICS = ("recall", "precision", "pck@0.1", "pck@0.2", "handedness", "hand_free_reported")


# ----------------------------------------------------------------------------------------------
# pure metric functions
# ----------------------------------------------------------------------------------------------
def keypoints_center(keypoints) -> np.ndarray:
    """The middle (x, y) of the keypoints' bounding box."""
    kp = np.asarray(keypoints, dtype=np.float64)
    return (kp.min(axis=0) + kp.max(axis=0)) / 2


def hand_size(keypoints) -> float:
    """The longer side of the keypoints' bounding box."""
    kp = np.asarray(keypoints, dtype=np.float64)
    return float((kp.max(axis=0) - kp.min(axis=0)).max())


def _inside(point, box) -> bool:
    x0, y0, x1, y1 = box
    return bool(x0 <= point[0] <= x1 and y0 <= point[1] <= y1)


def match_centers_to_boxes(centers, boxes) -> list[tuple[int, int]]:
    """Greedy one-to-one (centre index, box index) pairs, a centre only to a box (x0, y0, x1, y1) that
    contains it, closest (centre, box centre) pairs first."""
    pairs = []
    for i, c in enumerate(centers):
        for j, b in enumerate(boxes):
            if _inside(c, b):
                mid = ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)
                pairs.append((float(np.hypot(c[0] - mid[0], c[1] - mid[1])), i, j))
    return _greedy(pairs)


def match_nearest(centers_a, centers_b) -> list[tuple[int, int]]:
    """Greedy one-to-one (a index, b index) pairs by nearest centre (no distance limit)."""
    pairs = [(float(np.hypot(a[0] - b[0], a[1] - b[1])), i, j)
             for i, a in enumerate(centers_a) for j, b in enumerate(centers_b)]
    return _greedy(pairs)


def _greedy(pairs) -> list[tuple[int, int]]:
    used_i, used_j, out = set(), set(), []
    for _, i, j in sorted(pairs):
        if i not in used_i and j not in used_j:
            used_i.add(i)
            used_j.add(j)
            out.append((i, j))
    return sorted(out)


def detection_counts(centers, boxes) -> tuple[int, int, int]:
    """(matched, boxes, reported hands) of one image: ``centers`` of the reported hands, human ``boxes``."""
    return len(match_centers_to_boxes(centers, boxes)), len(boxes), len(centers)


def pck_hits(predicted, teacher_palm, thresholds=PCK_THRESHOLDS) -> list[int]:
    """For each threshold t: how many of the keypoints of ``predicted`` lie within t x ``hand_size`` of
    the teacher's (``teacher_palm``: already converted with ``teacher_to_palm``)."""
    pred = np.asarray(predicted, dtype=np.float64)
    ref = np.asarray(teacher_palm, dtype=np.float64)
    dist = np.linalg.norm(pred - ref, axis=1)
    size = hand_size(ref)
    return [int((dist <= t * size).sum()) for t in thresholds]


def ratio(num: int, den: int) -> float | None:
    """num / den, or None when den is 0."""
    return num / den if den else None


@dataclass
class Tally:
    """The metrics' numerators and denominators, summed over images."""

    boxes_matched: int = 0
    boxes: int = 0
    reported_in_boxes: int = 0
    reported_vs_boxes: int = 0
    matched: int = 0
    pck: tuple = (0,) * len(PCK_THRESHOLDS)
    same_side: int = 0
    hand_free_reported: int = 0
    hand_free: int = 0
    images: int = 0
    with_boxes: int = 0

    def add_labelled(self, predicted: list[dict], teacher: list[dict], boxes=None) -> None:
        """One labelled image. ``predicted``: the reported hands as {"side", "keypoints_2d"};
        ``teacher``: the teacher's hands (keypoint 0 the wrist); ``boxes``: None when not known."""
        self.images += 1
        centers = [keypoints_center(h["keypoints_2d"]) for h in predicted]
        if boxes is not None:
            m, nb, nr = detection_counts(centers, boxes)
            self.boxes_matched += m
            self.boxes += nb
            self.reported_in_boxes += m
            self.reported_vs_boxes += nr
        palms = [teacher_to_palm(h["keypoints_2d"]) for h in teacher]
        for i, j in match_nearest(centers, [keypoints_center(p) for p in palms]):
            self.matched += 1
            self.pck = tuple(a + b for a, b in zip(self.pck, pck_hits(predicted[i]["keypoints_2d"], palms[j])))
            self.same_side += int(predicted[i]["side"] == teacher[j]["side"])

    def add_hand_free(self, reported: int) -> None:
        self.hand_free += 1
        self.hand_free_reported += int(reported > 0)

    def counts(self) -> dict[str, tuple[int, int]]:
        """metric -> (numerator, denominator)."""
        out = {"recall": (self.boxes_matched, self.boxes),
               "precision": (self.reported_in_boxes, self.reported_vs_boxes)}
        for t, hits in zip(PCK_THRESHOLDS, self.pck):
            out[f"pck@{t}"] = (hits, NUM_KEYPOINTS * self.matched)
        out["handedness"] = (self.same_side, self.matched)
        out["hand_free_reported"] = (self.hand_free_reported, self.hand_free)
        return out

    def metrics(self, with_boxes: bool = True) -> dict[str, float | None]:
        c = self.counts()
        out = {k: ratio(*v) for k, v in c.items()}
        if not with_boxes:
            out["recall"] = out["precision"] = None
        return out


# ----------------------------------------------------------------------------------------------
# reading the inputs
# ----------------------------------------------------------------------------------------------
def hand_free_images(dirs) -> list[Path]:
    out = []
    for d in dirs:
        d = Path(d)
        if not d.is_dir():
            raise ValueError(f"--hand-free {d}: not a directory")
        found = image_files(d)
        if not found:
            raise ValueError(f"--hand-free {d}: no images ({', '.join(IMAGE_SUFFIXES)}) in it")
        out += found
    return out


# ----------------------------------------------------------------------------------------------
# the run
# ----------------------------------------------------------------------------------------------
def reported_hands(est, frame, threshold: float) -> list[dict]:
    result = est.estimate(frame, with_mask=False, with_crop=False)
    return [{"side": h.side, "keypoints_2d": np.asarray(h.keypoints_2d, dtype=np.float64)}
            for h in result.hands if h.presence >= threshold]


def evaluate_real(weights, labels, boxes=None, hand_free=(), presence_threshold: float = 0.5,
                  device="auto", refine_crops: str = "auto", input_size: tuple[int, int] | None = None) -> dict:
    """Run ``weights`` over the labelled (and hand-free) images -> {"metrics", "counts", ...}. ``labels``:
    one teacher JSONL or several (their images pooled)."""
    from handcam.estimator import HandPoseEstimator
    from handcam.sources import load_image

    label_files = [Path(labels)] if isinstance(labels, (str, Path)) else [Path(p) for p in labels]
    records = read_label_files(label_files)
    box_map = read_boxes(boxes) if boxes is not None else None
    free = hand_free_images(hand_free)
    settings = PipelineSettings(presence_threshold=presence_threshold, refine_crops=refine_crops,
                                input_size=tuple(input_size) if input_size else None)
    est = HandPoseEstimator.load(weights, device=device, settings=settings)
    tally = Tally()
    for n, (r, labels_path) in enumerate(records, 1):
        img_boxes = None
        if box_map is not None:
            img_boxes = boxes_for(r["image"], box_map)
            tally.with_boxes += img_boxes is not None
            img_boxes = img_boxes or []
        frame = load_image(resolve_image(r["image"], labels_path))
        tally.add_labelled(reported_hands(est, frame, presence_threshold), r["hands"], img_boxes)
        if n % 50 == 0:
            log.info("%d / %d labelled images", n, len(records))
    if box_map is not None and tally.with_boxes == 0:
        raise ValueError(f"no labelled image has an entry in {boxes}; is it the boxes file of these images?")
    for p in free:
        tally.add_hand_free(len(reported_hands(est, load_image(p), presence_threshold)))
    return {"weights": str(weights), "architecture": est.architecture.name,
            "labels": ", ".join(str(p) for p in label_files), "refine_crops": refine_crops,
            "input_size": list(est.resolved().input_size),
            "boxes": None if boxes is None else str(boxes), "hand_free": [str(d) for d in hand_free],
            "presence_threshold": presence_threshold, "images": tally.images,
            "images_with_boxes": tally.with_boxes if box_map is not None else None,
            "hand_free_images": tally.hand_free, "matched_hands": tally.matched,
            "metrics": tally.metrics(with_boxes=box_map is not None),
            "counts": {k: list(v) for k, v in tally.counts().items()}}


def evaluate_synthetic(weights, data, device="auto", limit: int | None = None) -> dict:
    """The release's full-frame evaluations (:mod:`training.evaluate`) on a held-out rendered set (an RHD-
    layout folder's ``evaluation`` split): 2D (palm ground truth in the frame's own pixels, 0-30 px) and
    3D (root-relative mm with the true bone length, visible keypoints, 0-50 mm)."""
    from .evaluate import evaluate

    two = evaluate("full-2d", data, weights, device, 8, 0, limit)["corrected"]
    three = evaluate("full-3d", data, weights, device, 8, 0, limit)["release"]
    return {"data": str(data), "samples": two["samples"],
            "auc_2d": two["auc"], "median_2d_px": two["median_epe"],
            "auc_3d": three["auc"], "median_3d_mm": three["median_epe"]}


def format_table(report: dict) -> str:
    lines = [f"weights {report['weights']} ({report['architecture']}), presence >= {report['presence_threshold']}",
             f"{report['images']} labelled images"
             + (f" ({report['images_with_boxes']} with boxes)" if report["images_with_boxes"] is not None else "")
             + f", {report['hand_free_images']} hand-free, {report['matched_hands']} hands matched to the teacher",
             f"{'metric':<20}{'value':>8}{'count':>16}"]
    for k in METRICS:
        v = report["metrics"][k]
        num, den = report["counts"][k]
        value = "-" if v is None else f"{v:.3f}"
        count = "-" if v is None else f"{num}/{den}"
        lines.append(f"{k:<20}{value:>8}{count:>16}")
    syn = report.get("synthetic")
    if syn:
        lines.append(f"held-out renders ({syn['samples']} frames of {syn['data']}):")
        med2, med3 = f"median {syn['median_2d_px']:.2f} px", f"median {syn['median_3d_mm']:.1f} mm"
        lines.append(f"{'2D AUC 0-30 px':<20}{syn['auc_2d']:>8.3f}{med2:>16}")
        lines.append(f"{'3D AUC 0-50 mm':<20}{syn['auc_3d']:>8.3f}{med3:>16}")
    return "\n".join(lines)


@cli_main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.evaluate_real", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", required=True, help="a handcam weights file")
    p.add_argument("--labels", required=True, nargs="+", help="teacher labels (JSONL of training/teacher.py); "
                   "several files pool their images (e.g. a source's valid and test splits)")
    p.add_argument("--boxes", help="human hand boxes (JSON: relative image path -> [{box_xyxy}, ...])")
    p.add_argument("--hand-free", nargs="+", default=[], metavar="DIR", help="folders of photos without hands")
    p.add_argument("--presence-threshold", type=float, default=0.5, help="a hand is reported at presence >= T")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="auto = CUDA if available")
    p.add_argument("--refine-crops", default="auto", choices=["auto", "on", "off"], help="re-crop each hand around "
                   "its first keypoints when they disagree with its box (auto: as the weights file says)")
    p.add_argument("--input-size", type=int, nargs=2, metavar=("H", "W"), help="HandSegNet's input size (default: "
                   "the family's)")
    p.add_argument("--synthetic", metavar="DIR", help="also the full-frame 2D and 3D evaluation on the evaluation "
                   "split of this RHD-layout folder (held-out renders: python -m training.synth --set evaluation)")
    p.add_argument("--synthetic-limit", type=int, help="only the first N frames of --synthetic")
    p.add_argument("--json", help="also write the numbers to this JSON file")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    report = evaluate_real(args.weights, args.labels, args.boxes, args.hand_free, args.presence_threshold,
                           args.device, args.refine_crops, args.input_size)
    if args.synthetic:
        report["synthetic"] = evaluate_synthetic(args.weights, args.synthetic, args.device, args.synthetic_limit)
    publish(report, format_table(report), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
