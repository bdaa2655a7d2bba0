"""People as ellipsoid primitives: skin and cloth colours, hands (per-segment labels), arms, torso, head.

Mask labels follow RHD (:mod:`training.rhd_format`): 1 person (arms, body, head), 2-17 left hand,
18-33 right hand. Within a hand: 3 labels per finger (thumb, index, middle, ring, little; proximal,
middle, distal segment in that order) and the palm last (17 left, 33 right).
"""
from __future__ import annotations

import colorsys

import numpy as np

from handcam.skeleton import FINGER_INDICES, FINGERS

from ..rhd_format import LABEL_PERSON, LEFT_LABELS, RIGHT_LABELS
from . import kinematics as kin
from .render import Prims

LABEL_BASE = {"left": LEFT_LABELS[0], "right": RIGHT_LABELS[0]}
PALM_OFFSET = 15

#: sRGB skin tones from very light to very dark; samples interpolate between neighbours.
_SKIN_SRGB = np.array([
    (246, 214, 196), (234, 190, 160), (222, 170, 136), (200, 140, 104), (176, 116, 80),
    (146, 94, 64), (118, 74, 50), (92, 58, 40), (66, 42, 30),
], dtype=float)


def srgb_to_linear(c):
    return (np.asarray(c, float) / 255.0) ** 2.2


def sample_skin(rng: np.random.Generator) -> np.ndarray:
    t = rng.uniform(0, len(_SKIN_SRGB) - 1)
    i = min(int(t), len(_SKIN_SRGB) - 2)
    c = _SKIN_SRGB[i] * (1 - (t - i)) + _SKIN_SRGB[i + 1] * (t - i)
    c = c * rng.normal(1.0, 0.03, 3) * np.array([1.0, rng.normal(1.0, 0.03), rng.normal(1.0, 0.05)])
    return srgb_to_linear(np.clip(c, 0, 255))


def sample_cloth(rng: np.random.Generator) -> np.ndarray:
    kind = rng.uniform()
    if kind < 0.35:       # greys, black, white
        g = rng.uniform(0.01, 0.8)
        return np.full(3, g) * rng.normal(1, 0.05, 3)
    if kind < 0.55:       # denim / navy
        return srgb_to_linear(np.clip(np.array([40, 60, 110]) * rng.uniform(0.4, 1.6) + rng.normal(0, 10, 3), 0, 255))
    r, g, b = colorsys.hsv_to_rgb(rng.uniform(), rng.beta(1.2, 2.0), rng.uniform(0.15, 0.95))
    return np.array([r, g, b]) ** 2.2


def axis_rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    axis = axis / np.linalg.norm(axis)
    x, y, z = axis
    c, s = np.cos(angle), np.sin(angle)
    C = 1 - c
    return np.array([[c + x * x * C, x * y * C - z * s, x * z * C + y * s],
                     [y * x * C + z * s, c + y * y * C, y * z * C - x * s],
                     [z * x * C - y * s, z * y * C + x * s, c + z * z * C]])


def perpendicular(v: np.ndarray) -> np.ndarray:
    a = np.array([1.0, 0.0, 0.0]) if abs(v[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    p = np.cross(v, a)
    return p / np.linalg.norm(p)


def unit(v):
    v = np.asarray(v, float)
    return v / np.linalg.norm(v)


# ----------------------------------------------------------------------------------------------
# Hands

def add_hand(prims: Prims, shape: kin.HandShape, angles: dict, side: str, R: np.ndarray, t: np.ndarray,
             skin: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Add a hand's primitives; returns its 21 keypoints in the camera frame.

    R (3x3) maps the right-hand local frame to the camera (for a left hand the local x is mirrored
    first), t is the wrist position.
    """
    S = np.diag([-1.0, 1.0, 1.0]) if side == "left" else np.eye(3)
    A = R @ S
    xyz_l, frames = kin.forward(shape, angles)
    base = LABEL_BASE[side]
    nail = np.minimum(skin * 0.55 + srgb_to_linear((236, 190, 180)) * 0.45, 1)
    palmar = R @ np.array([0.0, 0.0, 1.0])     # mirroring x does not change the palm normal
    tint = rng.uniform(0.15, 0.45) if skin.mean() < 0.15 else rng.uniform(0.0, 0.2)

    def P(p):
        return A @ p + t

    def add(c, axes, label, albedo, **kw):
        prims.add(P(c), A @ axes, label, albedo, palm_dir=palmar, palm_tint=tint, **kw)

    def chain(a, b, ra, rb, label, albedo=skin, **kw):
        start = len(prims)
        prims.chain(P(a), P(b), ra, rb, label, albedo, palm_dir=palmar, palm_tint=tint, **kw)
        return start

    for fi, f in enumerate(FINGERS):
        tip, j2, j1, j0 = FINGER_INDICES[f]
        pts = xyz_l[[j0, j1, j2, tip]]
        r = shape.radii[f]
        dirs = frames[f]
        lab = base + 3 * fi
        lat = [A @ np.cross(u_, q_) for u_, q_ in dirs]
        chain(pts[0], pts[1], r[0], r[1], lab, crease_at=(1.0,), crease_w=0.25, side=lat[0], side_scale=1.12, along=1.4)
        chain(pts[1], pts[2], r[1], r[2], lab + 1, crease_at=(0.0, 1.0), crease_w=0.3, side=lat[1], side_scale=1.12,
              along=1.4)
        u2, q2 = dirs[2]
        end = pts[3] - u2 * r[3]
        chain(pts[2], end, r[2], r[3], lab + 2, crease_at=(0.0,), crease_w=0.3, side=lat[2], side_scale=1.1, along=1.4)
        # knuckle bump on the back of the middle joint
        u1, q1 = dirs[1]
        add(pts[1] - q1 * 0.42 * r[1], np.eye(3) * 0.62 * r[1], lab + 1, skin, crease=0.25)
        # nail on the back of the distal segment
        L2 = np.linalg.norm(pts[3] - pts[2])
        h = np.cross(u2, q2)
        c = pts[2] + u2 * 0.62 * L2 - q2 * 0.72 * r[3]
        axes = np.stack([u2 * 0.3 * L2, h * 0.72 * r[3], -q2 * 0.34 * r[3]], axis=1)
        add(c, axes, lab + 2, nail, spec=0.35)
    # palm
    palm = base + PALM_OFFSET
    mcps = np.stack([shape.mcp[f] for f in FINGERS[1:]])
    th = shape.palm_thickness
    top = mcps.mean(0)
    centre = 0.5 * top + np.array([0.0, 0.0, 0.2 * th])
    half = np.array([0.5 * (mcps[0, 0] - mcps[3, 0]) + 0.6 * shape.radii["index"][0], 0.52 * top[1], th])
    add(centre, np.diag(half), palm, skin)
    for k, f in enumerate(FINGERS[1:]):
        m = shape.mcp[f]
        b = np.array([0.45 * m[0], 0.25 * m[1], 0.0])
        chain(b, m, 0.95 * th, max(shape.radii[f][0], 0.8 * th), palm, along=1.4)
    # thenar eminence and wrist
    cmc = xyz_l[FINGER_INDICES["thumb"][3]]
    tm = xyz_l[FINGER_INDICES["thumb"][2]]
    ax = unit(tm - cmc)
    side_ax = unit(np.cross(ax, [0.0, 0.0, 1.0]))
    nz = np.cross(side_ax, ax)
    c = 0.5 * cmc + 0.2 * tm + 0.3 * centre + np.array([0, 0, 0.25 * th])
    add(c, np.stack([ax * 0.024 * shape.scale, side_ax * 0.016 * shape.scale, nz * 0.9 * th], 1), palm, skin)
    s = shape.scale
    add(np.array([0.0, 0.012 * s, 0.1 * th]), np.diag([0.028 * s, 0.024 * s, 1.25 * th]), palm, skin)
    return (A @ xyz_l.T).T + t


def forearm_frame(f_dir: np.ndarray, twist: float) -> np.ndarray:
    """Columns x (thumb side), y (towards the hand), z (palmar) of a forearm pointing along f_dir."""
    y = unit(f_dir)
    x = perpendicular(y)
    x = axis_rotation(y, twist) @ x
    z = np.cross(x, y)
    return np.stack([x, y, z], axis=1)


def add_arm(prims: Prims, wrist: np.ndarray, F: np.ndarray, elbow: np.ndarray, shoulder: np.ndarray | None,
            skin: np.ndarray, sleeve: np.ndarray | None, sleeve_from: float, s: float) -> None:
    """Forearm (elliptic cross-section, frame F), elbow and upper arm, label 'person'."""
    def radii(t):     # (thickness radius, width / thickness) along the forearm, wrist (0) to elbow (1)
        th = (0.018 + 0.016 * t) * s
        return th, (0.027 + 0.015 * t) * s / th

    cut = wrist + sleeve_from * (elbow - wrist)
    r0, k0 = radii(0.0)
    rc, kc = radii(sleeve_from)
    r1, k1 = radii(1.0)
    prims.chain(wrist, cut, r0, rc, LABEL_PERSON, skin, side=F[:, 0], side_scale=0.5 * (k0 + kc), end=sleeve is None,
                along=2.2)
    if sleeve is not None:
        prims.chain(cut, elbow, rc + 0.007, r1 + 0.006, LABEL_PERSON, sleeve, side=F[:, 0],
                    side_scale=0.5 * (kc + k1), spec=0.02, along=2.2)
    if shoulder is None:
        return
    up_col = sleeve if sleeve is not None else skin
    prims.chain(elbow, shoulder, 0.042 * s, 0.05 * s, LABEL_PERSON, up_col, spec=0.02, along=2.2)


def add_person(prims: Prims, shoulders: list[np.ndarray], rng, skin, shirt, s: float, min_z: float = 0.0) -> None:
    """Torso, neck and head of a person facing roughly towards the camera, behind depth min_z."""
    mid = np.mean(shoulders, axis=0)
    mid[2] = max(mid[2], min_z + 0.12 * s)
    if len(shoulders) == 1:
        mid = mid + np.array([rng.choice([-1, 1]) * 0.18 * s, 0, 0])
    lean = (axis_rotation(np.array([0.0, 0.0, 1.0]), rng.normal(0, 0.12))
            @ axis_rotation(np.array([0.0, 1.0, 0.0]), rng.normal(0, 0.3)))
    up = lean @ np.array([0.0, -1.0, 0.0])
    right = lean @ np.array([1.0, 0.0, 0.0])
    fwd = np.cross(right, up)
    torso_c = mid - up * 0.26 * s + fwd * 0.02
    prims.add(torso_c, np.stack([right * 0.2 * s, up * 0.33 * s, fwd * 0.12 * s], 1), LABEL_PERSON, shirt, spec=0.02)
    prims.add(mid - up * 0.02, np.stack([right * 0.2 * s, up * 0.07 * s, fwd * 0.1 * s], 1), LABEL_PERSON, shirt,
              spec=0.02)
    prims.add(mid + up * 0.1 * s, np.stack([right * 0.048 * s, up * 0.07 * s, fwd * 0.045 * s], 1),
              LABEL_PERSON, skin)                                                                   # neck
    head = mid + up * 0.24 * s + fwd * rng.normal(0.0, 0.02)
    prims.add(head, np.stack([right * 0.078 * s, up * 0.108 * s, fwd * 0.095 * s], 1), LABEL_PERSON, skin, spec=0.06)
    hair = srgb_to_linear(np.clip(np.array([40, 30, 22]) * rng.uniform(0.4, 3.5) + rng.normal(0, 5, 3), 0, 255))
    if rng.uniform() < 0.8:
        prims.add(head + up * 0.035 * s - fwd * 0.02 * s,
                  np.stack([right * 0.084 * s, up * 0.095 * s, fwd * 0.094 * s], 1), LABEL_PERSON, hair, spec=0.08)
    # a face (faces are the classic skin-coloured distractor): eyes, brows, nose, lips, ears, maybe a beard
    def feat(offset, axes, col, spec=0.05):
        o = right * offset[0] + up * offset[1] + fwd * offset[2]
        prims.add(head + o * s, np.stack([right * axes[0], up * axes[1], fwd * axes[2]], 1) * s, LABEL_PERSON, col,
                  spec=spec)
    iris = srgb_to_linear(np.clip(np.array([60, 40, 25]) * rng.uniform(0.5, 2.0), 0, 255))
    for sx in (-1, 1):
        feat((sx * 0.031, 0.008, 0.072), (0.013, 0.008, 0.012), np.full(3, 0.6), spec=0.3)
        feat((sx * 0.031, 0.008, 0.080), (0.006, 0.006, 0.006), iris, spec=0.4)
        feat((sx * 0.032, 0.028, 0.080), (0.018, 0.004, 0.006), hair)
        feat((sx * 0.079, -0.005, 0.0), (0.012, 0.028, 0.02), skin)
    feat((0.0, -0.015, 0.092), (0.011, 0.025, 0.018), skin)
    feat((0.0, -0.052, 0.082), (0.022, 0.0065, 0.01), skin * np.array([1.05, 0.7, 0.7]))
    if rng.uniform() < 0.2:
        feat((0.0, -0.06, 0.035), (0.07, 0.055, 0.075), hair)
