"""Where frames come from: still images (here), cameras and video files (the app's sources below).

Every failure is a ``handcam.errors`` exception whose message names the problem and the fix.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .errors import InputError


def to_rgb8(image: np.ndarray, bgr: bool = False) -> np.ndarray:
    """Any common image array -> H x W x 3 uint8 RGB.

    Grayscale (H x W or H x W x 1) is replicated, RGBA/BGRA drops alpha, 16-bit keeps the high
    byte, float images are taken as 0..1. ``bgr=True`` for arrays that come from OpenCV.
    """
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4) or a.shape[0] < 1 or a.shape[1] < 1:
        raise InputError(f"unsupported image shape {a.shape}: expected H x W, H x W x 1, x 3 or x 4")
    if a.dtype == np.uint16:
        a = (a >> 8).astype(np.uint8)
    elif a.dtype.kind == "f":
        a = np.clip(np.round(a * 255.0), 0, 255).astype(np.uint8)
    elif a.dtype != np.uint8:
        raise InputError(f"unsupported pixel type {a.dtype}: expected 8- or 16-bit integers or floats")
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    elif a.shape[2] == 4:
        a = a[:, :, :3]
    if bgr:
        a = a[:, :, ::-1]
    return np.ascontiguousarray(a)


def load_image(path) -> np.ndarray:
    """Read an image file as H x W x 3 uint8 RGB (grayscale, RGBA and 16-bit are converted)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise InputError(f"{path} is a directory; pass an image file")
    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None:
        raise InputError(f"{path}: not an image OpenCV can read (PNG, JPEG, BMP, TIFF, ...); "
                         f"is it corrupt or another kind of file?")
    return to_rgb8(img, bgr=img.ndim == 3 and img.shape[2] in (3, 4))
