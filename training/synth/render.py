"""Analytic ray casting of ellipsoids with a z-buffer, and shading.

Every surface in a scene is a union of ellipsoids (spheres are the common case: chains of spheres
with interpolated radii sweep tapered fingers and smooth joints). A pixel's ray against an ellipsoid
is a quadratic with a closed-form root, so no sphere tracing is needed: each primitive is only
evaluated over the pixels of its projected bounding box, primitives are batched by box size, and a
single scatter-min over packed (depth, primitive id) keys resolves visibility.

Camera convention (as in RHD's K): u = fx x / z + cx, v = fy y / z + cy; pixel (row i, column j) has
its centre at u = j, v = i. Rays have direction (x/z, y/z, 1), so the ray parameter is the depth z.
"""
from __future__ import annotations

import numpy as np
import torch

NEAR = 0.03            # metres
_Z_UNIT = 1e-5         # depth quantum of the packed z-buffer key (0.01 mm)
_ID_BITS = 20


_FIELDS = ("centre", "axes", "label", "albedo", "spec", "crease", "palm_dir", "palm_tint", "axis")


class Prims:
    """A growing list of ellipsoids and their materials, stored as blocks of arrays.

    Per primitive: centre (3,), axes (3, 3) whose columns are the semi-axes, mask label, linear RGB
    albedo, specular strength, crease (0..1 darkening of joint creases and knuckles), palm_dir (3,)
    the palmar direction of a hand (zeros if none), palm_tint (how much lighter the palmar side is)
    and axis (3,): the direction of the swept chain it belongs to (zeros if none), used to shade a
    chain as one smooth tube instead of a string of beads.
    """

    def __init__(self):
        self._blocks: dict[str, list[np.ndarray]] = {k: [] for k in _FIELDS}
        self._n = 0

    def _push(self, n, centre, axes, label, albedo, spec, crease, palm_dir, palm_tint, axis):
        def rep(v, shape):
            return np.broadcast_to(np.asarray(v, dtype=np.float64), (n,) + shape)
        b = self._blocks
        b["centre"].append(rep(centre, (3,)))
        b["axes"].append(rep(axes, (3, 3)))
        b["label"].append(np.full(n, int(label)))
        b["albedo"].append(rep(albedo, (3,)))
        b["spec"].append(rep(spec, ()))
        b["crease"].append(rep(crease, ()))
        b["palm_dir"].append(rep(palm_dir, (3,)))
        b["palm_tint"].append(rep(palm_tint, ()))
        b["axis"].append(rep(axis, (3,)))
        self._n += n

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
        length = float(np.linalg.norm(d))
        u = d / length if length > 1e-9 else np.array([0.0, 0.0, 1.0])
        if along > 1.0:
            shift_a, shift_b = (along - 1) * ra, (along - 1) * rb
            if shift_a + shift_b < 0.8 * length:
                a, b = a + u * shift_a, b - u * shift_b
                d = b - a
                length = float(np.linalg.norm(d))
        n = max(2, int(np.ceil(length / (spacing * along * min(ra, rb)))) + 1)
        ts = np.linspace(0.0, 1.0, n)
        if not end:
            ts = ts[:-1]
        m = len(ts)
        r = ra + ts * (rb - ra)
        if side is None:
            h = np.cross(u, [1.0, 0.0, 0.0] if abs(u[0]) < 0.9 else [0.0, 1.0, 0.0])
            h /= np.linalg.norm(h)
        else:
            h = np.asarray(side, float)
        q = np.cross(u, h)
        axes = (np.stack([u * along, h * side_scale, q * normal_scale], axis=1)[None] * r[:, None, None])
        crease = np.zeros(m)
        for s_ in crease_at:
            crease = np.maximum(crease, 1 - np.abs(ts - s_) / 0.12)
        crease = crease_w * np.clip(crease, 0, 1)
        ax = np.tile(u, (m, 1))
        ax[0] = 0.0                     # the end caps keep their round normals
        if end:
            ax[-1] = 0.0
        self._push(m, a + ts[:, None] * d, axes, label, albedo, spec, 0.0, palm_dir, palm_tint, 0.0)
        self._blocks["crease"][-1] = crease
        self._blocks["axis"][-1] = ax

    def __len__(self):
        return self._n

    def arrays(self) -> dict[str, np.ndarray]:
        if not self._n:
            return {}
        return {k: np.concatenate(v) for k, v in self._blocks.items()}


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


_SIZES = np.unique(np.concatenate([np.arange(8, 33, 8), np.round(32 * 1.5 ** np.arange(1, 12)).astype(int)]))


def _bucket(n: int) -> int:
    """Patch side for a box of n pixels: multiples of 8 up to 32, then steps of 50 % (few batches, little waste)."""
    return int(_SIZES[np.searchsorted(_SIZES, n)])


def raycast(arr: dict[str, np.ndarray], K: np.ndarray, H: int, W: int, device: str | torch.device = "cpu"):
    """Depth (H, W) float64 (inf where nothing) and winning primitive (H, W) int64 (-1 where nothing)."""
    if not arr:
        return np.full((H, W), np.inf), np.full((H, W), -1, dtype=np.int64)
    centre, axes = arr["centre"], arr["axes"]
    n = len(centre)
    assert n < (1 << _ID_BITS)
    Minv = np.linalg.inv(axes)                                    # local = Minv @ (P - c)
    u0, v0, u1, v1, keep = _boxes(centre, axes, K, H, W)
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    big = torch.iinfo(torch.int64).max
    zbuf = torch.full((H * W,), big, dtype=torch.int64, device=device)
    bh = np.array([min(_bucket(v1[i] - v0[i] + 1), H) for i in range(n)])
    bw = np.array([min(_bucket(u1[i] - u0[i] + 1), W) for i in range(n)])
    ids_all = np.nonzero(keep)[0]
    groups: dict[tuple[int, int], list[int]] = {}
    for i in ids_all:
        groups.setdefault((int(bh[i]), int(bw[i])), []).append(int(i))
    dt = torch.float32
    Mt = torch.as_tensor(Minv, dtype=dt, device=device)
    Ct = torch.as_tensor(centre, dtype=dt, device=device)
    for (ph, pw), ids in groups.items():
        idx = torch.as_tensor(ids, device=device)
        # keep the patch inside the image
        pu0 = torch.as_tensor(np.minimum(u0[ids], W - pw), device=device)
        pv0 = torch.as_tensor(np.minimum(v0[ids], H - ph), device=device)
        us = pu0[:, None] + torch.arange(pw, device=device)[None]            # (m, pw)
        vs = pv0[:, None] + torch.arange(ph, device=device)[None]            # (m, ph)
        dx = ((us.to(dt) - cx) / fx)[:, None, :]                            # (m, 1, pw)
        dy = ((vs.to(dt) - cy) / fy)[:, :, None]                            # (m, ph, 1)
        M = Mt[idx]                                                          # (m, 3, 3)
        o = -torch.einsum("mij,mj->mi", M, Ct[idx])                          # (m, 3)
        a = b = None
        for r in range(3):
            dr = M[:, r, 0, None, None] * dx + M[:, r, 1, None, None] * dy + M[:, r, 2, None, None]
            a = dr * dr if a is None else a + dr * dr
            b = o[:, r, None, None] * dr if b is None else b + o[:, r, None, None] * dr
        c = (o * o).sum(1)[:, None, None] - 1.0
        disc = b * b - a * c                                                 # b is the half coefficient
        m_i, r_i, c_i = torch.nonzero(disc > 0, as_tuple=True)
        bb, aa = b[m_i, r_i, c_i], a[m_i, r_i, c_i]
        t = (-bb - torch.sqrt(disc[m_i, r_i, c_i])) / aa
        ok = t > NEAR
        m_i, r_i, c_i, t = m_i[ok], r_i[ok], c_i[ok], t[ok]
        pix = vs[m_i, r_i] * W + us[m_i, c_i]
        key = (torch.round(t.double() / _Z_UNIT).long() << _ID_BITS) | idx[m_i]
        zbuf.scatter_reduce_(0, pix, key, reduce="amin")
    zbuf = zbuf.cpu().numpy()
    none = zbuf == big
    prim = np.where(none, -1, zbuf & ((1 << _ID_BITS) - 1)).reshape(H, W)
    depth = np.where(none, np.inf, (zbuf >> _ID_BITS) * _Z_UNIT).reshape(H, W)
    return depth, prim


def shade(arr, depth, prim, K, lights, rng_noise: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Linear RGB (H, W, 3) of the hit pixels (zeros elsewhere) and the hit mask.

    lights: dict with 'dirs' (L, 3) unit vectors towards the lights, 'cols' (L, 3), 'ambient' (3,).
    rng_noise: (H, W) low-frequency texture in about [-1, 1] that modulates the albedo.
    """
    H, W = depth.shape
    hit = prim >= 0
    out = np.zeros((H, W, 3), np.float32)
    if not hit.any():
        return out, hit
    ii, jj = np.nonzero(hit)
    p = prim[ii, jj]
    z = depth[ii, jj].astype(np.float32)
    f32 = np.float32
    d = np.stack([((jj - K[0, 2]) / K[0, 0]).astype(f32), ((ii - K[1, 2]) / K[1, 1]).astype(f32),
                  np.ones_like(z)], axis=1)
    rel = d * z[:, None] - arr["centre"][p].astype(f32)
    Minv = np.linalg.inv(arr["axes"])
    G = np.einsum("nji,njk->nik", Minv, Minv).astype(f32)       # gradient of the ellipsoid's quadric
    nrm = np.einsum("kij,kj->ki", G[p], rel)
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True) + f32(1e-12)
    ax = arr["axis"][p].astype(f32)
    nrm = nrm - (nrm * ax).sum(1, keepdims=True) * ax           # tubes: drop the along-axis part
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True) + f32(1e-12)
    view = -d / np.linalg.norm(d, axis=1, keepdims=True)
    # palmar side: lighter and pinker
    alb = arr["albedo"][p].astype(f32)
    pd = arr["palm_dir"].astype(f32)[p]
    palm = np.clip((nrm * pd).sum(1), 0, 1) * arr["palm_tint"].astype(f32)[p]
    palm_col = alb * np.array([1.25, 1.12, 1.08], f32) + np.array([0.06, 0.03, 0.03], f32)
    alb = alb * (1 - palm[:, None]) + np.minimum(palm_col, 1) * palm[:, None]
    alb *= (1 - f32(0.45) * arr["crease"].astype(f32)[p])[:, None]
    alb *= (1 + f32(0.06) * rng_noise[ii, jj].astype(f32))[:, None]
    col = lights["ambient"].astype(f32)[None] * alb
    spec = arr["spec"].astype(f32)[p]
    for ldir, lcol in zip(lights["dirs"].astype(f32), lights["cols"].astype(f32)):
        ndl = nrm @ ldir
        wrap = np.clip((ndl + f32(0.25)) / f32(1.25), 0, 1)            # soft wrap lighting (skin scatters light)
        col += alb * wrap[:, None] * lcol
        hv = ldir + view
        hv /= np.linalg.norm(hv, axis=1, keepdims=True)
        sp = np.clip((nrm * hv).sum(1), 0, 1) ** 24 * spec * (ndl > 0).astype(f32)
        col += sp[:, None] * lcol
    # rim darkening at grazing angles (cheap ambient occlusion of rounded limbs)
    facing = np.clip((nrm * view).sum(1), 0, 1)
    col *= (f32(0.72) + f32(0.28) * np.sqrt(facing))[:, None]
    out[ii, jj] = col
    return out, hit
