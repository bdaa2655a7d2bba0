"""Temporal smoothing of hand keypoints with the One Euro filter.

Casiez, Roussel, Vogel: "1 Euro Filter: A Simple Speed-based Low-pass Filter for Noisy Input in
Interactive Systems", CHI 2012. An exponential low-pass filter whose cutoff frequency rises with the
signal's speed: a slow (or still) point is smoothed hard, which removes jitter; a fast one gets a high
cutoff, which keeps lag low. With dt the time since the previous sample (seconds)::

    alpha(fc, dt) = 1 / (1 + tau / dt),   tau = 1 / (2 pi fc)
    dx_hat = alpha(d_cutoff, dt) * (x - x_hat_prev) / dt + (1 - alpha(d_cutoff, dt)) * dx_hat_prev
    fc     = min_cutoff + beta * |dx_hat|
    x_hat  = alpha(fc, dt) * x + (1 - alpha(fc, dt)) * x_hat_prev

x_hat_prev is the previous output (as in the paper's pseudocode). On a ramp at speed v a fixed cutoff fc
leaves the output v * tau behind: tau = 1 / (2 pi fc) seconds is the filter's lag.

Units: cutoffs in Hz, timestamps in seconds, beta in Hz per (unit of x per second), so beta depends on
the units of what is filtered (pixels, normalised bone lengths, metres); see ``SmoothingOptions``.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, replace

import numpy as np

from .results import HandPose


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    return 1.0 / (1.0 + 1.0 / (2.0 * math.pi * cutoff * dt))


def _frozen(a: np.ndarray) -> np.ndarray:
    out = np.array(a, dtype=np.float64, copy=True)
    out.setflags(write=False)
    return out


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _check_filter_params(min_cutoff: float, beta: float, d_cutoff: float,
                         names: tuple[str, str, str] = ("min_cutoff", "beta", "d_cutoff")) -> None:
    for name, value in ((names[0], min_cutoff), (names[2], d_cutoff)):
        if not (_is_real(value) and value > 0):
            raise ValueError(f"{name} must be a positive, finite frequency in Hz, got {value!r}")
    if not (_is_real(beta) and beta >= 0):
        raise ValueError(f"{names[1]} must be finite and >= 0, got {beta!r}")


class OneEuroFilter:
    """One Euro filter over float arrays of any fixed shape: each element is smoothed on its own, with
    the cutoff of its point.

    Speed is measured per point: the norm of the filtered derivative over the last axis, so all the
    coordinates of one keypoint share one cutoff (a (21, 2) array has 21 cutoffs). The x and y (and z)
    of a point move together; a per-coordinate speed would smooth a point moving horizontally hard in y
    and lightly in x, and its coordinates would lag by different amounts, bending its path. A 0-d array
    is one point of one coordinate; a 1-D array is one point.

    ``__call__(x, t)`` returns a new read-only float64 array (never the input). The first sample, and the
    first after ``reset()``, passes through unchanged. Also resetting: a change of shape, and a timestamp
    earlier than the previous one (time went back: a seek or a new stream). A timestamp equal to the
    previous one (the same frame again) leaves the state as it was and returns the previous output. A
    sample with a non-finite value passes through and resets (a NaN in the state would stay forever).
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.0, d_cutoff: float = 1.0):
        _check_filter_params(min_cutoff, beta, d_cutoff)
        self.min_cutoff, self.beta, self.d_cutoff = float(min_cutoff), float(beta), float(d_cutoff)
        self.reset()

    def reset(self) -> None:
        """Forget the past: the next sample passes through."""
        self._x: np.ndarray | None = None  # previous output (read-only)
        self._dx: np.ndarray | None = None  # filtered derivative, units per second
        self._t = 0.0

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        t = float(t)
        if not math.isfinite(t):
            raise ValueError(f"timestamp must be finite seconds, got {t!r}")
        x = np.asarray(x, dtype=np.float64)
        if self._x is not None and x.shape == self._x.shape and t == self._t:
            return _frozen(self._x)
        if not np.all(np.isfinite(x)):
            self.reset()
            return _frozen(x)
        if self._x is None or x.shape != self._x.shape or t < self._t:
            self._x, self._dx, self._t = _frozen(x), np.zeros_like(x), t
            return self._x
        dt = t - self._t
        a_d = _alpha(self.d_cutoff, dt)
        self._dx = a_d * (x - self._x) / dt + (1.0 - a_d) * self._dx
        speed = np.abs(self._dx) if x.ndim == 0 else np.linalg.norm(self._dx, axis=-1, keepdims=True)
        a = _alpha(self.min_cutoff + self.beta * speed, dt)
        self._x, self._t = _frozen(a * x + (1.0 - a) * self._x), t
        return self._x


@dataclass(frozen=True)
class SmoothingOptions:
    """One Euro parameters for each quantity a ``HandPose`` carries (cutoffs in Hz).

    min_cutoff sets the smoothing of a still hand: at 1 Hz and 30 fps alpha is 0.17, which cuts the
    frame-to-frame jitter of a still point to about a seventh. beta (Hz per unit/s) opens the filter with
    speed; each is chosen so that beta * (1 m/s in its units) is about 5 Hz: at 30 fps a hand moving at
    1 m/s settles at a cutoff of about 9 Hz and a lag of about 17 ms (half a frame; 160 ms with beta 0).
    In each quantity's units 1 m/s is about:
      keypoints_2d:  frame pixels; a hand ~1 m from a 640-px-wide webcam (60 deg view): ~550 px/s -> beta 0.01,
                     raised to 0.03: measured on a rendered hand moving 8-20 px per frame (benchmarks/
                     smoothing.py), 0.01 lagged 0.6-0.8 frames and made the keypoints less accurate than
                     unfiltered, 0.03 lags 0.3-0.4 frames and keeps still jitter at about a fifth (a frame
                     twice as wide doubles both speeds and jitter in pixels: halve beta)
      keypoints_3d:  normalised (root-relative, bone 12-11 = 1, about 4 cm): ~25 units/s -> beta 0.2
                     (only articulation and rotation move it: the root is always at the origin)
      camera:        keypoints_3d_camera, metres: 1 m/s -> beta 5
    A still hand's jitter barely raises the cutoff (its filtered speed is small next to these).
    d_cutoff: cutoff of the derivative filter, 1 Hz as the paper suggests.
    """

    min_cutoff_2d: float = 1.0
    beta_2d: float = 0.03
    min_cutoff_3d: float = 1.0
    beta_3d: float = 0.2
    min_cutoff_camera: float = 1.0
    beta_camera: float = 5.0
    d_cutoff: float = 1.0

    def __post_init__(self):
        for key in ("2d", "3d", "camera"):
            names = (f"SmoothingOptions.min_cutoff_{key}", f"SmoothingOptions.beta_{key}", "SmoothingOptions.d_cutoff")
            _check_filter_params(getattr(self, f"min_cutoff_{key}"), getattr(self, f"beta_{key}"), self.d_cutoff, names)

    def filter(self, key: str) -> OneEuroFilter:
        """A new filter for ``key`` ('2d', '3d' or 'camera')."""
        return OneEuroFilter(getattr(self, f"min_cutoff_{key}"), getattr(self, f"beta_{key}"), self.d_cutoff)


class HandSmoother:
    """Smooths one hand over time: keypoints_2d, keypoints_3d and keypoints_3d_camera, each with its own
    ``OneEuroFilter``. Call it with each frame's ``HandPose`` of that hand and the frame's time in
    seconds; ``reset()`` on a seek, a new source, or when the hand is lost."""

    def __init__(self, options: SmoothingOptions | None = None):
        self.options = options if options is not None else SmoothingOptions()
        self._2d, self._3d, self._camera = (self.options.filter(k) for k in ("2d", "3d", "camera"))

    def reset(self) -> None:
        for f in (self._2d, self._3d, self._camera):
            f.reset()

    def __call__(self, hand: HandPose, t: float) -> HandPose:
        """``hand`` with its keypoints smoothed (a new ``HandPose``; the other fields as they were)."""
        keypoints_2d = self._2d(hand.keypoints_2d, t)  # first: a bad t raises before any state changes
        keypoints_3d = self._3d(hand.keypoints_3d, t)
        camera = hand.keypoints_3d_camera
        if camera is None:
            self._camera.reset()
        else:
            camera = self._camera(camera, t)
        return replace(hand, keypoints_2d=keypoints_2d, keypoints_3d=keypoints_3d, keypoints_3d_camera=camera)
