"""A tiny synthetic dataset in RHD's exact native layout, for the training tests.

Each frame holds two stick-figure hands (left: kp 0-20, right: kp 21-41) posed in 3D, projected with
K; the mask labels the bones' pixels (left 2-17, right 18-33, arm 1); one hand is drawn bigger so that
the dominant hand alternates between samples. ``rhd_root`` is the fixture of the training tests (a
module-scoped dataset with the defaults of :func:`make_rhd`); test modules import ``rhd_root_fixture``.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from training.rhd_format import encode_depth, save_annotations, write_rhd_sample

SIZE = 320
K = np.array([[280.0, 0.0, 160.0], [0.0, 280.0, 160.0], [0.0, 0.0, 1.0]])


def hand_model(rng) -> np.ndarray:
    """(21, 3) left hand in RHD order (0 wrist, then per finger tip..base), metres, fingers along +y."""
    pts = [np.zeros(3)]
    bases = [(-0.035, 0.03), (-0.02, 0.085), (0.0, 0.09), (0.018, 0.085), (0.035, 0.075)]
    seg = [0.035, 0.028, 0.022]
    for f, (bx, by) in enumerate(bases):
        curl = rng.uniform(0.0, 0.5)
        d = np.array([-0.6 if f == 0 else 0.08 * (f - 2), 1.0, 0.0])
        d /= np.linalg.norm(d)
        joints = [np.array([bx, by, 0.0])]
        for k in range(3):
            a = curl * (k + 1)
            step = np.array([d[0], d[1] * np.cos(a), -np.sin(a)]) * seg[k]
            joints.append(joints[-1] + step)
        pts += joints[::-1]  # tip, dip, pip, mcp
    return np.array(pts)


def random_rotation(rng) -> np.ndarray:
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    w, x, y, z = q
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def project(xyz: np.ndarray) -> np.ndarray:
    p = xyz @ K.T
    return p[:, :2] / p[:, 2:3]


def make_frame(rng, dominant: str):
    xyz = []
    for side in ("left", "right"):
        h = hand_model(rng)
        if side == "right":
            h[:, 0] *= -1
        big = side == dominant
        h = h @ random_rotation(rng).T
        centre = np.array([rng.uniform(-0.04, 0.04) + (-0.06 if side == "left" else 0.06),
                           rng.uniform(-0.04, 0.04), 0.35 if big else 0.75])
        xyz.append(h - h.mean(0) + centre)
    xyz = np.concatenate(xyz)
    uv = project(xyz)
    inside = (uv >= 0).all(1) & (uv < SIZE).all(1)
    vis = inside & (rng.random(42) > 0.1)
    mask = np.zeros((SIZE, SIZE), np.uint8)
    cv2.rectangle(mask, (0, 280), (40, 319), 1, -1)  # "person"
    image = rng.integers(40, 120, (SIZE, SIZE, 3), dtype=np.uint8)
    from handcam.skeleton import BONES

    for hand in (1, 0) if dominant == "left" else (0, 1):  # dominant drawn last (on top)
        off = 21 * hand
        for n, (a, b) in enumerate(BONES):
            pa = tuple(int(round(v)) for v in uv[off + a])
            pb = tuple(int(round(v)) for v in uv[off + b])
            label = 2 + 16 * hand + (n % 16)
            thick = 9 if (hand == 0) == (dominant == "left") else 4
            cv2.line(mask, pa, pb, int(label), thick)
            cv2.line(image, pa, pb, (220, 170, 140), thick)
    depth = np.full((SIZE, SIZE), 2.0, np.float32)
    depth[mask > 1] = 0.5
    anno = {"xyz": xyz.astype(np.float32),
            "uv_vis": np.concatenate([uv, vis[:, None]], 1).astype(np.float32),
            "K": K.astype(np.float32)}
    return image, mask, depth, anno


def make_rhd(root, n_train: int = 6, n_eval: int = 3, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for split, n in (("training", n_train), ("evaluation", n_eval)):
        anno = {}
        for i in range(n):
            image, mask, depth, a = make_frame(rng, "left" if i % 2 == 0 else "right")
            write_rhd_sample(root, split, i, image, mask, encode_depth(depth))
            anno[i] = a
        save_annotations(f"{root}/{split}/anno_{split}.pickle", anno)


@pytest.fixture(scope="module", name="rhd_root")
def rhd_root_fixture(tmp_path_factory):
    """A tiny RHD (6 training, 3 evaluation frames) in a temporary folder."""
    root = tmp_path_factory.mktemp("rhd")
    make_rhd(root)
    return root
