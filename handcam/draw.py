"""Drawing on RGB images with OpenCV: the hand mask, the crop box and the 2D skeleton.

Used by the desktop app's views, its annotated-video recorder, headless export and figure export.
Every function returns a new image and leaves its input untouched. Colours come from
``handcam.skeleton`` (one colour per bone, the original release's jet ordering).
"""
from __future__ import annotations

import cv2
import numpy as np

from .skeleton import BONES, KEYPOINT_COLORS, ROOT, SCALE_BONE, bone_colors_uint8

#: Default mask tint (RGB).
MASK_COLOR = (0, 200, 255)
#: Default crop-box colour (RGB).
BOX_COLOR = (255, 220, 0)
#: One colour per hand (by id, cycling): its box, mask tint, label and 3D hand.
HAND_COLORS = ((255, 220, 0), (255, 60, 200), (60, 220, 90), (255, 140, 30))


def hand_color(hand_id: int) -> tuple[int, int, int]:
    """The RGB colour of the hand with this id (``HAND_COLORS``, cycling)."""
    return HAND_COLORS[int(hand_id) % len(HAND_COLORS)]


#: Distance between the roots of hands placed side by side in one 3D drawing (units of bone 12-11).
HAND_SPACING = 6.0


def side_label(hand) -> str:
    """'L' or 'R': the person's hand (``HandPose.side``)."""
    return "L" if hand.side == "left" else "R"


def _check_rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an H x W x 3 uint8 RGB image, got {image.dtype} {image.shape}")
    return image


def overlay_mask(image_rgb: np.ndarray, mask: np.ndarray, opacity: float = 0.5,
                 color: tuple[int, int, int] = MASK_COLOR) -> np.ndarray:
    """Tint the pixels where ``mask`` is set with ``color`` at ``opacity`` (0 = invisible, 1 = solid).

    ``mask`` is an (H, W) boolean (or 0/1) array of the image's size; a mask of another size is
    resized with nearest-neighbour sampling so that a network-resolution mask can be shown too.
    """
    image = _check_rgb(image_rgb)
    out = image.copy()
    if mask is None:
        return out
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2D, got shape {mask.shape}")
    if mask.shape != image.shape[:2]:
        mask = cv2.resize(mask.astype(np.uint8), (image.shape[1], image.shape[0]),
                          interpolation=cv2.INTER_NEAREST)
    sel = mask.astype(bool)
    opacity = float(np.clip(opacity, 0.0, 1.0))
    if opacity <= 0 or not sel.any():
        return out
    tint = np.asarray(color, np.float32)
    blended = out[sel].astype(np.float32) * (1.0 - opacity) + tint * opacity
    out[sel] = np.clip(np.round(blended), 0, 255).astype(np.uint8)
    return out


def draw_box(image_rgb: np.ndarray, box_xyxy, color: tuple[int, int, int] = BOX_COLOR,
             thickness: int = 2) -> np.ndarray:
    """Draw an axis-aligned box given as x0, y0, x1, y1 (may leave the image; it is clipped)."""
    out = _check_rgb(image_rgb).copy()
    if box_xyxy is None:
        return out
    x0, y0, x1, y1 = (int(round(float(v))) for v in np.asarray(box_xyxy).reshape(4))
    cv2.rectangle(out, (x0, y0), (x1, y1), tuple(int(c) for c in color), int(thickness), cv2.LINE_AA)
    return out


def draw_skeleton(image_rgb: np.ndarray, keypoints_xy: np.ndarray, scores: np.ndarray | None = None,
                  thickness: int = 2, min_score: float | None = None,
                  joint_radius: int | None = None
                  ) -> np.ndarray:
    """Draw the 21-keypoint hand: each bone in its own colour, joints as filled dots.

    keypoints_xy: (21, 2) pixel coordinates (x, y) in this image, RHD order.
    scores:       optional (21,) confidences; with ``min_score`` given, bones with an end scoring
                  below it and such joints are not drawn (default: everything is drawn).
    """
    out = _check_rgb(image_rgb).copy()
    kp = np.asarray(keypoints_xy, dtype=np.float64)
    if kp.shape != (len(KEYPOINT_COLORS), 2):
        raise ValueError(f"keypoints_xy must be (21, 2), got {kp.shape}")
    if not np.all(np.isfinite(kp)):
        return out
    thickness = max(1, int(thickness))
    radius = joint_radius if joint_radius is not None else thickness + 1
    s = None if (scores is None or min_score is None) else \
        np.asarray(scores, dtype=np.float64).reshape(-1)
    shift = 4  # sub-pixel precision for OpenCV drawing
    pts = np.round(kp * (1 << shift)).astype(np.int64)
    colors = bone_colors_uint8()
    for (a, b), c in zip(BONES, colors):
        if s is not None and (s[a] < min_score or s[b] < min_score):
            continue
        cv2.line(out, tuple(int(v) for v in pts[a]), tuple(int(v) for v in pts[b]),
                 tuple(int(v) for v in c), thickness, cv2.LINE_AA, shift)
    joint_colors = np.round(KEYPOINT_COLORS * 255).astype(np.uint8)
    for k in range(len(pts)):
        if s is not None and s[k] < min_score:
            continue
        cv2.circle(out, tuple(int(v) for v in pts[k]), int(radius) << shift,
                   tuple(int(v) for v in joint_colors[k]), -1, cv2.LINE_AA, shift)
    return out


def draw_label(image_rgb: np.ndarray, text: str, xy, color: tuple[int, int, int] = BOX_COLOR,
               scale: float = 0.6) -> np.ndarray:
    """``text`` on a filled box of ``color`` with its bottom-left corner at ``xy`` (kept inside the image)."""
    out = _check_rgb(image_rgb).copy()
    thick = max(1, int(round(scale * 2)))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    x = int(np.clip(round(float(xy[0])), 0, max(0, out.shape[1] - tw - 4)))
    y = int(np.clip(round(float(xy[1])), th + base + 4, out.shape[0]))
    cv2.rectangle(out, (x, y - th - base - 4), (x + tw + 4, y), tuple(int(c) for c in color), -1)
    cv2.putText(out, text, (x + 2, y - base - 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick, cv2.LINE_AA)
    return out


def hands_of(result) -> tuple:
    """The hands of a FrameResult, a sequence of HandPoses, a single HandPose, or None."""
    if result is None:
        return ()
    if isinstance(result, (list, tuple)):
        return tuple(result)
    return tuple(getattr(result, "hands", (result,)))


def annotate(image_rgb: np.ndarray, result, mask_opacity: float = 0.4, draw_mask: bool = True,
             draw_crop_box: bool = True, thickness: int | None = None, labels: bool = True) -> np.ndarray:
    """The frame with every hand of a ``FrameResult`` (or one ``HandPose``) drawn on it: mask tint, crop
    box and "L"/"R" label in the hand's colour (``hand_color``), and the skeleton. ``result`` may be None
    (the frame is returned unchanged, copied). The line thickness scales with the image size unless given."""
    out = _check_rgb(image_rgb).copy()
    if thickness is None:
        thickness = max(1, int(round(max(out.shape[:2]) / 320)))
    for hand in hands_of(result):
        color = hand_color(hand.id)
        if draw_mask and hand.mask is not None:
            out = overlay_mask(out, hand.mask, mask_opacity, color)
        if draw_crop_box:
            out = draw_box(out, hand.box, color, thickness=max(1, thickness))
    for hand in hands_of(result):
        out = draw_skeleton(out, hand.keypoints_2d, hand.keypoint_scores, thickness=thickness)
        if labels:
            out = draw_label(out, side_label(hand), hand.box[:2], hand_color(hand.id),
                             scale=max(0.4, thickness * 0.3))
    return out


def draw_crop(hand, thickness: int = 2) -> np.ndarray:
    """The crop PoseNet saw (``HandPose.crop``), with the keypoints it found drawn on it."""
    if hand.crop is None:
        raise ValueError("this result has no crop (estimate(..., with_crop=True) keeps it)")
    return draw_skeleton(hand.crop, hand.keypoints_crop, hand.keypoint_scores, thickness=thickness)


def place_hands(hands) -> list[np.ndarray]:
    """Each hand's 21 x 3 keypoints where a 3D drawing of several hands (the window's 3D view, the
    figure's 3D panel) puts it (camera axes, units of bone 12-11), in the order
    given: one hand as it is (``keypoints_3d``: the root at the origin, bone 12-11 of length 1); several
    hands placed relative to each other from their ``keypoints_3d_camera`` when every hand has it (in
    units of their mean bone 12-11, centred on the mean of their roots), else side by side
    (``HAND_SPACING`` apart along x, in the order of their roots in the image, centred)."""
    hands = list(hands)
    if len(hands) < 2:
        return [np.asarray(h.keypoints_3d, dtype=np.float64) for h in hands]
    cams = [h.keypoints_3d_camera for h in hands]
    if all(c is not None and np.all(np.isfinite(c)) for c in cams):
        cams = [np.asarray(c, dtype=np.float64) for c in cams]
        unit = float(np.mean([np.linalg.norm(c[SCALE_BONE[0]] - c[SCALE_BONE[1]]) for c in cams]))
        if np.isfinite(unit) and unit > 0:
            centre = np.mean([c[ROOT] for c in cams], axis=0)
            return [(c - centre) / unit for c in cams]
    order = np.argsort([float(np.asarray(h.keypoints_2d)[ROOT, 0]) for h in hands], kind="stable")
    rank = np.empty(len(hands), int)
    rank[order] = np.arange(len(hands))
    return [np.asarray(h.keypoints_3d, dtype=np.float64) + [(r - (len(hands) - 1) / 2) * HAND_SPACING, 0, 0]
            for h, r in zip(hands, rank)]
