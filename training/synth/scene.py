"""Random scenes: camera, people (:mod:`.body`), distractors, as ellipsoid primitives.

Mask labels follow RHD: 0 background (and distractor objects), 1 person, 2-17 left hand, 18-33 right hand.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..rhd_format import LABEL_PERSON
from . import kinematics as kin
from .body import (
    add_arm,
    add_hand,
    add_person,
    axis_rotation,
    forearm_frame,
    perpendicular,
    sample_cloth,
    sample_skin,
    unit,
)
from .render import Prims


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
    p = p / (np.linalg.norm(p) + 1e-9) if np.linalg.norm(p) > 1e-6 else perpendicular(u)
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
            shoulder = wrist + np.array([lat * rng.uniform(0.0, 0.3), -rng.uniform(-0.1, 0.45),
                                         rng.uniform(0.1, 0.45)]) * s
        pref = np.array([lat * 0.6, 1.0, 0.3])
        shoulder, elbow = _elbow(shoulder, wrist, 0.29 * s, 0.26 * s, pref, rng)
        shoulders.append(shoulder)
        f_dir = wrist - elbow
        F = forearm_frame(f_dir, rng.uniform(-np.pi, np.pi))
        wf = np.radians(rng.uniform(*kin.WRIST_LIMITS_DEG["flex"]))
        wd = np.radians(rng.uniform(*kin.WRIST_LIMITS_DEG["dev"]))
        # flexion turns the hand towards its palm, deviation towards the thumb (mirrored for left hands)
        Rh = (F @ axis_rotation(np.array([1.0, 0.0, 0.0]), wf)
              @ axis_rotation(np.array([0.0, 0.0, 1.0]), -wd if side == "right" else wd))
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
        Q = axis_rotation(unit(rng.normal(size=3)), rng.uniform(0, np.pi))
        axes = Q @ np.diag(sz * rng.uniform(0.3, 1.0, 3))
        prims.add(c, axes, 0, col, spec=rng.uniform(0, 0.4))
    if rng.uniform() < 0.2:     # another person's limb crossing the view
        z = rng.uniform(0.4, 2.0)
        a = _backproject(K, rng.uniform(-0.2, 1.2) * size, rng.uniform(-0.2, 1.2) * size, z)
        b = a + unit(rng.normal(size=3)) * rng.uniform(0.2, 0.5)
        b[2] = max(b[2], 0.2)
        col = sample_skin(rng) if rng.uniform() < 0.6 else sample_cloth(rng)
        r = rng.uniform(0.03, 0.06)
        prims.chain(a, b, r, r * 0.8, LABEL_PERSON, col, along=2.2)
