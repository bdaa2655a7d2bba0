"""RHD's files on disk: layout, mask labels, the depth PNG codec and the annotation pickle.

Layout (``RHD_published_v2/``)::

    <root>/<split>/color/%05d.png       320x320 RGB
    <root>/<split>/mask/%05d.png        uint8 labels: 0 background, 1 person, 2-17 left hand, 18-33 right hand
    <root>/<split>/depth/%05d.png       depth = (R * 256 + G) / (2**16 - 1) * 5 metres (B unused)
    <root>/<split>/anno_<split>.pickle  {id: {'xyz': (42, 3) m, 'uv_vis': (42, 3), 'K': (3, 3)}}

with split ``training`` or ``evaluation``; keypoints 0-20 are the left hand, 21-41 the right hand.

The one owner of these facts for the reader (:mod:`training.rhd`) and the writers (the tests'
tiny dataset, the synthetic engine :mod:`training.synth`). numpy and OpenCV only (no torch), so the
synthetic engine's worker processes stay light. Images are handled as OpenCV reads and writes
them: colour and depth PNGs in BGR channel order.
"""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import cv2
import numpy as np

from handcam.atomic import atomic_write_bytes
from handcam.safe_pickle import load_numpy_pickle

SPLITS = ("training", "evaluation")
#: Mask labels of the person and of the left and right hand (inclusive ranges).
LABEL_PERSON = 1
LEFT_LABELS = (2, 17)
RIGHT_LABELS = (18, 33)
#: Depth at the largest 16-bit value.
DEPTH_MAX_M = 5.0
_DEPTH_STEPS = 2**16 - 1


def decode_depth(bgr: np.ndarray, dtype=np.float32) -> np.ndarray:
    """RHD depth PNG as OpenCV reads it (B, G, R uint8; R high byte, G low byte) -> metres."""
    r = bgr[..., 2].astype(dtype)
    g = bgr[..., 1].astype(dtype)
    return (r * 256.0 + g) / _DEPTH_STEPS * DEPTH_MAX_M


def encode_depth(depth_m: np.ndarray) -> np.ndarray:
    """Inverse of :func:`decode_depth`: metres -> B, G, R uint8 (B zero), rounded to 5 m / 65535."""
    v = np.clip(np.round(depth_m / DEPTH_MAX_M * _DEPTH_STEPS), 0, _DEPTH_STEPS).astype(np.int64)
    out = np.zeros(depth_m.shape + (3,), np.uint8)
    out[..., 2] = v // 256
    out[..., 1] = v % 256
    return out


def png_bytes(image: np.ndarray, params=()) -> bytes:
    """An image (BGR or single channel, uint8) encoded as PNG."""
    ok, buf = cv2.imencode(".png", image, list(params))
    if not ok:
        raise OSError("cannot encode a PNG")
    return buf.tobytes()


def load_annotations(path: str | os.PathLike) -> dict:
    """Load ``anno_<split>.pickle`` safely (only numpy arrays, numbers, dicts)."""
    return load_numpy_pickle(path, "an RHD annotation file")


def save_annotations(path: str | os.PathLike, anno: dict) -> None:
    """Write ``anno_<split>.pickle`` (protocol 2, as RHD's), atomically."""
    atomic_write_bytes(path, pickle.dumps(anno, protocol=2))


def sample_paths(root: str | os.PathLike, split: str, sample_id: int) -> dict[str, Path]:
    """The colour, mask and depth PNG of one sample."""
    d = Path(root) / split
    name = f"{sample_id:05d}.png"
    return {kind: d / kind / name for kind in ("color", "mask", "depth")}


def write_rhd_sample(root: str | os.PathLike, split: str, sample_id: int, color_rgb: np.ndarray,
                     mask: np.ndarray, depth_bgr: np.ndarray | None = None, png_params=()) -> None:
    """Write one frame's PNGs in RHD's native layout, each atomically. ``depth_bgr``: the depth PNG's
    pixels (:func:`encode_depth`; 1 m everywhere when not given)."""
    paths = sample_paths(root, split, sample_id)
    if depth_bgr is None:
        depth_bgr = encode_depth(np.full(mask.shape, 1.0, np.float32))
    atomic_write_bytes(paths["color"], png_bytes(cv2.cvtColor(color_rgb, cv2.COLOR_RGB2BGR), png_params))
    atomic_write_bytes(paths["mask"], png_bytes(mask.astype(np.uint8, copy=False), png_params))
    atomic_write_bytes(paths["depth"], png_bytes(depth_bgr, png_params))
