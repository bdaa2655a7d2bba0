"""Lifting targets from the teacher's 3D hands (MediaPipe world landmarks), and a contact sheet to check
them by eye (``python -m training.real3d --labels LABELS.jsonl --out sheet.png``).

The teacher (:mod:`training.teacher`, MediaPipe Hands) writes per hand ``keypoints_world``: 21 x 3 metres
in RHD order with the wrist at keypoint 0 (its own order converted by ``teacher.mediapipe_to_rhd``).

MediaPipe's convention. Its documentation (MediaPipe Hands, ``MULTI_HAND_WORLD_LANDMARKS``; the Tasks API's
``HandLandmarkerResult.hand_world_landmarks``) calls them "real-world 3D coordinates in meters with the
origin at the hand's approximate geometric center" and names no axes; the axes it documents are those of
the image landmarks: x and y normalised by the image width and height (x right, y down) and z the depth
relative to the wrist, "the smaller the value the closer the landmark is to the camera". The world
landmarks share those axes. Measured on the teacher's labels (homes, subhih, signing: about 2,300 hands),
world x and y against the 2D keypoints' x and y correlate at a median r of 0.99 each, world z against the
image landmarks' depth at a median r of 0.63 to 0.85 (never inverted). So: x right, y down in the image,
z away from the camera, a right-handed frame with the axes of RHD's camera coordinates and of the
renders' (``handcam.camera``): no axis is converted. The world hand is oriented as the hand appears in
its crop: the small rotation under which a camera sees a hand away from the optical axis (a few degrees
at the border of a webcam's view) is not in it, and it has no position (no depth).

Chirality. The teacher's ``side`` is the person's hand (its photos are not mirrored:
``teacher.true_side``), which is what the lifting networks are given for an unmirrored image. Its world
hands have that handedness in the camera axes above: the flexion of the fingers against the palm normal
(``handedness_score``) reads "right" for 94 % of its right hands and "left" for 94 % of its left hands
(2,777 hands of homes, subhih and signing; signing, the lowest, 90 % / 85 %), as it reads 98 % / 99 % of
the renders' right / left hands (the rest: flat hands, where the score is near 0, or teacher errors).

Conversion (:func:`world_targets`), the renders' exactly (:func:`training.rhd.select_hand`): keypoint 0
becomes the palm centre (the midpoint of the wrist and the middle MCP, ``skeleton.PALM_FROM``), then
``handcam.canonical.normalize_xyz`` (root-relative, bone 12-11 of length 1) and
``handcam.canonical.canonical_transform`` with the one-hot ``hand_side`` ([1, 0] left, [0, 1] right:
``skeleton.HAND_SIDES``), so that ``geometry.from_canonical(coord_can, rot_mat, hand_side)`` gives the
normalised hand back.
"""
from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from handcam.canonical import canonical_transform, normalize_xyz
from handcam.geometry import hand_side_onehot
from handcam.skeleton import FINGER_INDICES, NUM_KEYPOINTS, PALM_FROM

from .errors import cli_main

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiftingTargets:
    """A batch of hands in the lifting networks' conventions (torch, the input's device and dtype).

    xyz_norm:  (B, 21, 3) root-relative (palm centre), bone 12-11 of length 1, camera axes
    scale:     (B,) bone 12-11 in the input's unit (metres for world landmarks)
    coord_can: (B, 21, 3) canonical coordinates, the PosePrior target
    rot_mat:   (B, 3, 3) the ViewPoint target
    hand_side: (B, 2) one-hot, [1, 0] left, [0, 1] right
    """

    xyz_norm: torch.Tensor
    scale: torch.Tensor
    coord_can: torch.Tensor
    rot_mat: torch.Tensor
    hand_side: torch.Tensor


def palm_root(xyz: torch.Tensor) -> torch.Tensor:
    """(..., 21, 3) with keypoint 0 the wrist -> the same with keypoint 0 the palm centre (the midpoint of
    the wrist and the middle-finger MCP, ``PALM_FROM``); the input is left as it is."""
    out = xyz.clone()
    out[..., 0, :] = (xyz[..., PALM_FROM[0], :] + xyz[..., PALM_FROM[1], :]) / 2
    return out


def world_targets(world: torch.Tensor, hand_side: torch.Tensor) -> LiftingTargets:
    """The lifting targets of hands given as (B, 21, 3) points in camera axes (x right, y down, z away from
    the camera), RHD order with the *wrist* at keypoint 0 (the teacher's ``keypoints_world``; any unit and
    origin), and their sides ``hand_side`` (B, 2) one-hot ([1, 0] left, [0, 1] right, the person's hand)."""
    if world.shape[-2:] != (NUM_KEYPOINTS, 3) or world.ndim != 3:
        raise ValueError(f"expected B x {NUM_KEYPOINTS} x 3 points, got shape {tuple(world.shape)}")
    hand_side = hand_side.to(device=world.device, dtype=world.dtype)
    xyz_norm, scale = normalize_xyz(palm_root(world))
    coord_can, rot_mat = canonical_transform(xyz_norm, hand_side)
    return LiftingTargets(xyz_norm, scale, coord_can, rot_mat, hand_side)


def hand_targets(hands: list[dict], device=None, dtype: torch.dtype = torch.float32) -> LiftingTargets:
    """:func:`world_targets` of teacher hands (``read_labels`` records' hands: ``side``, ``keypoints_world``)."""
    missing = sum("keypoints_world" not in h for h in hands)
    if missing:
        raise ValueError(f"{missing} of {len(hands)} hands have no keypoints_world (labels of an older teacher?)")
    world = torch.as_tensor(np.stack([np.asarray(h["keypoints_world"], np.float64) for h in hands]))
    side = hand_side_onehot([h["side"] for h in hands])
    return world_targets(world.to(device=device, dtype=dtype), side)


def handedness_score(xyz: torch.Tensor) -> torch.Tensor:
    """How much (..., 21, 3) camera-axes points look like a right hand (> 0) or a left hand (< 0): the mean
    cosine between the palm normal ``(middle MCP - keypoint 0) x (little MCP - index MCP)`` and each finger's
    MCP -> tip direction (fingers flex to the palm side). About 0 for a flat hand, which shows no handedness.
    Keypoint 0 may be the wrist or the palm centre (both lie on the palm's middle line: the same normal)."""
    mcp = {f: xyz[..., FINGER_INDICES[f][3], :] for f in ("index", "middle", "little")}
    normal = torch.linalg.cross(mcp["middle"] - xyz[..., 0, :], mcp["little"] - mcp["index"])
    normal = normal / torch.linalg.vector_norm(normal, dim=-1, keepdim=True).clamp_min(1e-12)
    cos = []
    for finger in ("index", "middle", "ring", "little"):
        tip, base = FINGER_INDICES[finger][0], FINGER_INDICES[finger][3]
        d = xyz[..., tip, :] - xyz[..., base, :]
        cos.append((normal * d).sum(-1) / torch.linalg.vector_norm(d, dim=-1).clamp_min(1e-12))
    return torch.stack(cos, -1).mean(-1)


# ----------------------------------------------------------------------------------------------
# the contact sheet
# ----------------------------------------------------------------------------------------------
#: The two orthographic views of a 3D hand: (name, screen x axis, screen y axis) in camera axes. The front
#: view is the camera's; the side view is seen from the camera's right (+x, looking along -x), z to the right.
VIEWS = (("front x-y", 0, 1), ("side z-y", 2, 1))


def _panel(size: int) -> np.ndarray:
    return np.full((size, size, 3), 255, np.uint8)


def _text(img: np.ndarray, text: str, y: int, color=(0, 0, 0)) -> None:
    import cv2

    cv2.putText(img, text, (4, y), cv2.FONT_HERSHEY_SIMPLEX, 0.4, color, 1, cv2.LINE_AA)


def draw_views(xyz: np.ndarray, wrist: np.ndarray | None, size: int = 180) -> list[np.ndarray]:
    """The hand (21 x 3, root at the origin) in each of ``VIEWS``, one scale for all of them, on white
    panels: bones in handcam's finger colours, the root as a black dot, the wrist (if given) as a ring."""
    import cv2

    from handcam.draw import draw_skeleton

    pts = np.asarray(xyz, np.float64)
    extent = max(float(np.abs(pts).max()), float(np.abs(wrist).max()) if wrist is not None else 0.0, 1e-9)
    s = 0.42 * size / extent
    out = []
    for name, a, b in VIEWS:
        panel = _panel(size)
        c = size / 2
        cv2.line(panel, (0, int(c)), (size, int(c)), (225, 225, 225), 1)
        cv2.line(panel, (int(c), 0), (int(c), size), (225, 225, 225), 1)
        xy = pts[:, [a, b]] * s + c
        panel = draw_skeleton(panel, xy, thickness=2)
        cv2.circle(panel, tuple(int(round(v)) for v in xy[0]), 4, (0, 0, 0), -1, cv2.LINE_AA)
        if wrist is not None:
            w = np.asarray(wrist, np.float64)[[a, b]] * s + c
            cv2.circle(panel, tuple(int(round(v)) for v in w), 5, (0, 0, 0), 1, cv2.LINE_AA)
        _text(panel, name, size - 6, (90, 90, 90))
        out.append(panel)
    return out


def photo_panel(image: np.ndarray, keypoints_xy: np.ndarray, size: int = 180, margin: float = 1.5) -> np.ndarray:
    """A square crop of the photo around the 2D keypoints (``margin`` x their box), with the skeleton."""
    import cv2

    from handcam.draw import draw_skeleton

    kp = np.asarray(keypoints_xy, np.float64)
    centre = (kp.min(0) + kp.max(0)) / 2
    side = max(float((kp.max(0) - kp.min(0)).max()) * margin, 8.0)
    s = size / side
    m = np.array([[s, 0, size / 2 - s * centre[0]], [0, s, size / 2 - s * centre[1]]])
    crop = cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_AREA, borderValue=(128, 128, 128))
    return draw_skeleton(crop, kp * s + m[:, 2], thickness=2)


def pick_hands(records: list[tuple[dict, Path]], count: int, seed: int = 0) -> list[tuple[dict, Path, dict]]:
    """``count`` teacher hands with world landmarks, (record, labels file, hand), drawn at random with
    ``seed``, left and right hands taking turns while both last."""
    rng = np.random.default_rng(seed)
    by_side: dict[str, list] = {"left": [], "right": []}
    for r, path in records:
        for h in r["hands"]:
            if "keypoints_world" in h and h["side"] in by_side:
                by_side[h["side"]].append((r, path, h))
    for v in by_side.values():
        rng.shuffle(v)
    out = []
    while len(out) < count and (by_side["left"] or by_side["right"]):
        for side in ("left", "right"):
            if by_side[side] and len(out) < count:
                out.append(by_side[side].pop())
    return out


def hand_row(image: np.ndarray, hand: dict, size: int = 180) -> np.ndarray:
    """One hand's strip: the photo crop with its 2D skeleton (palm root), the converted 3D hand (what the
    lifting networks are trained to output, ``from_canonical`` of the targets) from the front and the side,
    and its canonical coordinates from the front (always a left hand's)."""
    from handcam.geometry import from_canonical

    from .labels import teacher_to_palm

    t = hand_targets([hand], dtype=torch.float64)
    xyz = from_canonical(t.coord_can, t.rot_mat, t.hand_side)[0].numpy()
    world = torch.as_tensor(np.asarray(hand["keypoints_world"], np.float64))
    wrist = ((world[0] - palm_root(world)[0]) / t.scale[0]).numpy()   # in the normalised hand's frame
    score = float(handedness_score(t.xyz_norm)[0])
    photo = photo_panel(image, teacher_to_palm(hand["keypoints_2d"]), size)
    _text(photo, f"{hand['side']}; 3D reads {'right' if score > 0 else 'left'} ({score:+.2f})", 12, (255, 0, 255))
    canonical = draw_views(t.coord_can[0].numpy(), None, size)[0]
    _text(canonical, "canonical", 12, (90, 90, 90))
    return np.concatenate([photo, *draw_views(xyz, wrist, size), canonical], axis=1)


def contact_sheet(picked: list[tuple[dict, Path, dict]], out, size: int = 180, cols: int = 2) -> Path:
    """The strips (:func:`hand_row`) of the picked hands, ``cols`` per row, written to ``out`` (PNG)."""
    import cv2

    from handcam.sources import load_image

    from .labels import resolve_image

    if not picked:
        raise ValueError("no teacher hand with keypoints_world to draw")
    strips = [hand_row(load_image(resolve_image(r["image"], path)), h, size) for r, path, h in picked]
    strips += [np.full_like(strips[0], 128)] * (-len(strips) % cols)
    rows = [np.concatenate(strips[i:i + cols], axis=1) for i in range(0, len(strips), cols)]
    sheet = np.concatenate(rows, axis=0)
    legend = np.full((22, sheet.shape[1], 3), 255, np.uint8)
    _text(legend, "photo (palm root) | front x-y (x right, y down) | side z-y (z away from the camera ->) | "
          "canonical; thumb blue ... little red; black dot: palm root, ring: wrist", 15)
    out = Path(out)
    if not cv2.imwrite(str(out), np.concatenate([legend, sheet], axis=0)[:, :, ::-1]):
        raise ValueError(f"cannot write {out} (does its folder exist?)")
    return out


@cli_main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.real3d", description="A contact sheet of teacher hands "
                                "after their conversion to the lifting networks' 3D targets: per hand the photo "
                                "crop with its 2D skeleton, the 3D hand from the front (x-y) and the side (z-y), "
                                "and its canonical coordinates; to check chirality, keypoint order and the palm root.")
    p.add_argument("--labels", nargs="+", required=True, metavar="LABELS.jsonl",
                   help="teacher labels with keypoints_world (python -m training.teacher)")
    p.add_argument("--out", required=True, metavar="SHEET.png", help="where the sheet goes")
    p.add_argument("--count", type=int, default=8, help="how many hands (left and right taking turns; default 8)")
    p.add_argument("--seed", type=int, default=0, help="which hands are drawn (default 0)")
    p.add_argument("--size", type=int, default=180, help="panel side in pixels (default 180)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from .labels import read_label_files

    records = read_label_files(args.labels)
    out = contact_sheet(pick_hands(records, args.count, args.seed), args.out, args.size)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
