"""The release's 2x2 result figure, drawn with OpenCV, for every hand of a frame: frame + 2D skeletons,
crops + skeletons, hand masks, 3D skeletons (a fixed oblique view)."""
from __future__ import annotations

import cv2
import numpy as np

from .draw import annotate, draw_box, draw_skeleton, hand_color, hands_of, place_hands

PANEL = 360


def _fit(image: np.ndarray, size: int = PANEL, fill: int = 255) -> tuple[np.ndarray, float]:
    """Letterbox an RGB image into a size x size panel of grey level ``fill`` -> (panel, scale, offset)."""
    h, w = image.shape[:2]
    s = size / max(h, w)
    resized = cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))),
                         interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    panel = np.full((size, size, 3), fill, np.uint8)
    y0, x0 = (size - resized.shape[0]) // 2, (size - resized.shape[1]) // 2
    panel[y0:y0 + resized.shape[0], x0:x0 + resized.shape[1]] = resized
    return panel, s, (x0, y0)


def view_rotation(elevation_deg: float = -70.0, azimuth_deg: float = -90.0) -> np.ndarray:
    """Rotation taking the camera frame (x right, y down, z forward) to an oblique viewer frame."""
    e, a = np.radians(elevation_deg), np.radians(azimuth_deg)
    rx = np.array([[1, 0, 0], [0, np.cos(e), -np.sin(e)], [0, np.sin(e), np.cos(e)]])
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    return rx @ rz


def render_3d(xyz, size: int = PANEL, rotation: np.ndarray | None = None, colors=None) -> np.ndarray:
    """Orthographic drawing of 3D hands (one 21 x 3 array, or a list of them in one space) on a white panel
    with a ground grid; ``colors``: one RGB per hand, drawn as a ring around its root."""
    hands = [np.asarray(xyz, np.float64)] if np.ndim(xyz) == 2 else [np.asarray(h, np.float64) for h in xyz]
    panel = np.full((size, size, 3), 255, np.uint8)
    rot = view_rotation() if rotation is None else rotation
    pts = [h @ rot.T for h in hands]
    finite = [p for p in pts if np.all(np.isfinite(p))]
    mid = np.concatenate(finite)[:, :2].mean(0) if len(finite) > 1 else np.zeros(2)
    extent = max((np.abs(p[:, :2] - mid).max() for p in finite), default=1.0)
    s = 0.42 * size / max(extent, 1e-6)
    for v in np.linspace(-1, 1, 9):  # a grid in the x-y plane of the viewer, for orientation
        for a, b in (((v, -1), (v, 1)), ((-1, v), (1, v))):
            p = np.array([a, b]) * 0.45 * size + size / 2
            cv2.line(panel, tuple(int(round(c)) for c in p[0]), tuple(int(round(c)) for c in p[1]),
                     (225, 225, 225), 1, cv2.LINE_AA)
    for i, p in enumerate(pts):
        if not np.all(np.isfinite(p)):
            continue
        xy = (p[:, :2] - mid) * s + size / 2
        panel = draw_skeleton(panel, xy, thickness=3 if len(pts) == 1 else 2)
        if colors is not None:
            cv2.circle(panel, tuple(int(round(c)) for c in xy[0]), 9, tuple(int(c) for c in colors[i]), 2,
                       cv2.LINE_AA)
    return panel


def _tiles(images, size: int = PANEL, fill: int = 128) -> np.ndarray:
    """Images side by side (each letterboxed into an equal share of the panel's width)."""
    if not images:
        return np.full((size, size, 3), fill, np.uint8)
    cell = size // len(images)
    row = np.hstack([_fit(im, cell, fill)[0] for im in images])
    panel, _, _ = _fit(row, size, fill)
    return panel


def result_figure(frame: np.ndarray, result, title: str | None = None) -> np.ndarray:
    """The 2x2 figure as an RGB uint8 image, for every hand of a ``FrameResult`` (or one ``HandPose``):
    the frame with each hand's box, label and skeleton; each hand's crop with its keypoints; the hands'
    masks, tinted in each hand's colour; the 3D hands in one view (an empty panel where no hand is)."""
    hands = list(hands_of(result))
    a, _, _ = _fit(annotate(frame, hands, draw_mask=False))
    b = _tiles([draw_box(draw_skeleton(h.crop, h.keypoints_crop), (0, 0, h.crop.shape[1] - 1, h.crop.shape[0] - 1),
                         hand_color(h.id), thickness=4) for h in hands if h.crop is not None])
    mask_rgb = np.zeros(frame.shape, np.uint8)
    for h in hands:
        if h.mask is not None:
            mask_rgb[h.mask] = hand_color(h.id)
    c, _, _ = _fit(mask_rgb, fill=128)  # grey margins: an all-hand mask still shows its extent
    d = render_3d(place_hands(hands), colors=[hand_color(h.id) for h in hands]) if hands else \
        np.full((PANEL, PANEL, 3), 255, np.uint8)
    pad = 8
    grid = np.full((2 * PANEL + 3 * pad + 24, 2 * PANEL + 3 * pad, 3), 255, np.uint8)
    for (r, col), panel in zip(((0, 0), (0, 1), (1, 0), (1, 1)), (a, b, c, d)):
        y, x = 24 + pad + r * (PANEL + pad), pad + col * (PANEL + pad)
        grid[y:y + PANEL, x:x + PANEL] = panel
        cv2.rectangle(grid, (x - 1, y - 1), (x + PANEL, y + PANEL), (200, 200, 200), 1)
    if title:
        cv2.putText(grid, title, (pad, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return grid


def save_figure(path, frame: np.ndarray, result, title: str | None = None) -> None:
    """Write the figure of a ``FrameResult`` (or one ``HandPose``) (PNG or JPEG by the extension);
    ``InputError`` when it cannot be written."""
    from .errors import InputError

    img = result_figure(frame, result, title)
    try:
        ok = cv2.imwrite(str(path), img[:, :, ::-1])
    except cv2.error:
        ok = False
    if not ok:
        raise InputError(f"could not write the figure to {path}; check the folder exists and the extension "
                         f"is .png or .jpg")
