"""What the One Euro filter (``handcam.smoothing``) does to the tracker's keypoints: jitter and lag, with
and without it, on the same frames.

    python benchmarks/smoothing.py                                  # writes benchmarks/results/smoothing.json
    python benchmarks/smoothing.py --frames 100 --speeds 2 8 20 --redetect-every 10

Two sequences, each run through ``HandTracker.process`` (timestamps ``index / fps``) twice, with
``smoothing=False`` and ``smoothing=SmoothingOptions()`` (the defaults):

1. still: a real photo (``--photo``) with small camera noise per frame: Gaussian pixel noise (sigma
   ``NOISE_SIGMA`` grey levels) and a random sub-pixel shift (at most ``MAX_SHIFT_PX``, ``cv2.warpAffine``).
   Reported per quantity (``keypoints_2d`` in frame pixels, the normalised ``keypoints_3d`` in bone units,
   ``keypoints_3d_camera`` in mm) for the hand id followed longest:
     jitter = the mean over the 21 keypoints of the RMS over consecutive frame pairs of the keypoint's
              frame-to-frame displacement |p(t+1) - p(t)| (the filter's stated target: alpha 0.17 at
              1 Hz and 30 fps cuts it to about a seventh for white noise);
     spread = the mean over keypoints of the RMS distance of the keypoint from its mean position.
2. moving: a render of the synthetic engine (``training.synth``; the first of ``--render-seed``'s
   evaluation renders whose one hand the weights find near its true keypoints) composited (its rendered
   pixels, not its background) onto a plain 640 x 480 canvas and moved horizontally on a sinusoid
   x(t) = A sin(v t / A) (t in frames): peak speed v px/frame (``--speeds``), known exactly; the same pixel
   noise. After the first ``SETTLE_FRAMES`` (the filter's speed estimate starts at 0), per speed:
     lag vs truth      = the delay d (frames, sub-frame: a 0.02-frame grid) minimising the mean squared
                         distance between the keypoint centroid c(t) and the true centroid path m(t - d)
                         plus b, the unfiltered centroid's mean offset from m (on a ramp a delay and an
                         offset look alike: b is the network's, measured where it has no memory);
     lag vs unfiltered = the delay d minimising |c_on(t) - c_off(t - d)|^2 (c_off linearly interpolated);
     error             = mean |c(t) - m(t) - e0| with e0 the unfiltered centroid's offset from the truth
                         on the hand's first frame (frame 0 when found there), where the filter passes its
                         first sample through: the same e0 for both;
                         ``error_px_mean_offset`` removes the unfiltered's mean offset instead;
     keypoint error    = per keypoint: mean |p_k(t) - q_k(t) - o_k|, q_k the true keypoint and o_k the
                         unfiltered run's mean offset of that keypoint (jitter and lag in one number);
     jitter            = as above, on the frame-to-frame displacement minus the known one (2D), on the
                         normalised 3D (a translated image has a constant true 3D) and on the camera
                         depth z in mm (the motion is parallel to the image plane).

HandSegNet runs on every frame by default (``--redetect-every 1``): the filter is measured on the
detection path's keypoints. The tracker's own default (10: crops from the previous keypoints between
detections) can be asked for; the crops follow the unfiltered keypoints either way, so both runs see
the same network outputs. (Measured at 10: the still photo's hand is lost after 2-3 tracked frames, its
tracked crop growing each frame, and comes back under a new id, which resets its filter.)
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import sys
import warnings
from pathlib import Path

import numpy as np
from common import run_and_write  # benchmarks/common.py, beside this file

log = logging.getLogger("smoothing")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))        # the repository root: its training/ package (imported where it is used)
DEFAULT_PHOTO = ROOT.parent / "shared" / "data" / "real" / "images" / "prasad9_victory.jpg"
DEFAULT_WEIGHTS = ROOT / "weights" / "handcam-lite.pt"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "smoothing.json"
NOISE_SIGMA = 2.5       # grey levels, per pixel and channel
MAX_SHIFT_PX = 0.5      # radius of the still sequence's random sub-pixel shift
CANVAS_HW = (480, 640)
SETTLE_FRAMES = 10
DELAY_GRID = np.arange(-3.0, 12.0 + 1e-9, 0.02)   # candidate delays, frames
QUANTITIES = ("2d_px", "3d_norm", "camera_mm")


# -- frames ---------------------------------------------------------------------------------------------
def _noisy(img: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    return np.clip(img.astype(np.float32) + rng.normal(0.0, sigma, img.shape), 0, 255).astype(np.uint8)


def _shifted(img: np.ndarray, dx: float, dy: float, border=None) -> np.ndarray:
    import cv2

    m = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]], np.float64)
    h, w = img.shape[:2]
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT101 if border is None else border)


def still_frames(photo: np.ndarray, count: int, noise_sigma: float = NOISE_SIGMA, max_shift: float = MAX_SHIFT_PX,
                 seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """``count`` RGB uint8 frames of ``photo``, each shifted by a random sub-pixel vector (uniform
    direction, length uniform in [0, max_shift] px) and with Gaussian pixel noise; and the shifts (N x 2)."""
    rng = np.random.default_rng(seed)
    r = rng.uniform(0.0, max_shift, count)
    a = rng.uniform(0.0, 2 * math.pi, count)
    shifts = np.stack([r * np.cos(a), r * np.sin(a)], 1)
    frames = [_noisy(_shifted(photo, dx, dy), rng, noise_sigma) for dx, dy in shifts]
    return frames, shifts


def plain_background(hw: tuple[int, int], seed: int = 0) -> np.ndarray:
    """A smooth, blurred blue-grey texture (no skin tones), RGB uint8."""
    import cv2

    h, w = hw
    rng = np.random.default_rng(seed)
    lo, hi = np.array([60, 80, 100], np.float32), np.array([120, 140, 170], np.float32)
    small = rng.uniform(0, 1, (max(h // 32, 2), max(w // 32, 2), 3)).astype(np.float32) * (hi - lo) + lo
    big = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(cv2.GaussianBlur(big, (0, 0), 3.0), 0, 255).astype(np.uint8)


@dataclasses.dataclass(frozen=True)
class Motion:
    """Horizontal sinusoid of the patch's placement: x(t) = x0 + amplitude sin(speed t / amplitude), y = y0
    (t in frames; peak speed ``speed`` px/frame, at t = 0)."""

    speed: float
    amplitude: float
    x0: float
    y0: float

    def offset(self, t) -> np.ndarray:
        """(..., 2) placement of the patch's origin on the canvas at frame(s) t (may be fractional)."""
        t = np.asarray(t, np.float64)
        x = self.x0 + (self.amplitude * np.sin(self.speed * t / self.amplitude) if self.speed > 0 else 0.0 * t)
        return np.stack([x, np.broadcast_to(self.y0, x.shape)], -1)

    @property
    def period_frames(self) -> float | None:
        return 2 * math.pi * self.amplitude / self.speed if self.speed > 0 else None


def fit_motion(truth_uv: np.ndarray, patch_hw: tuple[int, int], canvas_hw: tuple[int, int], speed: float,
               margin: float = 8.0, max_amplitude: float = 200.0) -> Motion:
    """A ``Motion`` that keeps the hand (its true keypoints' box, plus ``margin``) on the canvas, centred,
    with the patch vertically centred."""
    lo, hi = truth_uv.min(0), truth_uv.max(0)
    x0 = canvas_hw[1] / 2 - (lo[0] + hi[0]) / 2
    amplitude = min(max_amplitude, (canvas_hw[1] - 2 * margin - (hi[0] - lo[0])) / 2)
    if amplitude <= 0:
        raise ValueError(f"a hand {hi[0] - lo[0]:.0f} px wide leaves no room to move on a {canvas_hw[1]}-px canvas")
    return Motion(float(speed), float(amplitude), float(x0), float((canvas_hw[0] - patch_hw[0]) / 2))


def moving_frames(patch: np.ndarray, alpha: np.ndarray, truth_uv: np.ndarray, background: np.ndarray, motion: Motion,
                  count: int, noise_sigma: float = NOISE_SIGMA, seed: int = 1) -> tuple[list[np.ndarray], np.ndarray]:
    """``patch`` (RGB, its pixels weighted by ``alpha`` in [0, 1]) placed on ``background`` at
    ``motion.offset(t)`` (sub-pixel: bilinear warp) for t = 0..count-1, with pixel noise; and the true
    keypoints per frame (N x 21 x 2 canvas pixels: ``truth_uv`` in patch pixels plus the offset)."""
    import cv2

    h, w = background.shape[:2]
    rng = np.random.default_rng(seed)
    bg = background.astype(np.float32)
    src = patch.astype(np.float32) * alpha[..., None]
    frames, truths = [], []
    for t in range(count):
        dx, dy = motion.offset(t)
        m = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]], np.float64)
        fg = cv2.warpAffine(src, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        a = cv2.warpAffine(alpha.astype(np.float32), m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        img = fg + bg * (1.0 - a[..., None])
        frames.append(_noisy(img, rng, noise_sigma))
        truths.append(truth_uv + np.array([dx, dy]))
    return frames, np.stack(truths)


# -- the tracker and what it reports --------------------------------------------------------------------
def run_tracker(estimator, frames: list[np.ndarray], fps: float, smoothing, redetect_every: int = 1) -> list:
    """``FrameResult`` per frame of one fresh tracker (``smoothing``: False or a ``SmoothingOptions``)."""
    tracker = estimator.tracker(smoothing=smoothing, redetect_every=redetect_every)
    return [tracker.process(f, index=i, timestamp=i / fps) for i, f in enumerate(frames)]


def trajectories(results: list, hand_id: int | None = None) -> dict:
    """The keypoints of one hand id through a run: ``2d_px`` (N x 21 x 2), ``3d_norm`` (N x 21 x 3),
    ``camera_mm`` (N x 21 x 3), NaN where the hand is absent (camera: also where it was not solved); by
    default the id present in most frames (ties: the smaller id). ``id`` is None when no hand was found."""
    counts: dict[int, int] = {}
    for r in results:
        for h in r.hands:
            counts[h.id] = counts.get(h.id, 0) + 1
    if hand_id is None and counts:
        hand_id = min(counts, key=lambda i: (-counts[i], i))
    n = len(results)
    out = {"2d_px": np.full((n, 21, 2), np.nan), "3d_norm": np.full((n, 21, 3), np.nan),
           "camera_mm": np.full((n, 21, 3), np.nan)}
    for t, r in enumerate(results):
        for h in r.hands:
            if h.id != hand_id:
                continue
            out["2d_px"][t] = h.keypoints_2d
            out["3d_norm"][t] = h.keypoints_3d
            if h.keypoints_3d_camera is not None:
                out["camera_mm"][t] = np.asarray(h.keypoints_3d_camera) * 1000.0
    present = ~np.isnan(out["2d_px"][:, 0, 0])
    return {"id": hand_id, "frames_with_hand": int(present.sum()), "ids_seen": len(counts), **out}


def _finite_or_none(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def jitter(p: np.ndarray, known_steps: np.ndarray | None = None) -> float:
    """Mean over keypoints of the RMS (over consecutive frame pairs where both are finite) of
    |p(t+1) - p(t) - known step(t)|; ``p`` is N x K x D, ``known_steps`` (N-1) x D (or None: zero).
    NaN when no pair is finite."""
    d = np.diff(np.asarray(p, np.float64), axis=0)
    if known_steps is not None:
        d = d - np.asarray(known_steps, np.float64)[:, None, :]
    sq = np.sum(d * d, axis=-1)                                  # (N-1) x K
    ok = np.isfinite(sq)
    with np.errstate(invalid="ignore", divide="ignore"):
        rms = np.sqrt(np.where(ok, sq, 0).sum(0) / ok.sum(0))
    return float(np.nanmean(rms)) if np.isfinite(rms).any() else math.nan


def spread(p: np.ndarray) -> float:
    """Mean over keypoints of the RMS distance of the keypoint from its mean position (finite frames)."""
    p = np.asarray(p, np.float64)
    ok = np.isfinite(p).all(-1)
    if ok.sum() < 2:
        return math.nan
    with np.errstate(invalid="ignore"):
        dev = p - np.nanmean(p, axis=0, keepdims=True)
        return float(np.nanmean(np.sqrt(np.nanmean(np.sum(dev * dev, -1), axis=0))))


def _at(traj: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Linear interpolation of a (N x D) trajectory at fractional frames t (NaN outside or next to a NaN)."""
    n = len(traj)
    i = np.floor(t).astype(int)
    w = (t - i)[:, None]
    ok = (i >= 0) & (i + 1 <= n - 1) | ((i == n - 1) & (w[:, 0] == 0))
    i0, i1 = np.clip(i, 0, n - 1), np.clip(i + 1, 0, n - 1)
    out = (1 - w) * traj[i0] + w * traj[i1]
    out[~ok] = np.nan
    return out


def best_delay(signal: np.ndarray, reference, frames: np.ndarray, grid: np.ndarray = DELAY_GRID) -> tuple[float, float]:
    """(delay in frames, RMS residual) of the d on ``grid`` minimising the mean over ``frames`` of
    |signal(t) - reference(t - d)|^2; ``reference`` is a (N x D) trajectory (linearly interpolated) or a
    callable of fractional frames. Every d is scored on the same frames: those where both sides are
    finite for all d; (NaN, NaN) when fewer than 3 are."""
    s = signal[frames]
    r = np.stack([s - (reference(frames - d) if callable(reference) else _at(reference, frames - d)) for d in grid])
    ok = np.isfinite(r).all(axis=(0, 2))                        # frames usable at every delay
    if ok.sum() < 3:
        return math.nan, math.nan
    mse = np.mean(np.sum(r[:, ok] ** 2, -1), axis=1)
    i = int(np.argmin(mse))
    return float(grid[i]), float(math.sqrt(mse[i]))


def still_report(off: list, on: list) -> dict:
    """Jitter and spread per quantity of the still sequence's runs without and with the filter (the hand
    id followed longest in the unfiltered run; ids are the same in both)."""
    a = trajectories(off)
    b = trajectories(on, a["id"])
    rep = {"hand_id": a["id"], "ids_seen": a["ids_seen"], "frames": len(off), "frames_with_hand": a["frames_with_hand"]}
    for name, tr in (("off", a), ("on", b)):
        rep[name] = {"jitter": {q: _finite_or_none(jitter(tr[q])) for q in QUANTITIES},
                     "spread": {q: _finite_or_none(spread(tr[q])) for q in QUANTITIES}}
    rep["jitter_ratio_on_off"] = {q: _ratio(rep["on"]["jitter"][q], rep["off"]["jitter"][q]) for q in QUANTITIES}
    rep["spread_ratio_on_off"] = {q: _ratio(rep["on"]["spread"][q], rep["off"]["spread"][q]) for q in QUANTITIES}
    return rep


def _ratio(a, b):
    return a / b if a is not None and b else None


def ideal_lag_frames(options, speed_px_per_frame: float, fps: float) -> float:
    """The One Euro 2D filter's lag on a steady ramp at this speed once its speed estimate has settled:
    (1 - alpha) / alpha frames, alpha at the cutoff min_cutoff_2d + beta_2d * speed (px/s)."""
    fc = options.min_cutoff_2d + options.beta_2d * speed_px_per_frame * fps
    a = 1.0 / (1.0 + fps / (2 * math.pi * fc))
    return (1.0 - a) / a


def moving_report(off: list, on: list, truth: np.ndarray, motion: Motion, fps: float, options,
                  settle: int = SETTLE_FRAMES) -> dict:
    """Lag, centroid error and jitter of the moving sequence's runs (``truth``: N x 21 x 2 true keypoints;
    metrics over frames ``settle``.. ; see the module doc)."""
    with warnings.catch_warnings():      # a run without the hand: NaN means, reported as None
        warnings.simplefilter("ignore", RuntimeWarning)
        return _moving_report(off, on, truth, motion, fps, options, settle)


def _moving_report(off, on, truth, motion, fps, options, settle) -> dict:
    a = trajectories(off)
    b = trajectories(on, a["id"])
    n = len(off)
    frames = np.arange(min(settle, max(n - 3, 0)), n)
    true_c = truth.mean(1)                                          # N x 2
    centre_offset = true_c[0] - motion.offset(0)                    # true centroid in patch coordinates

    def true_path(t):
        return motion.offset(t) + centre_offset

    steps = np.diff(motion.offset(np.arange(n)), axis=0)            # the known motion, px per frame
    c_off, c_on = a["2d_px"].mean(1), b["2d_px"].mean(1)
    seen = np.flatnonzero(np.isfinite(c_off[:, 0]))
    e0 = c_off[seen[0]] - true_c[seen[0]] if seen.size else np.full(2, np.nan)   # the hand's first frame
    mean_offset = np.nanmean(c_off[frames] - true_c[frames], axis=0)
    kp_offset = np.nanmean(a["2d_px"][frames] - truth[frames], axis=0)     # 21 x 2: the network's bias
    speeds = np.linalg.norm(steps[frames[frames < n - 1]], axis=1)
    rep = {"speed_px_per_frame": motion.speed, "amplitude_px": motion.amplitude, "period_frames": motion.period_frames,
           "mean_speed_px_per_frame": _finite_or_none(speeds.mean()) if speeds.size else None,
           "hand_id": a["id"], "ids_seen": a["ids_seen"], "frames": n, "frames_with_hand": a["frames_with_hand"],
           "analysed_from_frame": int(frames[0]) if frames.size else None,
           "ideal_lag_frames": ideal_lag_frames(options, motion.speed, fps)}
    rep["ideal_lag_ms"] = rep["ideal_lag_frames"] * 1000.0 / fps
    for name, tr, c in (("off", a, c_off), ("on", b, c_on)):
        lag, resid = best_delay(c, lambda t: true_path(t) + mean_offset, frames)
        err = np.linalg.norm(c[frames] - true_c[frames] - e0, axis=1)
        err_mean = np.linalg.norm(c[frames] - true_c[frames] - mean_offset, axis=1)
        kp_err = np.linalg.norm(tr["2d_px"][frames] - truth[frames] - kp_offset, axis=-1)
        z = tr["camera_mm"][..., 2:]
        rep[name] = {
            "lag_vs_truth_frames": _finite_or_none(lag), "lag_vs_truth_ms": _finite_or_none(lag * 1000.0 / fps),
            "lag_fit_rms_px": _finite_or_none(resid),
            "error_px": _finite_or_none(np.nanmean(err)) if np.isfinite(err).any() else None,
            "error_px_mean_offset": _finite_or_none(np.nanmean(err_mean)) if np.isfinite(err_mean).any() else None,
            "keypoint_error_px": _finite_or_none(np.nanmean(kp_err)) if np.isfinite(kp_err).any() else None,
            "jitter": {"2d_px": _finite_or_none(jitter(tr["2d_px"][frames], steps[frames[:-1]])),
                       "3d_norm": _finite_or_none(jitter(tr["3d_norm"][frames])),
                       "camera_z_mm": _finite_or_none(jitter(z[frames]))},
        }
    # delays up to the first analysed frame: c_off(t - d) exists for every analysed t at every delay
    lag, _ = best_delay(c_on, c_off, frames, DELAY_GRID[DELAY_GRID <= max(frames[0], 1)] if frames.size else DELAY_GRID)
    rep["on"]["lag_vs_unfiltered_frames"] = _finite_or_none(lag)
    rep["on"]["lag_vs_unfiltered_ms"] = _finite_or_none(lag * 1000.0 / fps)
    rep["jitter_ratio_on_off"] = {q: _ratio(rep["on"]["jitter"][q], rep["off"]["jitter"][q])
                                  for q in rep["on"]["jitter"]}
    return rep


DEFINITIONS = {
    "jitter": "mean over the 21 keypoints of the RMS over consecutive frame pairs of |p(t+1) - p(t)| "
              "(moving 2D: minus the known step; moving camera: depth z only); px, normalised bone units, mm",
    "spread": "still only: mean over keypoints of the RMS distance from the keypoint's mean position",
    "lag_vs_truth": "delay d (frames; ms = d * 1000 / fps; 0.02-frame grid) minimising mean |c(t) - m(t - d) - b|^2; "
                    "c the keypoint centroid, m the true centroid path, b the unfiltered run's mean offset from m "
                    "(a delay and an offset are alike on a ramp; the unfiltered lag is ~0 by this construction)",
    "lag_vs_unfiltered": "delay d minimising mean |c_on(t) - c_off(t - d)|^2, c_off linearly interpolated",
    "error_px": "mean |c(t) - m(t) - e0|, e0 = unfiltered c(t0) - m(t0), t0 the hand's first frame (0 when "
                "found there), where its filter passes the sample through",
    "error_px_mean_offset": "the same with e0 the unfiltered run's mean offset over the analysed frames",
    "keypoint_error_px": "mean over keypoints and analysed frames of |p_k(t) - q_k(t) - o_k|, q_k the true keypoint, "
                         "o_k the unfiltered run's mean offset of keypoint k (jitter and lag together)",
    "ideal_lag_frames": "(1 - alpha) / alpha at the 2D cutoff min_cutoff_2d + beta_2d * peak speed: the lag on "
                        "a steady ramp once the filter's speed estimate has settled",
    "hand": "the hand id present in most frames of the unfiltered run (the same id in the filtered run)",
    "moving": "metrics over frames analysed_from_frame.. (the filter's speed estimate starts at 0)",
}


# -- the render of the moving sequence ------------------------------------------------------------------
def find_render(estimator, seed: int = 1, set_name: str = "evaluation", size: int = 320, tries: int = 200,
                canvas_hw: tuple[int, int] = CANVAS_HW, max_fraction: float = 0.2, min_presence: float = 0.5):
    """The first render (index 0.. of ``seed``) with one hand, inside the frame, that the estimator finds
    (presence >= min_presence, median keypoint distance <= max_fraction of the hand's extent) when the
    render is composited at the centre of the canvas: (patch RGB, alpha, true keypoints 21 x 2 in patch
    pixels, a description). ValueError when none of ``tries`` renders qualifies."""
    import cv2

    from training.evaluate_camera import match_hand, true_hands
    from training.synth import dataset

    background = plain_background(canvas_hw)
    for index in range(tries):
        s = dataset.render_sample(index, seed, set_name, size)
        hands = true_hands(s.anno, s.meta["present"])
        if len(hands) != 1:
            continue
        uv = hands[0].uv
        if uv.min() < 4 or uv.max() > size - 5:
            continue
        alpha = cv2.GaussianBlur((s.mask > 0).astype(np.float32), (0, 0), 0.7)
        try:
            motion = fit_motion(uv, s.color.shape[:2], canvas_hw, 0.0)
        except ValueError:
            continue
        frames, truth = moving_frames(s.color, alpha, uv, background, motion, 1, noise_sigma=0.0)
        found = [p for p in estimator.estimate(frames[0]).hands if p.presence >= min_presence]
        shifted = dataclasses.replace(hands[0], uv=truth[0])
        for p in found:
            if match_hand(p.keypoints_2d, [shifted], max_fraction) is not None:
                err = float(np.median(np.linalg.norm(p.keypoints_2d - truth[0], axis=1)))
                info = {"seed": seed, "set": set_name, "size": size, "index": index, "side": hands[0].side,
                        "mode": s.meta["mode"], "presence": float(p.presence), "median_error_px": err,
                        "hand_extent_px": float((uv.max(0) - uv.min(0)).max())}
                return s.color, alpha, uv, info
    raise ValueError(f"none of renders 0..{tries - 1} (seed {seed}, {set_name}) has one hand the weights find")


# -- the benchmark ---------------------------------------------------------------------------------------
def measure(estimator, still: list[np.ndarray], moving: list[tuple], fps: float, options,
            redetect_every: int = 1, settle: int = SETTLE_FRAMES) -> dict:
    """The benchmark's measurements: ``still`` frames, and per speed (motion, frames, truth N x 21 x 2),
    each run without and with ``options``."""
    out = {"still": still_report(run_tracker(estimator, still, fps, False, redetect_every),
                                 run_tracker(estimator, still, fps, options, redetect_every)),
           "moving": []}
    for motion, frames, truth in moving:
        off = run_tracker(estimator, frames, fps, False, redetect_every)
        on = run_tracker(estimator, frames, fps, options, redetect_every)
        out["moving"].append(moving_report(off, on, truth, motion, fps, options, settle))
    return out


def _fmt(v, spec=".3f") -> str:
    return "-" if v is None else format(v, spec)


def table(result: dict) -> str:
    c = result["config"]
    lines = [f"One Euro filter, defaults {result['smoothing_options']} | {c['fps']:g} fps, {c['frames']} frames, "
             f"redetect_every {c['redetect_every']}",
             f"still ({Path(c['photo']).name}, noise {c['noise_sigma']} grey, shift <= {c['max_shift_px']} px; "
             f"hand {result['still']['hand_id']} in {result['still']['frames_with_hand']}/{result['still']['frames']} "
             f"frames)",
             f"  {'quantity':<14}{'jitter off':>12}{'jitter on':>12}{'on/off':>8}{'spread off':>12}{'spread on':>12}"]
    s = result["still"]
    for q, unit in zip(QUANTITIES, ("px", "bone", "mm")):
        lines.append(f"  {q + ' (' + unit + ')':<14}{_fmt(s['off']['jitter'][q]):>12}{_fmt(s['on']['jitter'][q]):>12}"
                     f"{_fmt(s['jitter_ratio_on_off'][q], '.2f'):>8}{_fmt(s['off']['spread'][q]):>12}"
                     f"{_fmt(s['on']['spread'][q]):>12}")
    lines.append(f"moving (render {c['render'].get('index')}, sinusoid on {c['canvas_hw'][1]}x{c['canvas_hw'][0]}; "
                 f"frames {result['moving'][0]['analysed_from_frame'] if result['moving'] else '-'}.. analysed)")
    lines.append(f"  {'v px/f':>6}{'lag on-off':>11}{'ms':>7}{'ideal':>7}{'lag off':>8}{'lag on':>8}"
                 f"{'err off':>9}{'err on':>8}{'kp off':>8}{'kp on':>7}"
                 f"{'jit2d off':>10}{'on':>7}{'jit3d off':>10}{'on':>7}"
                 f"{'z mm off':>9}{'on':>7}  hand")
    for m in result["moving"]:
        a, b = m["off"], m["on"]
        lines.append(f"  {m['speed_px_per_frame']:>6g}{_fmt(b['lag_vs_unfiltered_frames'], '.2f'):>11}"
                     f"{_fmt(b['lag_vs_unfiltered_ms'], '.0f'):>7}{_fmt(m['ideal_lag_frames'], '.2f'):>7}"
                     f"{_fmt(a['lag_vs_truth_frames'], '.2f'):>8}{_fmt(b['lag_vs_truth_frames'], '.2f'):>8}"
                     f"{_fmt(a['error_px'], '.2f'):>9}{_fmt(b['error_px'], '.2f'):>8}"
                     f"{_fmt(a['keypoint_error_px'], '.2f'):>8}{_fmt(b['keypoint_error_px'], '.2f'):>7}"
                     f"{_fmt(a['jitter']['2d_px'], '.2f'):>10}{_fmt(b['jitter']['2d_px'], '.2f'):>7}"
                     f"{_fmt(a['jitter']['3d_norm'], '.3f'):>10}{_fmt(b['jitter']['3d_norm'], '.3f'):>7}"
                     f"{_fmt(a['jitter']['camera_z_mm'], '.1f'):>9}{_fmt(b['jitter']['camera_z_mm'], '.1f'):>7}"
                     f"  {m['frames_with_hand']}/{m['frames']}")
    lines.append("  lags in frames (lag on-off: filtered behind unfiltered; ideal: settled One Euro on a ramp at v); "
                 "err: centroid vs known path, kp: per keypoint, px")
    return "\n".join(lines)


def run(args) -> dict:
    import cv2

    from handcam.estimator import HandPoseEstimator
    from handcam.runtime import set_inference_threads
    from handcam.smoothing import SmoothingOptions

    threads = set_inference_threads(args.threads or None)
    est = HandPoseEstimator.load(args.weights, device="cpu")
    options = SmoothingOptions()
    bgr = cv2.imread(str(args.photo))
    if bgr is None:
        raise ValueError(f"cannot read photo {args.photo}")
    still, shifts = still_frames(np.ascontiguousarray(bgr[:, :, ::-1]), args.frames, args.noise, args.max_shift)
    patch, alpha, uv, render = find_render(est, seed=args.render_seed, canvas_hw=CANVAS_HW)
    log.info("render %s", render)
    background = plain_background(CANVAS_HW)
    moving = []
    for v in args.speeds:
        motion = fit_motion(uv, patch.shape[:2], CANVAS_HW, v)
        frames, truth = moving_frames(patch, alpha, uv, background, motion, args.frames, args.noise)
        moving.append((motion, frames, truth))
    measured = measure(est, still, moving, args.fps, options, args.redetect_every, min(SETTLE_FRAMES, args.frames // 4))
    config = {"frames": args.frames, "fps": args.fps, "photo": str(args.photo), "speeds": list(args.speeds),
              "weights": str(args.weights), "threads": threads, "redetect_every": args.redetect_every,
              "noise_sigma": args.noise, "max_shift_px": args.max_shift, "canvas_hw": list(CANVAS_HW),
              "photo_hw": list(still[0].shape[:2]),
              "still_shift_step_rms_px": float(np.sqrt(np.mean(np.sum(np.diff(shifts, axis=0) ** 2, 1)))),
              "render": render}
    return result_json(est, options, measured, config)


def result_json(estimator, options, measured: dict, config: dict) -> dict:
    """The JSON report: ``measure``'s result with the config (plus the estimator's backend), the
    ``SmoothingOptions`` values, the metric definitions and the machine (with the git commit)."""
    from bench import _git_commit, machine_info  # benchmarks/bench.py, beside this file

    info = machine_info(estimator.device)
    info["git_commit"] = _git_commit()
    return {"tool": "smoothing", "config": {**config, "backend": estimator.backend},
            "smoothing_options": dataclasses.asdict(options), "definitions": DEFINITIONS, "machine": info, **measured}


def _positive_float(s: str) -> float:
    v = float(s)
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {s}")
    return v


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--frames", type=int, default=100, help="frames per sequence (default 100; at least 8)")
    p.add_argument("--fps", type=_positive_float, default=30.0,
                   help="frame rate of the timestamps given to the tracker (index / fps seconds; default 30)")
    p.add_argument("--photo", type=Path, default=DEFAULT_PHOTO,
                   help=f"the still sequence's real hand photo (default: {DEFAULT_PHOTO})")
    p.add_argument("--speeds", type=float, nargs="+", default=[2.0, 8.0, 20.0], metavar="V",
                   help="peak speeds of the moving sequences, px per frame (default: 2 8 20)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"the JSON to write (default: {DEFAULT_OUT})")
    p.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS,
                   help=f"handcam weights file (default: the bundled {DEFAULT_WEIGHTS.name})")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1; 0: the app's rule)")
    p.add_argument("--redetect-every", type=int, default=1,
                   help="the tracker's redetect_every (default 1: HandSegNet on every frame; 10 is the "
                        "tracker's default, with crops from the previous keypoints in between)")
    p.add_argument("--noise", type=float, default=NOISE_SIGMA,
                   help=f"Gaussian pixel noise sigma, grey levels (default {NOISE_SIGMA})")
    p.add_argument("--max-shift", type=float, default=MAX_SHIFT_PX,
                   help=f"largest random sub-pixel shift of the still frames, px (default {MAX_SHIFT_PX})")
    p.add_argument("--render-seed", type=int, default=1,
                   help="seed of the synthetic evaluation renders searched for the moving hand (default 1)")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress")
    args = p.parse_args(argv)
    if args.frames < 8:
        p.error("--frames must be >= 8")
    if args.redetect_every < 0 or args.threads < 0 or args.noise < 0 or args.max_shift < 0:
        p.error("--redetect-every, --threads, --noise and --max-shift must be >= 0")
    if any(not (math.isfinite(v) and v > 0) for v in args.speeds):
        p.error("--speeds must be positive")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    return run_and_write("smoothing.py", run, args, args.out, table)


if __name__ == "__main__":
    sys.exit(main())
