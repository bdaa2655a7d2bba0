"""The hand in the camera's metres, from the networks' normalised 3D hand and its 2D keypoints.

The lifting stage gives ``keypoints_3d`` ``P`` (21 x 3, RHD order): root-relative (keypoint 0, the palm
centre, at the origin) and scaled so that bone 12-11 (middle finger MCP -> PIP) has length 1. Its axes
are the camera's: the lifting targets are ``handcam.canonical.normalize_xyz`` of camera-frame
coordinates (``training.rhd.select_hand``) and the inverse canonical transform brings the prediction back
to that frame, so x points right, y down and z forward (away from the camera, into the scene), as in
RHD's camera coordinates and the renders of ``training.synth`` (``u = fx x / z + cx``). No axis
conversion is needed.

The hand in metres is ``X = s P + T`` with ``s = bone_length`` (the length of bone 12-11, in metres: the
pipeline's choice of it, fitted to a mean hand or from the user's hand length, is ``handcam.handsize``'s)
and ``T`` the root's position, chosen so that ``X`` projects onto the 2D keypoints ``(u, v)``.
Pinhole projection ``u = fx X_x / X_z + cx`` gives, per keypoint, two equations linear in ``T``::

    (s P_x + T_x) - x_n (s P_z + T_z) = 0,      x_n = (u - cx) / fx
    (s P_y + T_y) - y_n (s P_z + T_z) = 0,      y_n = (v - cy) / fy

(the form ``fx (s P_x + T_x) - (u - cx)(s P_z + T_z) = 0`` divided by ``fx``, resp. ``fy``: the same
solution when ``fx == fy``, and each residual is then a lateral offset in metres at the keypoint's
depth). 42 weighted equations in 3 unknowns; their least-squares solution has a closed form. With
weighted means ``m(.)`` and centred values ``a~ = a - m(a)``, ``b_x = s (x_n P_z - P_x)``,
``b_y = s (y_n P_z - P_y)``::

    T_z = -sum w (x_n~ b_x~ + y_n~ b_y~) / sum w (x_n~^2 + y_n~^2)
    T_x = m(b_x) + T_z m(x_n),  T_y = m(b_y) + T_z m(y_n)

i.e. the depth follows from the hand's apparent size (the spread of its 2D keypoints) and the lateral
position from where it appears. Optionally a few Gauss-Newton steps then minimise the weighted squared
reprojection error in pixels.

Pixel convention (the one of ``keypoints_2d``): frame pixel ``(x, y)`` with integer values at pixel
*centres*; pixel ``i`` covers ``[i - 0.5, i + 0.5]``, the frame spans ``[-0.5, W - 0.5]``. This is how
the pipeline maps points between resizes (``geometry.resize_points``: ``(p + 0.5) * s - 0.5``), how the
training data mirrors (``u -> W - 1 - u``) and how the renders' cameras are made (``c = size / 2 - 0.5``).
So the image centre is ``((W - 1) / 2, (H - 1) / 2)``.

Degenerate hands (documented rule): every coordinate of a hand is NaN when its weights sum to 0 (or are
all NaN/negative: negative and NaN weights count as 0), when its weighted 2D keypoints have no spread
(all at one point: the depth is undetermined), when the solved root depth ``T_z`` is not > 0 (the root is
not in front of the camera) or not finite, or when a tensor ``bone_length`` of that hand is not a
positive finite number. Keypoints of weight 0 are ignored entirely (they may be NaN).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import torch

from . import geometry as G
from .skeleton import NUM_KEYPOINTS

__all__ = [
    "DEFAULT_BONE_LENGTH",
    "DEFAULT_FOV_DEG",
    "Intrinsics",
    "camera_keypoints",
    "project_points",
    "reprojection_errors",
    "solve_translation",
]

log = logging.getLogger(__name__)

#: Assumed length (metres) of bone 12-11 (middle finger MCP -> PIP, the proximal phalanx) of an adult
#: hand: 45 mm. Radiographic means of the middle finger's proximal phalanx of adults are about 44-45 mm
#: (Buryanov & Kotiuk 2010, "Proportions of hand segments", Int. J. Morphol. 28(3): 755-758, about
#: 44.6 mm); Ozsoy, Oner & Oner 2019 (Medicine Science, hand radiographs of 60 adults) report proximal
#: phalanges of 41.7 mm (men) and 38.2 mm (women) averaged over the fingers, the middle finger's being the
#: longest. The synthetic engine's reference hand uses the same 45 mm (``training.synth.kinematics``,
#: ``_BONES_MM["middle"][0]``), scaled per hand by about N(1, 0.08) x N(1, 0.04).
DEFAULT_BONE_LENGTH = 0.045

#: Horizontal field of view (degrees) of a typical webcam: the Logitech C920 (the most common USB webcam;
#: 78 degrees diagonal on its 16:9 sensor per its data sheet): ``2 atan(tan(39 deg) * 16 / sqrt(16^2 + 9^2))``
#: = 70.4 degrees. Laptop cameras are often narrower (about 55-65 degrees).
DEFAULT_FOV_DEG = 70.4

#: Below this weighted spread of the normalised 2D keypoints (radians^2) a hand's depth is undetermined.
_MIN_SPREAD = 1e-12


def _finite_number(value, name: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(out):
        raise ValueError(f"{name} must be finite, got {out}")
    return out


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels of the frame: focal lengths ``fx``, ``fy`` and principal point
    ``(cx, cy)``, with integer pixel coordinates at pixel centres (see the module docstring)."""

    fx: float
    fy: float
    cx: float
    cy: float

    def __post_init__(self):
        for name in ("fx", "fy", "cx", "cy"):
            object.__setattr__(self, name, _finite_number(getattr(self, name), name))
        if self.fx <= 0 or self.fy <= 0:
            raise ValueError(f"focal lengths must be > 0 pixels, got fx={self.fx}, fy={self.fy}")

    @classmethod
    def from_fov(cls, frame_hw: tuple[int, int], fov_deg: float = DEFAULT_FOV_DEG) -> "Intrinsics":
        """Square pixels, principal point at the image centre ``((W - 1) / 2, (H - 1) / 2)``, and a
        horizontal field of view ``fov_deg`` spanning the whole width (from the left edge of the first
        column, x = -0.5, to the right edge of the last, x = W - 0.5): ``fx = fy = W / (2 tan(fov / 2))``.

        frame_hw: (height, width) of the frame in pixels.
        """
        try:
            h, w = frame_hw
        except (TypeError, ValueError):
            raise ValueError(f"frame_hw must be (height, width), got {frame_hw!r}") from None
        h, w = _finite_number(h, "frame height"), _finite_number(w, "frame width")
        if h != int(h) or w != int(w) or h < 1 or w < 1:
            raise ValueError(f"frame_hw must be two positive integers, got {frame_hw!r}")
        fov = _finite_number(fov_deg, "fov_deg")
        if not 0.0 < fov < 180.0:
            raise ValueError(f"fov_deg must be in (0, 180) degrees, got {fov}")
        f = w / (2.0 * math.tan(math.radians(fov) / 2.0))
        return cls(f, f, (w - 1) / 2.0, (h - 1) / 2.0)

    @classmethod
    def from_matrix(cls, matrix) -> "Intrinsics":
        """From a 3 x 3 camera matrix ``[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` (no skew)."""
        k = np.asarray(matrix, dtype=np.float64)
        if k.shape != (3, 3):
            raise ValueError(f"a camera matrix must be 3 x 3, got shape {k.shape}")
        if not np.isfinite(k).all():
            raise ValueError("the camera matrix has non-finite entries")
        if k[0, 1] != 0 or k[1, 0] != 0 or k[2, 0] != 0 or k[2, 1] != 0 or k[2, 2] != 1:
            raise ValueError(f"expected [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] (no skew), got {k.tolist()}")
        return cls(k[0, 0], k[1, 1], k[0, 2], k[1, 2])

    def matrix(self) -> np.ndarray:
        """The 3 x 3 camera matrix (float64)."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def as_tensor(self, device=None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """``(fx, fy, cx, cy)`` as a tensor of shape (4,)."""
        return torch.tensor([self.fx, self.fy, self.cx, self.cy], device=device, dtype=dtype)


# ------------------------------------------------------------------------------------------------
# Inputs (the solve runs on the host in float64 numpy: a few dozen operations on 21-point arrays, where
# per-operation overheads of tensors would cost more than the arithmetic; results come back as tensors)

def _as_tensor(x, name: str, device=None) -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    return t if device is None else t.to(device)


def _out_dtype(*xs) -> torch.dtype:
    """The inputs' common floating dtype, at least float32 (the dtype of the result)."""
    if not any(isinstance(x, torch.Tensor) for x in xs):     # host arrays: numpy's rule, no tensors made
        wide = any(np.asarray(x).dtype == np.float64 for x in xs)
        return torch.float64 if wide else torch.float32
    dt = torch.float32
    for x in xs:
        t = x.dtype if isinstance(x, torch.Tensor) else torch.from_numpy(np.zeros(0, np.asarray(x).dtype)).dtype
        if t.is_floating_point:
            dt = torch.promote_types(dt, t)
    return dt


def hands_array(keypoints_3d) -> tuple[np.ndarray, bool]:
    """B x 21 x 3 (or one hand, 21 x 3; a tensor or an array) -> (a B x 21 x 3 float64 host array, whether
    one hand was given); a ValueError names any other shape."""
    p = G.host_array(keypoints_3d, np.float64)
    single = p.ndim == 2
    if single:
        p = p[None]
    if p.ndim != 3 or p.shape[1:] != (NUM_KEYPOINTS, 3):
        raise ValueError(f"keypoints_3d must be B x {NUM_KEYPOINTS} x 3 (or {NUM_KEYPOINTS} x 3), "
                         f"got shape {tuple(p.shape)}")
    return p, single


def _prepare(keypoints_3d, keypoints_2d, intrinsics, weights):
    """Batched float64 host arrays (B x 21 x 3, B x 21 x 2, B x 4, B x 21), whether the inputs were a single
    hand (21 x 3), and the result's dtype and device."""
    p, single = hands_array(keypoints_3d)
    b = p.shape[0]
    device = keypoints_3d.device if isinstance(keypoints_3d, torch.Tensor) else torch.device("cpu")
    uv = G.host_array(keypoints_2d, np.float64)
    if single and uv.ndim == 2:
        uv = uv[None]
    if tuple(uv.shape) != (b, NUM_KEYPOINTS, 2):
        raise ValueError(f"keypoints_2d must be {b} x {NUM_KEYPOINTS} x 2 to match keypoints_3d, "
                         f"got shape {tuple(uv.shape)}")
    typed = [keypoints_3d, keypoints_2d]
    if isinstance(intrinsics, Intrinsics):
        k = np.array([intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy])
    else:
        k = G.host_array(intrinsics, np.float64)
        typed.append(intrinsics)
    if k.ndim == 1:
        k = k[None]
    if k.ndim != 2 or k.shape[1] != 4 or k.shape[0] not in (1, b):
        raise ValueError(f"intrinsics must be an Intrinsics or a (B x) 4 tensor (fx, fy, cx, cy) with B = {b}, "
                         f"got shape {tuple(k.shape)}")
    if weights is None:
        w = np.ones((b, NUM_KEYPOINTS))
    else:
        w = G.host_array(weights, np.float64)
        typed.append(weights)
        if single and w.ndim == 1:
            w = w[None]
        if tuple(w.shape) != (b, NUM_KEYPOINTS):
            raise ValueError(f"weights must be {b} x {NUM_KEYPOINTS}, got shape {tuple(w.shape)}")
    w = np.where(w > 0, w, 0.0)          # negative and NaN weights count as 0
    return p, uv, np.broadcast_to(k, (b, 4)), w, single, _out_dtype(*typed), device


def _scale(bone_length, b: int) -> np.ndarray:
    """Bone lengths as a B array: a Python number must be positive (ValueError); a tensor's entries that
    are not positive and finite give NaN (the hand's rows come back NaN)."""
    if isinstance(bone_length, (torch.Tensor, np.ndarray)):
        s = G.host_array(bone_length, np.float64)
        if s.ndim == 0:
            s = np.full(b, float(s))
        if tuple(s.shape) != (b,):
            raise ValueError(f"bone_length must be a number or a tensor of shape ({b},), got {tuple(s.shape)}")
        return np.where(np.isfinite(s) & (s > 0), s, np.nan)
    value = _finite_number(bone_length, "bone_length")
    if value <= 0:
        raise ValueError(f"bone_length must be > 0 metres, got {value}")
    return np.full(b, value)


# ------------------------------------------------------------------------------------------------
# The solver

def _finite(*arrays) -> bool:
    """Whether every entry is finite: then keypoints of weight 0 contribute 0 to every weighted sum without
    being masked (masking them changes no number)."""
    return all(bool(np.isfinite(a).all()) for a in arrays)


def _where(keep, x, clean: bool):
    """``np.where(keep, x, 0.0)``, skipped where it can change nothing (``clean``: the caller knows ``x`` is
    finite and only multiplies it by weights that are 0 where ``keep`` is False)."""
    return x if clean else np.where(keep, x, 0.0)


def _linear_translation(p, uv, k, w, s, clean: bool) -> tuple[np.ndarray, np.ndarray]:
    """The closed-form weighted least-squares T (B x 3) and which hands are solvable (B, bool); ``clean``:
    ``p`` and ``uv`` are finite (``_finite``)."""
    fx, fy, cx, cy = (k[:, i, None] for i in range(4))
    used = w > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        # keypoints of weight 0 are ignored, even when NaN
        xn = _where(used, (uv[..., 0] - cx) / fx, clean)
        yn = _where(used, (uv[..., 1] - cy) / fy, clean)
        pu = _where(used[..., None], p, clean)
        bx = s[:, None] * (xn * pu[..., 2] - pu[..., 0])
        by = s[:, None] * (yn * pu[..., 2] - pu[..., 1])
        wsum = w.sum(axis=1)
        safe = np.where(wsum > 0, wsum, 1.0)
        mx, my, mbx, mby = ((w * a).sum(axis=1) / safe for a in (xn, yn, bx, by))
        xc, yc = xn - mx[:, None], yn - my[:, None]
        spread = (w * (xc * xc + yc * yc)).sum(axis=1)
        cross = (w * (xc * (bx - mbx[:, None]) + yc * (by - mby[:, None]))).sum(axis=1)
        ok = (wsum > 0) & (spread > _MIN_SPREAD * safe)
        tz = -cross / np.where(ok, spread, 1.0)
    return G.stack([mbx + tz * mx, mby + tz * my, tz], 1), ok


def _gauss_newton(t, p, uv, k, w, s, steps: int, finite: bool) -> np.ndarray:
    """``steps`` Gauss-Newton updates of T on the weighted squared reprojection error in pixels.

    With d(u)/dT = fx (1/z, 0, -x/z^2) and d(v)/dT = fy (0, 1/z, -y/z^2) the normal matrix is
    [[a, 0, b], [0, c, d], [b, d, e]]: solved in closed form (eliminate the first two unknowns)."""
    fx, fy, cx, cy = (k[:, i, None] for i in range(4))
    used = w > 0
    uvu = _where(used[..., None], uv, finite)
    pu = _where(used[..., None], p, finite)
    for _ in range(steps):
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            x = s[:, None, None] * pu + t[:, None, :]
            # a keypoint at or behind the camera plane has no reprojection error: left out of this step
            ahead = x[..., 2] > 1e-6
            front = used & ahead
            clean = finite and bool(ahead.all()) and bool(np.isfinite(x).all())   # nothing to leave out
            iz = 1.0 / (x[..., 2] if clean else np.where(front, x[..., 2], 1.0))
            ws = _where(front, w, clean)
            u, v = fx * x[..., 0] * iz, fy * x[..., 1] * iz          # projections minus the principal point
            ru = _where(front, u + cx - uvu[..., 0], clean)          # B x 21 pixels
            rv = _where(front, v + cy - uvu[..., 1], clean)
            wi = ws * iz
            wii = (wi * iz).sum(1)                                   # the weight of 1/z^2, shared by a and c
            a = wii * fx[:, 0] ** 2
            c = wii * fy[:, 0] ** 2
            b = -(wi * iz * u).sum(1) * fx[:, 0]
            d = -(wi * iz * v).sum(1) * fy[:, 0]
            e = (ws * iz * iz * (u * u + v * v)).sum(1)
            g0 = (wi * ru).sum(1) * fx[:, 0]
            g1 = (wi * rv).sum(1) * fy[:, 0]
            g2 = -(wi * (ru * u + rv * v)).sum(1)
            schur = e - b * b / a - d * d / c
            d2 = (-g2 + b * g0 / a + d * g1 / c) / schur
            delta = G.stack([(-g0 - b * d2) / a, (-g1 - d * d2) / c, d2], 1)
        # a step needs two keypoints in front of the camera (one gives a singular system: 2 equations, 3 unknowns)
        step_ok = ((ws > 0).sum(1) >= 2) & (a > 0) & (c > 0) & (np.abs(schur) > 1e-300) & np.isfinite(delta).all(axis=1)
        t = np.where(step_ok[:, None], t + delta, t)
    return t


def _solve(keypoints_3d, keypoints_2d, intrinsics, bone_length, weights, refine_steps):
    """(T B x 3 host array, NaN rows for degenerate hands; p; s; single; dtype; device)."""
    if int(refine_steps) != refine_steps or refine_steps < 0:
        raise ValueError(f"refine_steps must be an integer >= 0, got {refine_steps!r}")
    p, uv, k, w, single, dtype, device = _prepare(keypoints_3d, keypoints_2d, intrinsics, weights)
    s = _scale(bone_length, p.shape[0])
    finite = _finite(p, uv)
    t, ok = _linear_translation(p, uv, k, w, s, finite)
    if refine_steps:
        t = _gauss_newton(t, p, uv, k, w, s, int(refine_steps), finite)
    ok = ok & np.isfinite(s) & np.isfinite(t).all(axis=1) & (t[:, 2] > 0)
    t = np.where(ok[:, None], t, np.nan)
    if log.isEnabledFor(logging.DEBUG):
        log.debug("camera translation: %d of %d hands degenerate (NaN)", int((~ok).sum()), len(ok))
    return t, p, s, single, dtype, device


def solve_translation(keypoints_3d, keypoints_2d, intrinsics, bone_length: float | torch.Tensor = DEFAULT_BONE_LENGTH,
                      weights=None, *, refine_steps: int = 0) -> torch.Tensor:
    """The root's position ``T`` (metres, camera frame) that puts ``bone_length * keypoints_3d + T`` onto
    the 2D keypoints: B x 3 (or 3 for a single hand); NaN for a degenerate hand (module docstring).

    keypoints_3d:  B x 21 x 3 normalised (root at the origin, bone 12-11 of length 1, camera axes).
    keypoints_2d:  B x 21 x 2 (x, y) frame pixels, integers at pixel centres.
    intrinsics:    one ``Intrinsics`` for all, or a tensor (4,) / B x 4 of (fx, fy, cx, cy).
    bone_length:   metres of bone 12-11: a number, or a tensor () / (B,).
    weights:       B x 21 per-keypoint weights >= 0 (e.g. ``keypoint_scores``), None for all 1.
    refine_steps:  Gauss-Newton steps on the weighted reprojection error (pixels) after the linear solve.

    Tensors or arrays in (any device); the result is a tensor on the device of ``keypoints_3d`` in the
    inputs' floating dtype (at least float32), computed on the host in float64; no loops over keypoints.
    """
    t, _, _, single, dtype, device = _solve(keypoints_3d, keypoints_2d, intrinsics, bone_length, weights,
                                            refine_steps)
    out = torch.from_numpy(t).to(device=device, dtype=dtype)
    return out[0] if single else out


def camera_keypoints(keypoints_3d, keypoints_2d, intrinsics, bone_length: float | torch.Tensor = DEFAULT_BONE_LENGTH,
                     weights=None, *, refine_steps: int = 0) -> torch.Tensor:
    """The hand in metres in the camera frame (x right, y down, z forward): ``bone_length * keypoints_3d
    + T`` with ``T`` from :func:`solve_translation` (same arguments). B x 21 x 3 (or 21 x 3 for a single
    hand); a degenerate hand is all NaN. A host array ``keypoints_3d`` gives a host array, a tensor a tensor
    (of the inputs' floating dtype, at least float32)."""
    t, p, s, single, dtype, device = _solve(keypoints_3d, keypoints_2d, intrinsics, bone_length, weights,
                                            refine_steps)
    out = s[:, None, None] * p + t[:, None, :]
    if isinstance(keypoints_3d, np.ndarray):       # host arrays in: a host array out (no tensor round trip)
        out = out.astype(np.float64 if dtype == torch.float64 else np.float32, copy=False)
    else:
        out = torch.from_numpy(out).to(device=device, dtype=dtype)
    return out[0] if single else out


def project_points(points: torch.Tensor, intrinsics) -> torch.Tensor:
    """Pinhole projection of ... x K x 3 camera-frame points to ... x K x 2 (x, y) pixels.

    intrinsics: one ``Intrinsics``, or a tensor (..., 4) of (fx, fy, cx, cy) per leading index."""
    if isinstance(intrinsics, Intrinsics):
        k = intrinsics.as_tensor(points.device, points.dtype)
    else:
        k = _as_tensor(intrinsics, "intrinsics", points.device).to(points.dtype)
    k = k[..., None, :]
    z = points[..., 2]
    return torch.stack([k[..., 0] * points[..., 0] / z + k[..., 2], k[..., 1] * points[..., 1] / z + k[..., 3]],
                       dim=-1)


def reprojection_errors(points: torch.Tensor, keypoints_2d, intrinsics) -> torch.Tensor:
    """Per-keypoint distance (pixels) between the projection of camera-frame ``points`` (... x K x 3) and
    ``keypoints_2d`` (... x K x 2)."""
    uv = _as_tensor(keypoints_2d, "keypoints_2d", points.device).to(points.dtype)
    return torch.linalg.vector_norm(project_points(points, intrinsics) - uv, dim=-1)
