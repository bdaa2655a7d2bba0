"""Teacher labels for real photos: MediaPipe Hands 0.10.21 run over folders of images, written as
JSON lines of up to two hands per image in handcam's conventions (RHD keypoint order, true sides).

MediaPipe needs ``numpy<2``, so this command runs in a venv of its own (torch is not needed there):

    python3 -m venv ../mp_venv && ../mp_venv/bin/pip install mediapipe==0.10.21
    ../mp_venv/bin/python -m training.teacher --images ../shared/data/real_train/subhih/train --out LABELS.jsonl

One line per image: ``{"image": path, "size": [W, H], "hands": [{"side", "side_score",
"keypoints_2d" (21 x (x, y) pixels, RHD order: 0 wrist, then per finger tip -> base),
"keypoints_z" (21, MediaPipe's relative depth in x-pixel units), "keypoints_world" (21 x 3 metres,
hand-centred, RHD order)}]}``; hands whose handedness score is below ``--min-score`` are dropped
(the image stays, with the hands that are left). ``--masks DIR`` also derives a mask per image from
the keypoints (``derive_mask``: the palm polygon and finger bones, refined in colour by GrabCut, an
ignore band at the border) and adds ``"mask": path`` to its record.

Conventions converted here (the pure functions below are what the tests check):
- order: MediaPipe numbers each finger from its root to its tip (1-4 thumb CMC, MCP, IP, tip; 5-8
  index MCP, PIP, DIP, tip; ...), RHD from the tip down (thumb tip, IP, MCP, CMC; ...); keypoint 0 is
  the wrist in both (handcam's networks use the palm centre, which training computes from the wrist
  and the middle MCP, as for RHD's own labels).
- side: MediaPipe names handedness as if the image were mirrored (a selfie camera); for photos that
  are not mirrored (text in them reads normally) its "Left" is the person's right hand. ``--mirrored``
  keeps MediaPipe's names (for selfie-camera images).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

from handcam.sources import image_files

log = logging.getLogger(__name__)

NUM_KEYPOINTS = 21


def _rhd_from_mediapipe_index() -> np.ndarray:
    """``order[i]``: the MediaPipe landmark that is RHD keypoint ``i``."""
    order = [0]
    for finger in range(5):                 # thumb, index, middle, ring, little (same in both)
        root = 1 + 4 * finger               # MediaPipe: root (CMC / MCP) first
        order += [root + 3, root + 2, root + 1, root]   # RHD: tip first
    return np.asarray(order)


RHD_FROM_MEDIAPIPE = _rhd_from_mediapipe_index()


def mediapipe_to_rhd(points) -> np.ndarray:
    """(21, D) landmarks in MediaPipe's order -> (21, D) in RHD's."""
    points = np.asarray(points)
    if points.shape[0] != NUM_KEYPOINTS:
        raise ValueError(f"expected 21 landmarks, got {points.shape[0]}")
    return points[RHD_FROM_MEDIAPIPE]


def true_side(mediapipe_label: str, mirrored: bool = False) -> str:
    """The hand's side ('left'/'right') from MediaPipe's handedness label: swapped for images that
    are not mirrored (MediaPipe assumes a selfie view), kept for mirrored ones."""
    label = mediapipe_label.strip().lower()
    if label not in ("left", "right"):
        raise ValueError(f"unknown handedness label {mediapipe_label!r}")
    if mirrored:
        return label
    return "right" if label == "left" else "left"


def hand_record(landmarks_xyz, world_xyz, label: str, score: float, size_wh, mirrored: bool = False) -> dict:
    """One hand's JSON record from MediaPipe's normalised landmarks (21 x 3: x, y in [0, 1] of the
    image, z relative), its world landmarks (21 x 3 m) and its handedness."""
    w, h = size_wh
    lm = mediapipe_to_rhd(np.asarray(landmarks_xyz, np.float64))
    world = mediapipe_to_rhd(np.asarray(world_xyz, np.float64))
    return {
        "side": true_side(label, mirrored),
        "side_score": round(float(score), 5),
        "keypoints_2d": np.round(lm[:, :2] * (w, h), 2).tolist(),
        "keypoints_z": np.round(lm[:, 2] * w, 2).tolist(),
        "keypoints_world": np.round(world, 5).tolist(),
    }


def list_images(folders) -> list[Path]:
    out = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"--images {folder}: no such folder")
        out += image_files(folder, recursive=True)
    return out


def label_images(paths, min_score: float = 0.8, max_hands: int = 2, mirrored: bool = False,
                 min_detection: float = 0.5):
    """Yield one record per image (MediaPipe imported here: only this function needs it)."""
    import cv2
    import mediapipe as mp

    with mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=max_hands, model_complexity=1,
                                  min_detection_confidence=min_detection) as hands:
        for path in paths:
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if bgr is None:
                log.warning("%s: not a readable image, skipped", path)
                continue
            h, w = bgr.shape[:2]
            res = hands.process(np.ascontiguousarray(bgr[:, :, ::-1]))
            found = []
            for lm, world, cls in zip(res.multi_hand_landmarks or [], res.multi_hand_world_landmarks or [],
                                      res.multi_handedness or []):
                c = cls.classification[0]
                if c.score < min_score:
                    continue
                found.append(hand_record([(p.x, p.y, p.z) for p in lm.landmark],
                                         [(p.x, p.y, p.z) for p in world.landmark],
                                         c.label, c.score, (w, h), mirrored))
            yield {"image": str(path), "size": [w, h], "hands": found}


#: Values of a derived mask: background, the two sides, and pixels to ignore in a loss.
MASK_BACKGROUND, MASK_LEFT, MASK_RIGHT, MASK_IGNORE = 0, 1, 2, 255
#: Palm polygon: the wrist, the thumb's CMC and the four finger MCPs (RHD indices).
PALM = (0, 4, 8, 12, 16, 20)


def _bones():
    from handcam.skeleton import BONES

    return BONES


def skeleton_mask(shape_hw, keypoints_xy, width: float) -> np.ndarray:
    """uint8 0/1: the palm polygon plus each bone drawn ``width`` pixels thick (the hand's rough
    shape from its 21 keypoints, RHD order with the wrist at 0)."""
    import cv2

    mask = np.zeros(shape_hw, np.uint8)
    kp = np.round(np.asarray(keypoints_xy, np.float64)).astype(np.int32)
    cv2.fillConvexPoly(mask, cv2.convexHull(kp[list(PALM)]), 1)
    w = max(1, int(round(width)))
    for a, b in _bones():
        if a == 0:
            continue  # root -> base bones lie inside the palm
        cv2.line(mask, tuple(map(int, kp[a])), tuple(map(int, kp[b])), 1, w, cv2.LINE_8)
    for p in kp:
        cv2.circle(mask, tuple(map(int, p)), w // 2, 1, -1)
    return mask


def hand_width(keypoints_xy) -> float:
    """A finger's width in pixels: a fifth of the palm's span (wrist -> middle MCP and index MCP ->
    little MCP), at least 3 px."""
    kp = np.asarray(keypoints_xy, np.float64)
    span = max(np.linalg.norm(kp[12] - kp[0]), np.linalg.norm(kp[8] - kp[20]))
    return max(3.0, 0.22 * span)


def derive_mask(image_rgb: np.ndarray, hands, grabcut_iterations: int = 3, band: float = 0.25) -> np.ndarray:
    """A hand mask for a photo from teacher keypoints: per hand, the skeleton mask refined by GrabCut
    (sure hand: the thinned skeleton; sure background: beyond a finger's width from it; GrabCut decides
    in between, in colour), kept within that reach, labelled by side (MASK_LEFT / MASK_RIGHT). Pixels
    within ``band`` finger widths of a hand's border, and where two hands claim the same pixel, are
    MASK_IGNORE (the labels are least sure there)."""
    import cv2

    h, w = image_rgb.shape[:2]
    out = np.zeros((h, w), np.uint8)
    claimed = np.zeros((h, w), np.uint8)
    bgr = np.ascontiguousarray(image_rgb[:, :, ::-1])
    for hand in hands:
        kp = np.asarray(hand["keypoints_2d"], np.float64)
        fw = hand_width(kp)
        rough = skeleton_mask((h, w), kp, fw)
        k = lambda r: cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * int(r) + 1, 2 * int(r) + 1))  # noqa: E731
        reach = cv2.dilate(rough, k(fw))
        sure = cv2.erode(skeleton_mask((h, w), kp, max(1.0, 0.5 * fw)), k(1))
        gc = np.where(reach > 0, cv2.GC_PR_BGD, cv2.GC_BGD).astype(np.uint8)
        gc[rough > 0] = cv2.GC_PR_FGD
        gc[sure > 0] = cv2.GC_FGD
        ys, xs = np.nonzero(reach)
        if len(xs) == 0:
            continue
        pad = int(2 * fw)
        y0, y1 = max(0, ys.min() - pad), min(h, ys.max() + pad + 1)
        x0, x1 = max(0, xs.min() - pad), min(w, xs.max() + pad + 1)
        sub = gc[y0:y1, x0:x1].copy()
        try:
            bg_model, fg_model = np.zeros((1, 65)), np.zeros((1, 65))
            cv2.grabCut(bgr[y0:y1, x0:x1], sub, None, bg_model, fg_model, grabcut_iterations, cv2.GC_INIT_WITH_MASK)
            hand_px = np.zeros((h, w), np.uint8)
            hand_px[y0:y1, x0:x1] = np.isin(sub, (cv2.GC_FGD, cv2.GC_PR_FGD))
        except cv2.error:  # GrabCut needs both classes in the window: keep the skeleton mask
            hand_px = rough.copy()
        hand_px &= reach
        hand_px |= sure
        # the largest connected piece touching the sure part (drops stray skin-coloured blobs)
        n, labels = cv2.connectedComponents(hand_px)
        keep = np.unique(labels[(sure > 0) & (labels > 0)])
        hand_px = np.isin(labels, keep).astype(np.uint8)
        edge = cv2.morphologyEx(hand_px, cv2.MORPH_GRADIENT, k(max(1, band * fw)))
        value = MASK_LEFT if hand["side"] == "left" else MASK_RIGHT
        out[(hand_px > 0) & (claimed == 0)] = value
        out[(hand_px > 0) & (claimed > 0)] = MASK_IGNORE
        out[edge > 0] = MASK_IGNORE
        claimed |= hand_px
    return out


def write_mask(record: dict, path: Path) -> Path:
    """``derive_mask`` of a record's image, written as an 8-bit PNG."""
    import cv2

    image = cv2.imread(record["image"], cv2.IMREAD_COLOR)[:, :, ::-1]
    if not cv2.imwrite(str(path), derive_mask(image, record["hands"])):
        raise OSError(f"cannot write {path}")
    return path


def contact_sheet(records, out, count: int = 24, cols: int = 6, tile: int = 220, seed: int = 0) -> Path:
    """A grid of ``count`` labelled images (picked at random with ``seed``): each hand's skeleton in
    the release's colours and its side ('L'/'R', as converted) by the wrist."""
    import cv2

    from handcam.draw import draw_skeleton

    records = [r for r in records if r["hands"]]
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(records), size=min(count, len(records)), replace=False) if records else []
    rows = max(1, -(-len(pick) // cols))
    sheet = np.full((rows * tile, cols * tile, 3), 255, np.uint8)
    for n, i in enumerate(pick):
        r = records[int(i)]
        img = cv2.imread(r["image"], cv2.IMREAD_COLOR)[:, :, ::-1]
        s = tile / max(img.shape[:2])
        img = np.ascontiguousarray(cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)),
                                              interpolation=cv2.INTER_AREA))
        for hand in r["hands"]:
            kp = np.asarray(hand["keypoints_2d"]) * s
            img = draw_skeleton(img, kp, thickness=1)
            x, y = (int(v) for v in kp[0])
            cv2.putText(img, hand["side"][0].upper(), (x + 3, y - 3), cv2.FONT_HERSHEY_SIMPLEX, 0.6,
                        (255, 0, 255), 2, cv2.LINE_AA)
        y0, x0 = (n // cols) * tile, (n % cols) * tile
        sheet[y0:y0 + img.shape[0], x0:x0 + img.shape[1]] = img
    out = Path(out)
    if not cv2.imwrite(str(out), sheet[:, :, ::-1]):
        raise OSError(f"cannot write {out}")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.teacher", description=__doc__.split("\n\n")[0])
    p.add_argument("--images", nargs="+", required=True, metavar="DIR",
                   help="folders of images (searched recursively for .jpg/.png/...)")
    p.add_argument("--out", required=True, metavar="LABELS.jsonl", help="where the labels go (JSON lines)")
    p.add_argument("--min-score", type=float, default=0.8,
                   help="drop hands whose handedness score is below this (default 0.8)")
    p.add_argument("--max-hands", type=int, default=2, help="hands per image at most (default 2)")
    p.add_argument("--min-detection", type=float, default=0.5,
                   help="MediaPipe's min_detection_confidence (default 0.5)")
    p.add_argument("--mirrored", action="store_true",
                   help="the images are mirrored (selfie camera): keep MediaPipe's side names")
    p.add_argument("--sheet", metavar="OUT.png", help="also write a contact sheet of 24 labelled images")
    p.add_argument("--masks", metavar="DIR", help="also derive a hand mask per image (derive_mask: 0 background, "
                   "1 left, 2 right, 255 ignore) into DIR/NNNNNN.png; each record names its mask")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        paths = list_images(args.images)
        out = Path(args.out)
        if not out.parent.is_dir():
            raise FileNotFoundError(f"--out {out}: the folder {out.parent} does not exist")
        if args.masks and not Path(args.masks).is_dir():
            raise FileNotFoundError(f"--masks {args.masks}: no such folder")
        n_img = n_hands = 0
        with open(out, "w", encoding="utf-8") as f:
            for record in label_images(paths, args.min_score, args.max_hands, args.mirrored, args.min_detection):
                if args.masks:
                    record["mask"] = str(write_mask(record, Path(args.masks) / f"{n_img:06d}.png"))
                f.write(json.dumps(record, separators=(",", ":")) + "\n")
                n_img += 1
                n_hands += len(record["hands"])
        if args.sheet:
            records = [json.loads(line) for line in out.read_text().splitlines()]
            print(f"wrote {contact_sheet(records, args.sheet)}")
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except ImportError as e:
        print(f"error: {e}; run this command in the MediaPipe venv (see --help)", file=sys.stderr)
        return 2
    print(f"{n_img} images, {n_hands} hands -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
