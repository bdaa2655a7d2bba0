"""Teacher labels and human boxes of real photos, as files: read once here for training
(:mod:`training.mixed`) and evaluation (:mod:`training.evaluate_real`).

A teacher JSONL (``python -m training.teacher``) has one record per image:
``{"image": PATH, "size": [W, H], "hands": [{"side", "side_score", "keypoints_2d" (21 x 2, RHD order,
keypoint 0 the wrist), "keypoints_world" (21 x 3 metres, same order; optional), ...}], "mask": PATH (with
--masks)}``; the boxes file maps ``"DIR/NAME.jpg"`` to ``[{"box_xyxy": [x0, y0, x1, y1]}, ...]``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from handcam.skeleton import NUM_KEYPOINTS, PALM_FROM


def _keypoints(value, dims: int = 2) -> np.ndarray:
    kp = np.asarray(value, dtype=np.float64)
    if kp.shape != (NUM_KEYPOINTS, dims):
        raise ValueError(f"expected {NUM_KEYPOINTS} x {dims} keypoints, got shape {kp.shape}")
    return kp


def _hand(h: dict) -> dict:
    """One hand of a label line: its side and 2D keypoints, and its world landmarks when the line has them."""
    hand = {"side": str(h["side"]), "keypoints_2d": _keypoints(h["keypoints_2d"])}
    if h.get("keypoints_world") is not None:
        hand["keypoints_world"] = _keypoints(h["keypoints_world"], 3)
    return hand


def teacher_to_palm(keypoints) -> np.ndarray:
    """Teacher keypoints (21 x 2, RHD order, keypoint 0 the wrist) -> handcam's convention (keypoint 0 the
    palm centre: the midpoint of the wrist and the middle-finger MCP, ``handcam.skeleton.PALM_FROM``)."""
    kp = _keypoints(keypoints).copy()
    kp[0] = (kp[PALM_FROM[0]] + kp[PALM_FROM[1]]) / 2
    return kp


def read_labels(path) -> list[dict]:
    """The teacher's JSONL -> records ``{"image", "hands": [{"side", "keypoints_2d", "keypoints_world"
    (only when the line has it)}], "mask" (when it has one)}``; a ValueError names the file and line of
    anything malformed."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"labels file {path} does not exist; write it with python -m training.teacher")
    records = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
                image = str(r["image"])
                hands = [_hand(h) for h in r["hands"]]
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
                raise ValueError(f"{path}:{n}: not a teacher label line ({e.__class__.__name__}: {e})") from None
            rec = {"image": image, "hands": hands}
            if r.get("mask"):
                rec["mask"] = str(r["mask"])
            records.append(rec)
    if not records:
        raise ValueError(f"labels file {path} holds no labels")
    return records


def read_label_files(paths) -> list[tuple[dict, Path]]:
    """The records of several teacher JSONL files pooled in order, each with the file it came from (which
    ``resolve_image`` needs)."""
    return [(r, Path(p)) for p in paths for r in read_labels(p)]


def read_boxes(path) -> dict[str, list]:
    """The human boxes file -> {relative image path: [(x0, y0, x1, y1), ...]}."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"boxes file {path} does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {str(k).replace("\\", "/"): [tuple(float(x) for x in b["box_xyxy"]) for b in v]
                for k, v in data.items()}
    except (json.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path}: not a boxes file ({e.__class__.__name__}: {e}); expected "
                         '{"DIR/NAME.jpg": [{"box_xyxy": [x0, y0, x1, y1]}, ...]}') from None


def boxes_for(image: str, boxes: dict[str, list]):
    """The boxes whose key is the longest suffix of ``image``'s path, or None when no key is."""
    parts = Path(image.replace("\\", "/")).parts
    for i in range(len(parts)):
        key = "/".join(parts[i:])
        if key in boxes:
            return boxes[key]
    return None


def resolve_image(image: str, labels_path: Path) -> Path:
    """A label's image path: as written (absolute or relative to the working directory, where the
    teacher ran), else relative to the labels file's folder."""
    p = Path(image)
    if p.is_absolute() or p.exists():
        return p
    alt = labels_path.parent / p
    return alt if alt.exists() else p
