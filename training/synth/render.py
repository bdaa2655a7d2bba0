"""Analytic ray casting of ellipsoids with a z-buffer, and shading (numpy, one core per process).

Every surface in a scene is a union of ellipsoids (spheres are the common case: chains of spheres
with interpolated radii sweep tapered fingers and smooth joints). A pixel's ray against an ellipsoid
is a quadratic with a closed-form root, so no sphere tracing is needed. Per image row of an
ellipsoid's projected box the quadratic's discriminant is itself a quadratic in the column, so the
exact span of covered pixels is solved per (ellipsoid, row) and only covered pixels are evaluated;
a single scatter-min over packed (depth, primitive id) keys resolves visibility.

Camera convention (as in RHD's K): u = fx x / z + cx, v = fy y / z + cy; pixel (row i, column j) has
its centre at u = j, v = i. Rays have direction (x/z, y/z, 1), so the ray parameter is the depth z.
"""
from __future__ import annotations

import numpy as np

NEAR = 0.03            # metres
_Z_UNIT = 1e-5         # depth quantum of the packed z-buffer key (0.01 mm)
_ID_BITS = 20
_NO_HIT = np.iinfo(np.int64).max

# columns of a primitive's row in Prims' float64 blocks
_COLS = {"centre": slice(0, 3), "axes": slice(3, 12), "albedo": slice(12, 15), "spec": 15, "crease": 16,
         "palm_dir": slice(17, 20), "palm_tint": 20, "axis": slice(21, 24), "label": 24}
_WIDTH = 25


def _cross(a, b):
    """Cross product of two 3-vectors (np.cross is slow for single vectors)."""
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


class Prims:
    """A growing list of ellipsoids and their materials, stored as blocks of float64 rows.

    Per primitive: centre (3,), axes (3, 3) whose columns are the semi-axes, mask label, linear RGB
    albedo, specular strength, crease (0..1 darkening of joint creases and knuckles), palm_dir (3,)
    the palmar direction of a hand (zeros if none), palm_tint (how much lighter the palmar side is)
    and axis (3,): the direction of the swept chain it belongs to (zeros if none), used to shade a
    chain as one smooth tube instead of a string of beads.
    """

    def __init__(self):
        self._blocks: list[np.ndarray] = []
        self._n = 0

    def _push(self, n, centre, axes, label, albedo, spec, crease, palm_dir, palm_tint, axis) -> np.ndarray:
        blk = np.empty((n, _WIDTH))
        c = _COLS
        blk[:, c["centre"]] = centre
        blk[:, c["axes"]] = np.reshape(axes, (-1, 9))
        blk[:, c["albedo"]] = albedo
        blk[:, c["spec"]] = spec
        blk[:, c["crease"]] = crease
        blk[:, c["palm_dir"]] = palm_dir
        blk[:, c["palm_tint"]] = palm_tint
        blk[:, c["axis"]] = axis
        blk[:, c["label"]] = int(label)
        self._blocks.append(blk)
        self._n += n
        return blk

    def add(self, centre, axes, label, albedo, spec=0.05, crease=0.0, palm_dir=(0.0, 0.0, 0.0), palm_tint=0.0,
            axis=(0.0, 0.0, 0.0)):
        self._push(1, centre, axes, label, albedo, spec, crease, palm_dir, palm_tint, axis)

    def sphere(self, centre, radius, label, albedo, **kw):
        self.add(centre, np.eye(3) * radius, label, albedo, **kw)

    def chain(self, a, b, ra, rb, label, albedo, spacing=0.5, end=True, crease_at=(), crease_w=0.0,
              side=None, side_scale=1.0, normal_scale=1.0, spec=0.05, palm_dir=(0.0, 0.0, 0.0), palm_tint=0.0,
              along=1.0):
        """Ellipsoids swept from a (radius ra) to b (radius rb): a tapered tube with rounded ends.

        side: a unit vector across the tube; the cross-section is then side_scale * r along it and
        normal_scale * r along the third axis (circular if side is None).
        crease_at: fractions along the tube where a darker band is drawn (joint creases).
        along: elements are this many times longer than wide (fewer, longer elements for long limbs;
        the tube still ends at a and b).
        """
        a, b = np.asarray(a, float), np.asarray(b, float)
        d = b - a
        length = float(np.sqrt(d @ d))
        u = d / length if length > 1e-9 else np.array([0.0, 0.0, 1.0])
        if along > 1.0:
            shift_a, shift_b = (along - 1) * ra, (along - 1) * rb
            if shift_a + shift_b < 0.8 * length:
                a, b = a + u * shift_a, b - u * shift_b
                d = b - a
                length = float(np.sqrt(d @ d))
        n = max(2, int(np.ceil(length / (spacing * along * min(ra, rb)))) + 1)
        ts = np.arange(n) / (n - 1)
        if not end:
            ts = ts[:-1]
        m = len(ts)
        r = ra + ts * (rb - ra)
        if side is None:
            h = _cross(u, [1.0, 0.0, 0.0] if abs(u[0]) < 0.9 else [0.0, 1.0, 0.0])
            h /= np.sqrt(h @ h)
        else:
            h = np.asarray(side, float)
        q = _cross(u, h)
        axes = np.stack([u * along, h * side_scale, q * normal_scale], axis=1)[None] * r[:, None, None]
        crease = np.zeros(m)
        for s_ in crease_at:
            crease = np.maximum(crease, 1 - np.abs(ts - s_) / 0.12)
        blk = self._push(m, a + ts[:, None] * d, axes, label, albedo, spec, crease_w * np.clip(crease, 0, 1),
                         palm_dir, palm_tint, u)
        blk[0, _COLS["axis"]] = 0.0                      # the end caps keep their round normals
        if end:
            blk[-1, _COLS["axis"]] = 0.0

    def __len__(self):
        return self._n

    def arrays(self) -> dict[str, np.ndarray]:
        if not self._n:
            return {}
        allp = np.concatenate(self._blocks)
        out = {k: allp[:, c] for k, c in _COLS.items()}
        out["axes"] = out["axes"].reshape(-1, 3, 3)
        out["label"] = out["label"].astype(np.int64)
        return out


def _boxes(centre: np.ndarray, axes: np.ndarray, K: np.ndarray, H: int, W: int):
    """Pixel boxes (u0, v0, u1, v1) of each ellipsoid's projection, and a keep flag.

    Exact for ellipsoids in front of the near plane (from the dual conic K [I|0] Q* [I|0]^T K^T of the
    dual quadric Q*); the whole image for ellipsoids that cross it.
    """
    n = len(centre)
    T = np.zeros((n, 4, 4))
    T[:, :3, :3] = axes
    T[:, :3, 3] = centre
    T[:, 3, 3] = 1.0
    Qd = T @ np.diag([1.0, 1.0, 1.0, -1.0]) @ np.transpose(T, (0, 2, 1))
    P = K @ np.hstack([np.eye(3), np.zeros((3, 1))])
    C = P @ Qd @ P.T                                                      # (n, 3, 3)
    # depth extent of the ellipsoid: centre z +- |row 3 of axes|
    zr = np.linalg.norm(axes[:, 2, :], axis=1)
    behind = centre[:, 2] + zr < NEAR
    crossing = centre[:, 2] - zr < NEAR
    c22 = np.where(crossing, 1.0, C[:, 2, 2])
    du = np.sqrt(np.maximum(C[:, 0, 2] ** 2 - C[:, 0, 0] * c22, 0.0))
    dv = np.sqrt(np.maximum(C[:, 1, 2] ** 2 - C[:, 1, 1] * c22, 0.0))
    u_lo, u_hi = (C[:, 0, 2] - du) / c22, (C[:, 0, 2] + du) / c22
    v_lo, v_hi = (C[:, 1, 2] - dv) / c22, (C[:, 1, 2] + dv) / c22
    u_lo, u_hi = np.minimum(u_lo, u_hi), np.maximum(u_lo, u_hi)
    v_lo, v_hi = np.minimum(v_lo, v_hi), np.maximum(v_lo, v_hi)
    u_lo[crossing], v_lo[crossing], u_hi[crossing], v_hi[crossing] = 0, 0, W - 1, H - 1
    keep = ~behind & (u_hi >= 0) & (u_lo <= W - 1) & (v_hi >= 0) & (v_lo <= H - 1)
    u0 = np.clip(np.floor(u_lo), 0, W - 1).astype(np.int64)
    v0 = np.clip(np.floor(v_lo), 0, H - 1).astype(np.int64)
    u1 = np.clip(np.ceil(u_hi), 0, W - 1).astype(np.int64)
    v1 = np.clip(np.ceil(v_hi), 0, H - 1).astype(np.int64)
    return u0, v0, u1, v1, keep


def _spans(arr: dict[str, np.ndarray], K: np.ndarray, H: int, W: int):
    """The pixels each ellipsoid covers, as runs along image rows, with the ray quadratic of each run.

    For a ray d = (dx, dy, 1) and an ellipsoid with local coordinates Minv (P - c), the hit depth t
    solves a t^2 + 2 b t + c = 0 with a = d^T G d (G = Minv^T Minv), b = g . d (g = -Minv^T Minv c) and
    c = |Minv c|^2 - 1. On a row (dy fixed) the discriminant b^2 - a c is a quadratic in dx, whose
    roots bound the covered columns. Returns per run: length, first column, row, primitive id, and
    float64 coefficients (A, 2B, C, g0, beta, c) with disc = (A dx + 2B) dx + C and b = g0 dx + beta.
    """
    centre, axes = arr["centre"], arr["axes"]
    u0, v0, u1, v1, keep = _boxes(centre, axes, K, H, W)
    ids = np.nonzero(keep)[0]
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    Minv = np.linalg.inv(axes[ids])
    G = np.einsum("nji,njk->nik", Minv, Minv)
    o = -np.einsum("nij,nj->ni", Minv, centre[ids])
    g = np.einsum("nji,nj->ni", Minv, o)
    c = (o * o).sum(1) - 1.0
    nrows = v1[ids] - v0[ids] + 1                               # one run candidate per (primitive, box row)
    rp = np.repeat(np.arange(len(ids)), nrows)
    row = v0[ids][rp] + (np.arange(len(rp)) - (np.cumsum(nrows) - nrows)[rp])
    dy = (row - cy) / fy
    G, g, c = G[rp], g[rp], c[rp]
    beta = g[:, 1] * dy + g[:, 2]
    A = g[:, 0] ** 2 - c * G[:, 0, 0]
    B = g[:, 0] * beta - c * (G[:, 0, 1] * dy + G[:, 0, 2])
    C = beta ** 2 - c * (G[:, 1, 1] * dy * dy + 2 * G[:, 1, 2] * dy + G[:, 2, 2])
    lo, hi = u0[ids][rp].astype(np.float64), u1[ids][rp].astype(np.float64)
    bounded = A < 0                   # the silhouette is an ellipse (else: the box, for near-plane crossers)
    q = B * B - A * C
    sq = np.sqrt(np.maximum(q, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        r1, r2 = (-B + sq) / A, (-B - sq) / A
    first = np.maximum(np.ceil(np.where(bounded, fx * np.minimum(r1, r2) + cx, lo)), lo)
    last = np.minimum(np.floor(np.where(bounded, fx * np.maximum(r1, r2) + cx, hi)), hi)
    n = np.where(bounded & (q <= 0), 0, np.maximum(last - first + 1, 0)).astype(np.int64)
    s = n > 0
    coef = np.stack([A[s], 2 * B[s], C[s], g[s, 0], beta[s], c[s]], 1)
    return n[s], first[s].astype(np.int64), row[s], ids[rp[s]], coef


def raycast(arr: dict[str, np.ndarray], K: np.ndarray, H: int, W: int):
    """Depth (H, W) float64 (inf where nothing) and winning primitive (H, W) int64 (-1 where nothing)."""
    if not arr:
        return np.full((H, W), np.inf), np.full((H, W), -1, dtype=np.int64)
    assert len(arr["centre"]) < (1 << _ID_BITS)
    n, first, row, pid, coef = _spans(arr, K, H, W)
    total = int(n.sum())
    run = np.repeat(np.arange(len(n)), n)                        # run of every covered pixel
    col = np.arange(total) - (np.cumsum(n) - n - first)[run]
    dx = ((np.arange(W) - K[0, 2]) / K[0, 0]).astype(np.float32)[col]
    A, B2, C, g0, beta, c = coef.astype(np.float32)[run].T
    disc = (A * dx + B2) * dx + C
    b = g0 * dx + beta
    t = c / (np.sqrt(np.maximum(disc, 0)) - b)                  # the near root, in its cancellation-free form
    ok = (t > NEAR) & (disc > 0)
    run = run[ok]
    key = (np.rint(t[ok].astype(np.float64) / _Z_UNIT).astype(np.int64) << _ID_BITS) | pid[run]
    zbuf = np.full(H * W, _NO_HIT, dtype=np.int64)
    np.minimum.at(zbuf, row[run] * W + col[ok], key)
    none = zbuf == _NO_HIT
    prim = np.where(none, -1, zbuf & ((1 << _ID_BITS) - 1)).reshape(H, W)
    depth = np.where(none, np.inf, (zbuf >> _ID_BITS) * _Z_UNIT).reshape(H, W)
    return depth, prim


def _shading_tables(arr: dict[str, np.ndarray]) -> np.ndarray:
    """Per-primitive shading constants, float32 (22, n): the quadric's gradient G (6 unique entries) and
    G c, the tube axis, palm_dir * palm_tint, the crease-darkened albedo, palmar minus plain albedo, spec."""
    Minv = np.linalg.inv(arr["axes"])
    G = np.einsum("nji,njk->nik", Minv, Minv)                    # gradient of the quadric: G (P - c)
    Gc = np.einsum("nij,nj->ni", G, arr["centre"])
    fade = (1 - 0.45 * arr["crease"])[:, None]
    alb = arr["albedo"] * fade
    palmar = np.minimum(arr["albedo"] * np.array([1.25, 1.12, 1.08]) + np.array([0.06, 0.03, 0.03]), 1) * fade
    return np.stack([G[:, 0, 0], G[:, 0, 1], G[:, 0, 2], G[:, 1, 1], G[:, 1, 2], G[:, 2, 2], *Gc.T,
                     *arr["axis"].T, *(arr["palm_dir"] * arr["palm_tint"][:, None]).T, *alb.T,
                     *(palmar - alb).T, arr["spec"]]).astype(np.float32)


def shade(arr, depth, prim, K, lights, rng_noise: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Linear RGB (H, W, 3) of the hit pixels (zeros elsewhere) and the hit mask.

    lights: dict with 'dirs' (L, 3) unit vectors towards the lights, 'cols' (L, 3), 'ambient' (3,).
    rng_noise: (H, W) low-frequency texture in about [-1, 1] that modulates the albedo.
    Vectors are kept as separate x, y, z arrays over the hit pixels (float32).
    """
    H, W = depth.shape
    hit = prim >= 0
    out = np.zeros((H, W, 3), np.float32)
    if not hit.any():
        return out, hit
    f32 = np.float32
    flat = np.flatnonzero(hit)
    ii, jj = np.divmod(flat, W)
    z = depth.ravel()[flat].astype(f32)
    (g00, g01, g02, g11, g12, g22, gc0, gc1, gc2, a0, a1, a2, pd0, pd1, pd2,
     al0, al1, al2, dl0, dl1, dl2, spec) = _shading_tables(arr)[:, prim.ravel()[flat]]
    dx = ((np.arange(W) - K[0, 2]) / K[0, 0]).astype(f32)[jj]
    dy = ((np.arange(H) - K[1, 2]) / K[1, 1]).astype(f32)[ii]
    px, py = dx * z, dy * z                                       # the hit point (its z is the depth)
    n0 = g00 * px + g01 * py + g02 * z - gc0
    n1 = g01 * px + g11 * py + g12 * z - gc1
    n2 = g02 * px + g12 * py + g22 * z - gc2
    s = n0 * a0 + n1 * a1 + n2 * a2                               # tubes: drop the along-axis part
    n0 -= s * a0
    n1 -= s * a1
    n2 -= s * a2
    inv = 1 / (np.sqrt(n0 * n0 + n1 * n1 + n2 * n2) + f32(1e-12))
    n0 *= inv
    n1 *= inv
    n2 *= inv
    vinv = -1 / np.sqrt(dx * dx + dy * dy + 1)
    v0, v1, v2 = dx * vinv, dy * vinv, vinv                       # towards the camera
    # palmar side: lighter and pinker; a low-frequency texture on top
    palm = np.clip(n0 * pd0 + n1 * pd1 + n2 * pd2, 0, 1)
    tex = 1 + f32(0.06) * rng_noise.ravel()[flat].astype(f32)
    alb = [(al + dl * palm) * tex for al, dl in ((al0, dl0), (al1, dl1), (al2, dl2))]
    amb = lights["ambient"].astype(f32)
    col = [alb[k] * amb[k] for k in range(3)]
    for ldir, lcol in zip(lights["dirs"].astype(f32), lights["cols"].astype(f32)):
        ndl = n0 * ldir[0] + n1 * ldir[1] + n2 * ldir[2]
        wrap = np.clip((ndl + f32(0.25)) * f32(1 / 1.25), 0, 1)        # soft wrap lighting (skin scatters light)
        h0, h1, h2 = v0 + ldir[0], v1 + ldir[1], v2 + ldir[2]
        x = np.clip((n0 * h0 + n1 * h1 + n2 * h2) / np.sqrt(h0 * h0 + h1 * h1 + h2 * h2), 0, 1)
        x = x * x * x
        x *= x
        x *= x
        x *= x                                                    # Blinn-Phong, exponent 24
        sp = np.where(ndl > 0, x * spec, f32(0))
        for k in range(3):
            col[k] += (alb[k] * wrap + sp) * lcol[k]
    # rim darkening at grazing angles (cheap ambient occlusion of rounded limbs)
    rim = f32(0.72) + f32(0.28) * np.sqrt(np.clip(n0 * v0 + n1 * v1 + n2 * v2, 0, 1))
    o = out.reshape(-1, 3)
    for k in range(3):
        o[flat, k] = col[k] * rim
    return out, hit
