"""Random scenes: camera, people (hands, arms, torso, head), distractors, as ellipsoid primitives.

Mask labels follow RHD: 0 background (and distractor objects), 1 person (arms, body, head),
2-17 left hand, 18-33 right hand. Within a hand: 3 labels per finger (thumb, index, middle, ring,
little; proximal, middle, distal segment in that order) and the palm last (17 left, 33 right).
"""
from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np

from handcam.skeleton import FINGER_INDICES, FINGERS

from . import kinematics as kin
from .render import Prims

LABEL_PERSON = 1
LABEL_BASE = {"left": 2, "right": 18}
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


def _rot(axis: np.ndarray, angle: float) -> np.ndarray:
    axis = axis / np.linalg.norm(axis)
    x, y, z = axis
    c, s = np.cos(angle), np.sin(angle)
    C = 1 - c
    return np.array([[c + x * x * C, x * y * C - z * s, x * z * C + y * s],
                     [y * x * C + z * s, c + y * y * C, y * z * C - x * s],
                     [z * x * C - y * s, z * y * C + x * s, c + z * z * C]])


def _perp(v: np.ndarray) -> np.ndarray:
    a = np.array([1.0, 0.0, 0.0]) if abs(v[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    p = np.cross(v, a)
    return p / np.linalg.norm(p)


def _unit(v):
    v = np.asarray(v, float)
    return v / np.linalg.norm(v)


@dataclass
class Hand:
    side: str
    xyz: np.ndarray          # (21, 3) camera frame, metres
    present: bool
    pose: str = ""
    angles: dict | None = None


@dataclass
class Scene:
    K: np.ndarray
    prims: dict
    hands: dict              # side -> Hand
    bg_depth: float
    mode: str


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
        chain(pts[1], pts[2], r[1], r[2], lab + 1, crease_at=(0.0, 1.0), crease_w=0.3, side=lat[1], side_scale=1.12, along=1.4)
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
    ax = _unit(tm - cmc)
    side_ax = _unit(np.cross(ax, [0.0, 0.0, 1.0]))
    nz = np.cross(side_ax, ax)
    c = 0.5 * cmc + 0.2 * tm + 0.3 * centre + np.array([0, 0, 0.25 * th])
    add(c, np.stack([ax * 0.024 * shape.scale, side_ax * 0.016 * shape.scale, nz * 0.9 * th], 1), palm, skin)
    s = shape.scale
    add(np.array([0.0, 0.012 * s, 0.1 * th]), np.diag([0.028 * s, 0.024 * s, 1.25 * th]), palm, skin)
    return (A @ xyz_l.T).T + t


def _forearm_frame(f_dir: np.ndarray, twist: float) -> np.ndarray:
    """Columns x (thumb side), y (towards the hand), z (palmar) of a forearm pointing along f_dir."""
    y = _unit(f_dir)
    x = _perp(y)
    x = _rot(y, twist) @ x
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
    lean = _rot(np.array([0.0, 0.0, 1.0]), rng.normal(0, 0.12)) @ _rot(np.array([0.0, 1.0, 0.0]), rng.normal(0, 0.3))
    up = lean @ np.array([0.0, -1.0, 0.0])
    right = lean @ np.array([1.0, 0.0, 0.0])
    fwd = np.cross(right, up)
    torso_c = mid - up * 0.26 * s + fwd * 0.02
    prims.add(torso_c, np.stack([right * 0.2 * s, up * 0.33 * s, fwd * 0.12 * s], 1), LABEL_PERSON, shirt, spec=0.02)
    prims.add(mid - up * 0.02, np.stack([right * 0.2 * s, up * 0.07 * s, fwd * 0.1 * s], 1), LABEL_PERSON, shirt, spec=0.02)
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


# ----------------------------------------------------------------------------------------------
# Scene sampling

def sample_camera(rng: np.random.Generator, size: int) -> np.ndarray:
    f = rng.uniform(0.7, 1.5) * size
    fx = f * rng.normal(1.0, 0.01)
    c = size / 2 - 0.5
    return np.array([[fx, 0.0, c + rng.normal(0, 0.02 * size)], [0.0, f, c + rng.normal(0, 0.02 * size)],
                     [0.0, 0.0, 1.0]])


def _backproject(K, u, v, z):
    return np.array([(u - K[0, 2]) / K[0, 0] * z, (v - K[1, 2]) / K[1, 1] * z, z])


def _elbow(shoulder, wrist, L1, L2, pref, rng):
    d = wrist - shoulder
    dist = np.linalg.norm(d)
    dist_c = np.clip(dist, 0.35 * (L1 + L2), 0.97 * (L1 + L2))
    if dist_c != dist:
        shoulder = wrist - d / dist * dist_c
        d = wrist - shoulder
        dist = dist_c
    u = d / dist
    a = (L1 ** 2 - L2 ** 2 + dist ** 2) / (2 * dist)
    h = np.sqrt(max(L1 ** 2 - a ** 2, 0.0))
    p = pref + rng.normal(0, 0.4, 3)
    p = p - (p @ u) * u
    p = p / (np.linalg.norm(p) + 1e-9) if np.linalg.norm(p) > 1e-6 else _perp(u)
    return shoulder, shoulder + a * u + h * p


def sample_scene(rng: np.random.Generator, size: int = 320) -> Scene:
    K = sample_camera(rng, size)
    prims = Prims()
    r = rng.uniform()
    n_hands = 0 if r < 0.08 else (1 if r < 0.65 else 2)
    mode = rng.choice(["facing", "egocentric", "arm"], p=[0.55, 0.25, 0.2])
    skin = sample_skin(rng)
    shirt = sample_cloth(rng)
    sleeve = None if rng.uniform() < 0.3 else (shirt if rng.uniform() < 0.7 else sample_cloth(rng))
    sleeve_from = rng.uniform(0.15, 0.9) if sleeve is not None else 1.0
    s_body = rng.uniform(0.8, 1.15)
    sides = list(rng.permutation(["left", "right"]))[:n_hands] if n_hands < 2 else ["left", "right"]
    hands: dict[str, Hand] = {}
    shoulders = []
    first_wrist = None
    for k, side in enumerate(sides):
        shape = kin.sample_shape(rng)
        pose, angles = kin.sample_pose(rng)
        # a facing person's right side appears on the image's left; seen from their own eyes, on the right
        lat = (-1.0 if side == "right" else 1.0) * (-1.0 if mode == "egocentric" else 1.0)
        s = shape.scale * s_body
        if k == 0 or mode == "arm":
            px = np.exp(rng.uniform(np.log(60), np.log(280))) * size / 320
            z = K[0, 0] * 0.19 * shape.scale / px
            u, v = rng.uniform(0.12, 0.88) * size, rng.uniform(0.12, 0.9) * size
            wrist = _backproject(K, u, v, z)
        else:
            wrist = first_wrist + np.array([lat * rng.uniform(0.1, 0.45), rng.normal(0, 0.12), rng.normal(0, 0.08)])
        first_wrist = wrist if first_wrist is None else first_wrist
        if mode == "egocentric":
            shoulder = np.array([lat * 0.18 * s, 0.25 * s, -0.05]) + rng.normal(0, 0.03, 3)
            if k == 0:
                # the hand is placed where the arm can reach: move it to a plausible reach
                reach = wrist - shoulder
                wrist = shoulder + reach / np.linalg.norm(reach) * rng.uniform(0.35, 0.6) * s
        elif mode == "facing" and k > 0:
            shoulder = shoulders[0] + np.array([lat * 0.36 * s, rng.normal(0, 0.02), rng.normal(0, 0.03)])
        else:
            shoulder = wrist + np.array([lat * rng.uniform(0.0, 0.3), -rng.uniform(-0.1, 0.45), rng.uniform(0.1, 0.45)]) * s
        pref = np.array([lat * 0.6, 1.0, 0.3])
        shoulder, elbow = _elbow(shoulder, wrist, 0.29 * s, 0.26 * s, pref, rng)
        shoulders.append(shoulder)
        f_dir = wrist - elbow
        F = _forearm_frame(f_dir, rng.uniform(-np.pi, np.pi))
        wf = np.radians(rng.uniform(*kin.WRIST_LIMITS_DEG["flex"]))
        wd = np.radians(rng.uniform(*kin.WRIST_LIMITS_DEG["dev"]))
        # flexion turns the hand towards its palm, deviation towards the thumb (mirrored for left hands)
        Rh = F @ _rot(np.array([1.0, 0.0, 0.0]), wf) @ _rot(np.array([0.0, 0.0, 1.0]), -wd if side == "right" else wd)
        # a left hand is the mirrored right hand inside the same right-handed frame Rh
        xyz = add_hand(prims, shape, angles, side, Rh, wrist, skin, rng)
        with_shoulder = mode != "arm" or rng.uniform() < 0.5
        add_arm(prims, wrist, F, elbow, shoulder if with_shoulder else None, skin, sleeve, sleeve_from, s)
        hands[side] = Hand(side=side, xyz=xyz, present=True, pose=pose, angles=angles)
    if mode == "facing":
        if not shoulders:
            c = _backproject(K, rng.uniform(0.2, 0.8) * size, rng.uniform(0.3, 1.0) * size, rng.uniform(0.8, 2.5))
            shoulders = [c]
        wz = [h.xyz[:, 2].max() for h in hands.values()]
        add_person(prims, shoulders, rng, skin, shirt, s_body, min_z=max(wz, default=0.0))
    # absent hands: out of view (to the side, in front of the camera), flagged invisible by the writer
    for side in ("left", "right"):
        if side not in hands:
            shape = kin.sample_shape(rng)
            pose, angles = kin.sample_pose(rng, "open")
            xyz_l, _ = kin.forward(shape, angles)
            if side == "left":
                xyz_l = xyz_l * np.array([-1.0, 1.0, 1.0])
            off = np.array([(-3.0 if side == "right" else 3.0), 0.0, 1.0])
            hands[side] = Hand(side=side, xyz=xyz_l + off, present=False, pose="absent", angles=angles)
    add_distractors(prims, rng, K, size, hands)
    zs = [h.xyz[:, 2].max() for h in hands.values() if h.present]
    bg_depth = float(np.clip(max(zs + [0.5]) + rng.uniform(0.5, 3.0), 1.0, 4.9))
    return Scene(K=K, prims=prims.arrays(), hands=hands, bg_depth=bg_depth, mode=str(mode))


def add_distractors(prims: Prims, rng: np.random.Generator, K: np.ndarray, size: int, hands: dict) -> None:
    """Skin-coloured and other blobs (label 0), stray limbs (label 1); some in front of a hand."""
    present = [h for h in hands.values() if h.present]
    for _ in range(rng.poisson(1.5)):
        col = sample_skin(rng) if rng.uniform() < 0.5 else rng.uniform(0, 1, 3) ** 2.2
        occluder = present and rng.uniform() < 0.25
        if occluder:
            h = present[int(rng.integers(len(present)))]
            target = h.xyz[int(rng.integers(21))]
            z = target[2] * rng.uniform(0.5, 0.9)
            c = target * z / target[2] + rng.normal(0, 0.03, 3) * z
            sz = rng.uniform(0.01, 0.04) * z / 0.5
        else:
            z = rng.uniform(0.3, 3.0)
            c = _backproject(K, rng.uniform(0, size), rng.uniform(0, size), z)
            sz = rng.uniform(0.02, 0.12) * z
        Q = _rot(_unit(rng.normal(size=3)), rng.uniform(0, np.pi))
        axes = Q @ np.diag(sz * rng.uniform(0.3, 1.0, 3))
        prims.add(c, axes, 0, col, spec=rng.uniform(0, 0.4))
    if rng.uniform() < 0.2:     # another person's limb crossing the view
        z = rng.uniform(0.4, 2.0)
        a = _backproject(K, rng.uniform(-0.2, 1.2) * size, rng.uniform(-0.2, 1.2) * size, z)
        b = a + _unit(rng.normal(size=3)) * rng.uniform(0.2, 0.5)
        b[2] = max(b[2], 0.2)
        col = sample_skin(rng) if rng.uniform() < 0.6 else sample_cloth(rng)
        r = rng.uniform(0.03, 0.06)
        prims.chain(a, b, r, r * 0.8, LABEL_PERSON, col, along=2.2)
