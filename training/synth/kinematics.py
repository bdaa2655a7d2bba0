"""A kinematic hand: bone lengths, joint limits, forward kinematics, its inverse and a pose sampler.

The hand is built in a local frame of a RIGHT hand (metres): origin at the wrist (RHD keypoint 0),
+y towards the fingers, +z out of the palm (the palmar side), +x towards the thumb. A left hand is the
same hand mirrored in x. Keypoints come out in RHD order (see :mod:`handcam.skeleton`).

Joint angles (radians) per sample, all with explicit limits in :data:`LIMITS`:

* finger MCP: flexion (positive towards the palm, negative is hyperextension) and abduction
  (rotation about the palm normal, positive towards the thumb);
* finger PIP and DIP: single-axis flexion in the finger's plane;
* thumb CMC: two degrees of freedom, ``cmc_flex`` (in the palm plane, across the palm) and
  ``cmc_abd`` (palmar abduction, out of the palm plane); thumb MCP and IP: flexion hinges.

:func:`joint_angles` recovers every angle from 21 keypoints alone, so a dataset's keypoints can be
checked against the limits without any side information.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from handcam.skeleton import FINGER_INDICES, FINGERS, NUM_KEYPOINTS

LONG_FINGERS = FINGERS[1:]

#: Joint limits in degrees, (low, high). Names: "<finger>_<joint>_<dof>".
LIMITS_DEG: dict[str, tuple[float, float]] = {
    "thumb_cmc_flex": (-20.0, 50.0),
    "thumb_cmc_abd": (0.0, 65.0),
    "thumb_mcp_flex": (-10.0, 60.0),
    "thumb_ip_flex": (-15.0, 80.0),
}
_MCP_ABD = {"index": (-20.0, 20.0), "middle": (-15.0, 15.0), "ring": (-15.0, 15.0), "little": (-25.0, 20.0)}
for _f in LONG_FINGERS:
    LIMITS_DEG[f"{_f}_mcp_flex"] = (-25.0, 90.0)
    LIMITS_DEG[f"{_f}_mcp_abd"] = _MCP_ABD[_f]
    LIMITS_DEG[f"{_f}_pip_flex"] = (-5.0, 105.0)
    LIMITS_DEG[f"{_f}_dip_flex"] = (-10.0, 85.0)

#: The same limits in radians.
LIMITS: dict[str, tuple[float, float]] = {k: (np.radians(lo), np.radians(hi)) for k, (lo, hi) in LIMITS_DEG.items()}
JOINT_NAMES: tuple[str, ...] = tuple(LIMITS)

#: Wrist limits (they orient the hand on the forearm; not part of the 21 keypoints).
WRIST_LIMITS_DEG = {"flex": (-70.0, 70.0), "dev": (-25.0, 30.0)}

# Reference adult hand (millimetres, right-hand local frame).
_MCP_XY = {"index": (26.0, 96.0), "middle": (0.0, 100.0), "ring": (-22.0, 94.0), "little": (-42.0, 84.0)}
_THUMB_CMC = (21.0, 27.0, 6.0)
#: Bone lengths base->tip: finger (MCP-PIP, PIP-DIP, DIP-tip); thumb (CMC-MCP, MCP-IP, IP-tip).
_BONES_MM = {
    "thumb": (44.0, 32.0, 28.0),
    "index": (40.0, 24.0, 22.0),
    "middle": (45.0, 28.0, 24.0),
    "ring": (42.0, 27.0, 23.0),
    "little": (33.0, 20.0, 21.0),
}
#: Surface radii at (base, 2nd, 3rd joint, tip) in mm. Joints visible through the 1 cm depth test
#: need radius < ~9 mm.
_RADII_MM = {
    "thumb": (12.0, 8.6, 7.8, 7.0),
    "index": (9.5, 8.2, 7.2, 6.4),
    "middle": (9.6, 8.4, 7.4, 6.6),
    "ring": (9.2, 7.9, 7.0, 6.2),
    "little": (8.2, 7.0, 6.2, 5.6),
}
#: The in-plane rest direction of a finger is this fraction of its MCP's fan angle from the wrist.
FAN = 0.6
#: Rest direction of the thumb metacarpal in the palm plane (angle from +y towards +x).
THUMB_REST = np.radians(40.0)
#: Angle of the thumb's curl direction from the palm normal towards the little-finger side.
THUMB_CURL = np.radians(40.0)

#: Per keypoint, how far (metres) the rendered depth at a visible keypoint may be from its z: joints
#: inside the palm (wrist, thumb CMC) or at the knuckles sit deeper under the surface than finger joints.
VIS_TOLERANCE_M = np.full(NUM_KEYPOINTS, 0.010)
VIS_TOLERANCE_M[0] = 0.025
VIS_TOLERANCE_M[FINGER_INDICES["thumb"][3]] = 0.025
for _f in LONG_FINGERS:
    VIS_TOLERANCE_M[FINGER_INDICES[_f][3]] = 0.016


@dataclass
class HandShape:
    """Per-sample anatomy (metres)."""

    mcp: dict[str, np.ndarray]        # finger -> (3,) MCP position
    thumb_cmc: np.ndarray             # (3,)
    bones: dict[str, np.ndarray]      # finger -> (3,) bone lengths base->tip
    radii: dict[str, np.ndarray]      # finger -> (4,) radii base->tip
    palm_thickness: float             # half thickness of the palm
    scale: float


def sample_shape(rng: np.random.Generator) -> HandShape:
    """Sample a hand size (children's to large adults') and proportions."""
    s = float(np.clip(rng.normal(1.0, 0.08), 0.78, 1.2))
    width = float(np.clip(rng.normal(1.0, 0.05), 0.88, 1.12))
    thick = float(np.clip(rng.normal(1.0, 0.06), 0.85, 1.12))
    cup = rng.uniform(0.0, 1.0)
    mcp = {}
    for f, (x, y) in _MCP_XY.items():
        z = {"index": 0.0, "middle": 0.0, "ring": 2.0, "little": 5.0}[f] * cup
        mcp[f] = np.array([x * width, y * rng.normal(1.0, 0.02), z]) * s * 1e-3
    cmc = np.array(_THUMB_CMC) * s * 1e-3 * np.array([width, 1.0, 1.0])
    bones = {f: np.array(b) * s * 1e-3 * np.clip(rng.normal(1.0, 0.04, 3), 0.9, 1.1) for f, b in _BONES_MM.items()}
    radii = {}
    for f, r in _RADII_MM.items():
        rr = np.array(r) * min(s, 1.0) ** 0.5 * thick * 1e-3
        rr[1:] = np.minimum(rr[1:], 0.0084)  # keep visible joints within the depth tolerance
        radii[f] = rr
    return HandShape(mcp=mcp, thumb_cmc=cmc, bones=bones, radii=radii,
                     palm_thickness=0.0125 * thick * min(s, 1.0) ** 0.5, scale=s)


def _finger_rest_angle(mcp: np.ndarray) -> float:
    return FAN * float(np.arctan2(mcp[0], mcp[1]))


def forward(shape: HandShape, angles: dict[str, float]) -> tuple[np.ndarray, dict]:
    """Keypoints (21, 3) in the right-hand local frame and per-finger frames for the renderer.

    The extra dict maps finger -> list of (direction, palmar direction) per bone, base to tip.
    """
    xyz = np.zeros((NUM_KEYPOINTS, 3))
    z = np.array([0.0, 0.0, 1.0])
    frames: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for f in LONG_FINGERS:
        tip, dip, pip, mcp_i = FINGER_INDICES[f]
        m = shape.mcp[f]
        phi = _finger_rest_angle(m)
        d0 = np.array([np.sin(phi), np.cos(phi), 0.0])
        p = np.array([np.cos(phi), -np.sin(phi), 0.0])
        fl, ab = angles[f"{f}_mcp_flex"], angles[f"{f}_mcp_abd"]
        inplane = np.cos(ab) * d0 + np.sin(ab) * p
        u = np.cos(fl) * inplane + np.sin(fl) * z
        q = -np.sin(fl) * inplane + np.cos(fl) * z
        dirs = [(u, q)]
        for j in ("pip", "dip"):
            t = angles[f"{f}_{j}_flex"]
            u, q = np.cos(t) * u + np.sin(t) * q, -np.sin(t) * u + np.cos(t) * q
            dirs.append((u, q))
        b = shape.bones[f]
        xyz[mcp_i] = m
        xyz[pip] = m + b[0] * dirs[0][0]
        xyz[dip] = xyz[pip] + b[1] * dirs[1][0]
        xyz[tip] = xyz[dip] + b[2] * dirs[2][0]
        frames[f] = dirs
    # thumb
    tip, ip, mcp_i, cmc = FINGER_INDICES["thumb"]
    psi = THUMB_REST - angles["thumb_cmc_flex"]
    beta = angles["thumb_cmc_abd"]
    u = np.cos(beta) * np.array([np.sin(psi), np.cos(psi), 0.0]) + np.sin(beta) * z
    c = _thumb_curl(u)
    dirs = [(u, c)]
    for j in ("mcp", "ip"):
        t = angles[f"thumb_{j}_flex"]
        u, c = np.cos(t) * u + np.sin(t) * c, -np.sin(t) * u + np.cos(t) * c
        dirs.append((u, c))
    b = shape.bones["thumb"]
    xyz[cmc] = shape.thumb_cmc
    xyz[mcp_i] = xyz[cmc] + b[0] * dirs[0][0]
    xyz[ip] = xyz[mcp_i] + b[1] * dirs[1][0]
    xyz[tip] = xyz[ip] + b[2] * dirs[2][0]
    frames["thumb"] = dirs
    return xyz, frames


def _thumb_curl(u: np.ndarray) -> np.ndarray:
    g = np.array([-np.sin(THUMB_CURL), 0.0, np.cos(THUMB_CURL)])
    c = g - (g @ u) * u
    return c / np.linalg.norm(c)


def local_frame(xyz: np.ndarray) -> np.ndarray:
    """Rotation (3, 3) whose columns are the local x, y, z axes of a RIGHT hand's keypoints."""
    w, i, m = xyz[0], xyz[FINGER_INDICES["index"][3]], xyz[FINGER_INDICES["middle"][3]]
    y = (m - w) / np.linalg.norm(m - w)
    zz = np.cross(i - w, m - w)
    zz = zz / np.linalg.norm(zz)
    x = np.cross(y, zz)
    return np.stack([x, y, zz], axis=1)


def joint_angles(xyz: np.ndarray, side: str = "right") -> dict[str, float]:
    """Recover every joint angle (radians) from 21 keypoints in any rigidly moved frame (metres).

    Left hands are mirrored into right hands first. Also returns ``"<finger>_planarity"``: how far
    (radians) the finger bends out of its own plane, 0 for a hand built by :func:`forward`.
    """
    xyz = np.asarray(xyz, dtype=np.float64)
    if side == "left":
        xyz = xyz * np.array([-1.0, 1.0, 1.0])
    local = (xyz - xyz[0]) @ local_frame(xyz)
    z = np.array([0.0, 0.0, 1.0])
    out: dict[str, float] = {}
    for f in LONG_FINGERS:
        tip, dip, pip, mcp_i = FINGER_INDICES[f]
        m = local[mcp_i]
        phi = _finger_rest_angle(m)
        d0 = np.array([np.sin(phi), np.cos(phi), 0.0])
        p = np.array([np.cos(phi), -np.sin(phi), 0.0])
        bones = [local[pip] - m, local[dip] - local[pip], local[tip] - local[dip]]
        bones = [b / np.linalg.norm(b) for b in bones]
        u = bones[0]
        fl = float(np.arcsin(np.clip(u @ z, -1, 1)))
        v = u - (u @ z) * z
        if np.linalg.norm(v) < 0.5:
            # Near 90 degrees of MCP flexion the bone's own direction hardly tells the abduction; the
            # finger's plane does (its normal is the MCP's lateral axis, independent of flexion).
            h = np.cross(u, bones[1]) if np.linalg.norm(np.cross(u, bones[1])) > 0.2 else np.cross(u, bones[2])
            if np.linalg.norm(h) > 1e-6:
                v = np.array([-h[1], h[0], 0.0])
                v = v if v @ d0 > 0 else -v
        ab = float(np.arctan2(v @ p, v @ d0))
        inplane = np.cos(ab) * d0 + np.sin(ab) * p
        q = -np.sin(fl) * inplane + np.cos(fl) * z
        out[f"{f}_mcp_flex"], out[f"{f}_mcp_abd"] = fl, ab
        planar = 0.0
        for j, nxt in zip(("pip", "dip"), bones[1:]):
            t = float(np.arctan2(nxt @ q, nxt @ u))
            side_axis = np.cross(u, q)
            planar = max(planar, abs(float(np.arcsin(np.clip(nxt @ side_axis, -1, 1)))))
            out[f"{f}_{j}_flex"] = t
            u, q = nxt, -np.sin(t) * u + np.cos(t) * q
        out[f"{f}_planarity"] = planar
    tip, ip, mcp_i, cmc = FINGER_INDICES["thumb"]
    bones = [local[mcp_i] - local[cmc], local[ip] - local[mcp_i], local[tip] - local[ip]]
    bones = [b / np.linalg.norm(b) for b in bones]
    u = bones[0]
    out["thumb_cmc_abd"] = float(np.arcsin(np.clip(u @ z, -1, 1)))
    out["thumb_cmc_flex"] = float(THUMB_REST - np.arctan2(u[0], u[1]))
    c = _thumb_curl(u)
    planar = 0.0
    for j, nxt in zip(("mcp", "ip"), bones[1:]):
        t = float(np.arctan2(nxt @ c, nxt @ u))
        planar = max(planar, abs(float(np.arcsin(np.clip(nxt @ np.cross(u, c), -1, 1)))))
        out[f"thumb_{j}_flex"] = t
        u, c = nxt, -np.sin(t) * u + np.cos(t) * c
    out["thumb_planarity"] = planar
    return out


# ----------------------------------------------------------------------------------------------
# Pose sampler

def _deg(d: dict[str, float]) -> dict[str, float]:
    return {k: np.radians(v) for k, v in d.items()}


def _finger(f: str, mcp: float, pip: float, dip: float, abd: float = 0.0) -> dict[str, float]:
    return {f"{f}_mcp_flex": mcp, f"{f}_pip_flex": pip, f"{f}_dip_flex": dip, f"{f}_mcp_abd": abd}


def _thumb(cf: float, ca: float, m: float, i: float) -> dict[str, float]:
    return {"thumb_cmc_flex": cf, "thumb_cmc_abd": ca, "thumb_mcp_flex": m, "thumb_ip_flex": i}


_OPEN = {"index": (5, 5, 3, 8), "middle": (5, 5, 3, 0), "ring": (5, 5, 3, -6), "little": (5, 5, 3, -14)}
_CURLED = (80, 100, 60, 0)


def _pose(extended: set[str], thumb: tuple[float, float, float, float]) -> dict[str, float]:
    d: dict[str, float] = {}
    for f in LONG_FINGERS:
        m, p, dd, a = _OPEN[f] if f in extended else _CURLED
        d.update(_finger(f, m, p, dd, a))
    d.update(_thumb(*thumb))
    return d


_THUMB_OUT = (-10, 10, 0, 5)
_THUMB_IN = (35, 35, 35, 40)
_THUMB_UP = (-5, 5, -5, 0)

#: Named base poses (degrees); the sampler perturbs them and clips to the limits.
POSES: dict[str, dict[str, float]] = {
    "open": _pose(set(LONG_FINGERS), _THUMB_OUT),
    "fist": _pose(set(), _THUMB_IN),
    "pointing": _pose({"index"}, _THUMB_IN),
    "victory": _pose({"index", "middle"}, _THUMB_IN),
    "three": _pose({"index", "middle", "ring"}, _THUMB_IN),
    "four": _pose(set(LONG_FINGERS), _THUMB_IN),
    "thumbs_up": _pose(set(), _THUMB_UP),
    "rock": _pose({"index", "little"}, _THUMB_IN),
    "call": _pose({"little"}, _THUMB_OUT),
    "l_shape": _pose({"index"}, _THUMB_OUT),
    "pinch": {**_pose({"middle", "ring", "little"}, (15, 45, 15, 15)), **_finger("index", 45, 45, 20, 0)},
    "ok": {**_pose({"middle", "ring", "little"}, (20, 50, 20, 20)), **_finger("index", 50, 60, 30, 0)},
    "claw": {**_pose(set(), (10, 40, 20, 30)),
             **{k: v for f in LONG_FINGERS for k, v in _finger(f, 20, 70, 50, _OPEN[f][3]).items()}},
    "flat_together": {**_pose(set(LONG_FINGERS), (5, 10, 5, 5)),
                      **{f"{f}_mcp_abd": a for f, a in (("index", -5), ("middle", 0), ("ring", 4), ("little", 6))}},
}
_POSE_WEIGHTS = {"open": 3, "fist": 2, "pointing": 2, "victory": 1.5, "three": 1, "four": 1, "thumbs_up": 1,
                 "rock": 0.7, "call": 0.5, "l_shape": 1, "pinch": 1.5, "ok": 1.2, "claw": 1, "flat_together": 1,
                 "random": 4}


def clip_to_limits(angles: dict[str, float]) -> dict[str, float]:
    return {k: float(np.clip(angles[k], *LIMITS[k])) for k in JOINT_NAMES}


def sample_pose(rng: np.random.Generator, kind: str | None = None) -> tuple[str, dict[str, float]]:
    """A natural pose: a named pose with noise, or a random one with correlated finger flexion."""
    names = list(_POSE_WEIGHTS)
    w = np.array([_POSE_WEIGHTS[n] for n in names], dtype=float)
    if kind is None:
        kind = names[int(rng.choice(len(names), p=w / w.sum()))]
    if kind == "random":
        curl = rng.beta(1.2, 1.2)
        ang: dict[str, float] = {}
        for f in LONG_FINGERS:
            c = float(np.clip(curl + rng.normal(0, 0.25), 0, 1))
            pip = np.radians(105 * c + rng.normal(0, 8))
            ang[f"{f}_pip_flex"] = pip
            ang[f"{f}_dip_flex"] = 0.7 * pip + np.radians(rng.normal(0, 8))   # DIP follows PIP
            ang[f"{f}_mcp_flex"] = np.radians(90 * c + rng.normal(0, 12))
            lo, hi = LIMITS[f"{f}_mcp_abd"]
            spread = rng.uniform(0, 1) * (1 - c)
            ang[f"{f}_mcp_abd"] = spread * (hi if f in ("index",) else lo if f in ("ring", "little") else 0) \
                + np.radians(rng.normal(0, 4))
        for k in ("thumb_cmc_flex", "thumb_cmc_abd", "thumb_mcp_flex", "thumb_ip_flex"):
            ang[k] = rng.uniform(*LIMITS[k])
        return kind, clip_to_limits(ang)
    base = _deg(POSES[kind])
    noise = {k: np.radians(rng.normal(0, 7 if k.endswith("flex") else 4)) for k in JOINT_NAMES}
    return kind, clip_to_limits({k: base[k] + noise[k] for k in JOINT_NAMES})
