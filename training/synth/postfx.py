"""Camera effects on a finished sRGB frame: exposure, white balance, blur, noise, JPEG artefacts."""
from __future__ import annotations

import cv2
import numpy as np


def camera_effects(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """float sRGB (H, W, 3) in [0, 1] -> uint8 RGB."""
    img = img.astype(np.float32)
    # exposure and white balance act on linear light; (x * g) ** (1 / 2.2) == x ** (1 / 2.2) * g ** (1 / 2.2)
    gain = np.exp(rng.normal(0.0, 0.35)) * rng.normal(1.0, 0.05, 3)
    img = np.minimum(img * (gain ** (1 / 2.2)).astype(np.float32), 1.0)
    if rng.uniform() < 0.4:
        c = np.float32(rng.uniform(0.75, 1.25))
        img = (img - 0.5) * c + 0.5 + np.float32(rng.normal(0, 0.04))
    if rng.uniform() < 0.2:   # vignetting
        h, w = img.shape[:2]
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        r2 = ((xx - w / 2) ** 2 + (yy - h / 2) ** 2) / (0.5 * (h * h + w * w))
        img = img * (1 - np.float32(rng.uniform(0.2, 0.6)) * r2)[..., None]
    # blur: focus / motion
    r = rng.uniform()
    if r < 0.12:
        n = int(rng.integers(3, 10))
        k = np.zeros((n, n), np.float32)
        k[n // 2, :] = 1.0 / n
        M = cv2.getRotationMatrix2D(((n - 1) / 2, (n - 1) / 2), float(rng.uniform(0, 180)), 1.0)
        k = cv2.warpAffine(k, M, (n, n))
        img = cv2.filter2D(img, -1, k / max(k.sum(), 1e-6))
    elif r < 0.85:
        img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.35, 1.3)))
    # sensor noise: signal-dependent plus read noise
    sigma = np.float32(rng.uniform(0.0, 0.035))
    noise = np.empty(img.shape, np.float32)
    cv2.setRNGSeed(int(rng.integers(2 ** 31)))   # OpenCV's per-thread generator: 3x faster than numpy's normals
    cv2.randn(noise, 0.0, 1.0)
    img = img + noise * sigma * (0.3 + np.clip(img, 0, 1))
    out = np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if rng.uniform() < 0.6:
        q = int(rng.integers(25, 96))
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(out, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, q])
        if ok:
            out = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return out
