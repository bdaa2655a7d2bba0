"""The release's 2x2 result figure, drawn with OpenCV: frame + 2D skeleton, crop + skeleton,
hand mask, 3D skeleton (a fixed oblique view)."""
from __future__ import annotations

import cv2
import numpy as np

from .draw import draw_skeleton
from .results import HandPose

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


def render_3d(xyz: np.ndarray, size: int = PANEL, rotation: np.ndarray | None = None) -> np.ndarray:
    """Orthographic drawing of a normalised 3D hand (21 x 3) on a white panel with a ground grid."""
    panel = np.full((size, size, 3), 255, np.uint8)
    rot = view_rotation() if rotation is None else rotation
    pts = np.asarray(xyz, np.float64) @ rot.T
    extent = max(np.abs(pts[:, :2]).max(), 1e-6) if np.all(np.isfinite(pts)) else 1.0
    s = 0.42 * size / extent
    for v in np.linspace(-1, 1, 9):  # a grid in the x-y plane of the viewer, for orientation
        for a, b in (((v, -1), (v, 1)), ((-1, v), (1, v))):
            p = np.array([a, b]) * 0.45 * size + size / 2
            cv2.line(panel, tuple(int(round(c)) for c in p[0]), tuple(int(round(c)) for c in p[1]),
                     (225, 225, 225), 1, cv2.LINE_AA)
    xy = pts[:, :2] * s + size / 2
    return draw_skeleton(panel, xy, thickness=3)


def result_figure(frame: np.ndarray, pose: HandPose, title: str | None = None) -> np.ndarray:
    """The 2x2 figure as an RGB uint8 image."""
    a, s, (x0, y0) = _fit(frame)
    crop = pose.crop if pose.crop is not None else np.full((256, 256, 3), 128, np.uint8)
    b, s2, off2 = _fit(crop)
    if pose.hand_found:  # no skeleton where no hand was found
        a = draw_skeleton(a, pose.keypoints_2d * s + (x0, y0))
        b = draw_skeleton(b, pose.keypoints_crop * s2 + off2)
    mask = pose.mask if pose.mask is not None else np.zeros(frame.shape[:2], bool)
    mask_rgb = np.repeat((mask.astype(np.uint8) * 255)[:, :, None], 3, axis=2)
    c, _, _ = _fit(mask_rgb, fill=128)  # grey margins: an all-hand (white) mask still shows its extent
    d = render_3d(pose.keypoints_3d) if pose.hand_found else np.full((PANEL, PANEL, 3), 255, np.uint8)
    pad = 8
    grid = np.full((2 * PANEL + 3 * pad + 24, 2 * PANEL + 3 * pad, 3), 255, np.uint8)
    for (r, col), panel in zip(((0, 0), (0, 1), (1, 0), (1, 1)), (a, b, c, d)):
        y, x = 24 + pad + r * (PANEL + pad), pad + col * (PANEL + pad)
        grid[y:y + PANEL, x:x + PANEL] = panel
        cv2.rectangle(grid, (x - 1, y - 1), (x + PANEL, y + PANEL), (200, 200, 200), 1)
    if title:
        cv2.putText(grid, title, (pad, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return grid


def save_figure(path, frame: np.ndarray, pose: HandPose, title: str | None = None) -> None:
    """Write the figure (PNG or JPEG by the extension); ``InputError`` when it cannot be written."""
    from .errors import InputError

    img = result_figure(frame, pose, title)
    try:
        ok = cv2.imwrite(str(path), img[:, :, ::-1])
    except cv2.error:
        ok = False
    if not ok:
        raise InputError(f"could not write the figure to {path}; check the folder exists and the extension "
                         f"is .png or .jpg")
