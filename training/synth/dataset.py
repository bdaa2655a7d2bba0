"""Render samples and write them in RHD's native layout: deterministic, parallel, resumable.

Layout written (exactly RHD's)::

    <out>/<set>/color/%05d.png      320x320 RGB
    <out>/<set>/mask/%05d.png       uint8 labels (0 bg, 1 person, 2-17 left hand, 18-33 right hand)
    <out>/<set>/depth/%05d.png      depth_m = (R * 256 + G) / (2**16 - 1) * 5
    <out>/<set>/anno_<set>.pickle   {id: {'xyz': (42, 3) float32 m, 'uv_vis': (42, 3) float32, 'K': (3, 3) float32}}

plus ``<out>/<set>/.synth/%05d.pkl`` (one record per finished sample, what resuming and the final
pickle are built from) and ``<out>/README.md`` (how it was made, background licences).

Every sample draws from its own generator seeded by (seed, set, index), so the bytes of a sample do
not depend on the number of workers, the order they finish in, or on resuming.
"""
from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import pickle
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from handcam.atomic import atomic_write_bytes, atomic_write_text
from handcam.safe_pickle import load_numpy_pickle
from handcam.skeleton import NUM_KEYPOINTS

from ..rhd_format import (
    DEPTH_MAX_M,
    SPLITS,
    decode_depth,
    encode_depth,
    sample_paths,
    save_annotations,
    write_rhd_sample,
)
from . import backgrounds as bgs
from .body import LABEL_BASE
from .kinematics import VIS_TOLERANCE_M
from .postfx import camera_effects
from .render import raycast, shade
from .scene import Scene, sample_scene

log = logging.getLogger(__name__)

SETS = SPLITS
_SET_ID = {"training": 0, "evaluation": 1}
_RECORDS = ".synth"
VERSION = 2
#: PNG settings: fast zlib (level 1, run-length) after the "up" row filter: 2-3x faster than libpng's
#: adaptive filtering at level 1, and smaller files than no filter.
_PNG = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE,
        cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP]


def sample_rng(seed: int, set_name: str, index: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), _SET_ID[set_name], int(index), VERSION])


def _lights(rng: np.random.Generator) -> dict:
    n = 1 + int(rng.uniform() < 0.6)
    dirs, cols = [], []
    for k in range(n):
        d = rng.normal(size=3)
        d[2] = -abs(d[2]) - 0.3            # lights on the camera's side of the scene
        d /= np.linalg.norm(d)
        temp = rng.uniform(-1, 1)          # warm .. cool
        col = np.array([1.0 + 0.12 * temp, 1.0, 1.0 - 0.15 * temp]) * rng.uniform(0.6, 1.3) * (1.0 if k == 0 else 0.4)
        dirs.append(d)
        cols.append(col)
    amb = np.full(3, rng.uniform(0.12, 0.45)) * rng.normal(1.0, 0.05, 3)
    return {"dirs": np.array(dirs), "cols": np.array(cols), "ambient": amb}


class _Laps:
    """Adds the seconds since the previous lap to ``timings[name]`` (does nothing without a dict)."""

    def __init__(self, timings: dict | None):
        self.timings = timings
        self.t = time.perf_counter()

    def __call__(self, name: str) -> None:
        if self.timings is not None:
            now = time.perf_counter()
            self.timings[name] = self.timings.get(name, 0.0) + now - self.t
            self.t = now


@dataclass
class Sample:
    color: np.ndarray     # (H, W, 3) uint8 RGB
    mask: np.ndarray      # (H, W) uint8
    depth: np.ndarray     # (H, W, 3) uint8 RHD encoding (as OpenCV writes it: B, G, R)
    anno: dict
    meta: dict


def render_sample(index: int, seed: int, set_name: str = "training", size: int = 320,
                  bank: bgs.BackgroundBank | None = None, timings: dict | None = None,
                  vis_tolerance: float | None = None) -> Sample:
    """Render sample ``index`` of the dataset with this seed.

    vis_tolerance: how far (metres) the rendered depth at a keypoint may lie from its z for the keypoint
    to count as visible; None: ``kinematics.VIS_TOLERANCE_M`` (1 cm, more for the joints that sit deep
    under the palm's surface: wrist, thumb CMC, finger MCPs).

    timings: if given, seconds spent per stage are added to it (scene, background, raycast, shade,
    compose, effects, keypoints).
    """
    lap = _Laps(timings)
    rng = sample_rng(seed, set_name, index)
    bank = bank or bgs.BackgroundBank([])
    scene: Scene = sample_scene(rng, size)
    K = scene.K
    lap("scene")
    bg, bg_src = bank.sample(rng, size)
    if rng.uniform() < 0.3:      # shallow depth of field
        bg = cv2.GaussianBlur(bg, (0, 0), float(rng.uniform(0.5, 2.5)))
    lap("background")
    depth, prim = raycast(scene.prims, K, size, size)
    lap("raycast")
    lights = _lights(rng)
    small = rng.uniform(-1, 1, (24, 24)).astype(np.float32)
    tex = cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)
    lin, hit = shade(scene.prims, depth, prim, K, lights, tex)
    lap("shade")
    img, bg_depth = bg, scene.bg_depth
    labels = np.zeros((size, size), np.uint8)
    if hit.any():
        img = bg.copy()
        img[hit] = np.clip(lin[hit], 0, 1) ** (1 / 2.2)
        labels[hit] = scene.prims["label"][prim[hit]].astype(np.uint8)
        # the background lies behind everything rendered
        bg_depth = min(max(bg_depth, float(depth[hit].max()) + 0.2), DEPTH_MAX_M - 0.01)
    depth_m = np.where(hit, depth, bg_depth)
    depth_png = encode_depth(depth_m)
    depth_q = decode_depth(depth_png, np.float64)
    lap("compose")
    color = camera_effects(img, rng)
    lap("effects")
    # keypoints: projection, visibility by image bounds, mask label and the depth test
    xyz = np.concatenate([scene.hands["left"].xyz, scene.hands["right"].xyz]).astype(np.float64)
    uv = np.stack([K[0, 0] * xyz[:, 0] / xyz[:, 2] + K[0, 2], K[1, 1] * xyz[:, 1] / xyz[:, 2] + K[1, 2]], 1)
    vis = np.zeros(2 * NUM_KEYPOINTS, bool)
    tol = VIS_TOLERANCE_M if vis_tolerance is None else np.full(NUM_KEYPOINTS, float(vis_tolerance))
    for h, side in enumerate(("left", "right")):
        if not scene.hands[side].present:
            continue
        lo = LABEL_BASE[side]
        for k in range(NUM_KEYPOINTS):
            i = h * NUM_KEYPOINTS + k
            c, r = int(np.round(uv[i, 0])), int(np.round(uv[i, 1]))
            if not (0 <= c < size and 0 <= r < size and xyz[i, 2] > 0):
                continue
            vis[i] = lo <= labels[r, c] <= lo + 15 and abs(depth_q[r, c] - xyz[i, 2]) <= tol[k]
    anno = {
        "xyz": xyz.astype(np.float32),
        "uv_vis": np.concatenate([uv, vis[:, None]], 1).astype(np.float32),
        "K": K.astype(np.float32),
    }
    meta = {"mode": scene.mode, "background": bg_src,
            "poses": {s: scene.hands[s].pose for s in ("left", "right")},
            "present": {s: bool(scene.hands[s].present) for s in ("left", "right")},
            "angles": {s: scene.hands[s].angles for s in ("left", "right") if scene.hands[s].present}}
    lap("keypoints")
    return Sample(color=color, mask=labels, depth=depth_png, anno=anno, meta=meta)


# ----------------------------------------------------------------------------------------------
# Writing

def _paths(set_dir: Path, index: int) -> dict[str, Path]:
    return {**sample_paths(set_dir.parent, set_dir.name, index), "record": set_dir / _RECORDS / f"{index:05d}.pkl"}


def is_complete(set_dir: Path, index: int) -> bool:
    return all(p.is_file() for p in _paths(set_dir, index).values())


def write_sample(set_dir: Path, index: int, s: Sample) -> None:
    write_rhd_sample(set_dir.parent, set_dir.name, index, s.color, s.mask, s.depth, _PNG)
    record = pickle.dumps({"anno": s.anno, "meta": s.meta}, protocol=2)
    atomic_write_bytes(_paths(set_dir, index)["record"], record)   # last: marks the sample complete


# worker state (one per process)
_W: dict = {}


def _init_worker(photos, set_dir, seed, set_name, size, vis_tolerance):
    cv2.setNumThreads(1)
    _W.update(bank=bgs.BackgroundBank(photos), set_dir=Path(set_dir), seed=seed, set_name=set_name, size=size,
              vis_tolerance=vis_tolerance)


def _work(index: int) -> int:
    s = render_sample(index, _W["seed"], _W["set_name"], _W["size"], _W["bank"], vis_tolerance=_W["vis_tolerance"])
    write_sample(_W["set_dir"], index, s)
    return index


def generate(out: str | os.PathLike, count: int, seed: int = 0, set_name: str = "training", workers: int = 0,
             size: int = 320, photos: list[bgs.Photo] | None = None,
             progress: Callable[[Iterator[int], int], Iterator[int]] | None = None,
             vis_tolerance: float | None = None) -> dict:
    """Generate samples 0..count-1 into ``out/set_name`` (skipping finished ones), then the anno pickle.

    workers: processes (0: one per CPU core); vis_tolerance: see ``render_sample``.
    Returns a summary dict (counts, seconds, samples/s).
    """
    if set_name not in SETS:
        raise ValueError(f"set must be one of {SETS}, got {set_name!r}")
    if count < 0:
        raise ValueError("count must be >= 0")
    out = Path(out)
    set_dir = out / set_name
    for sub in ("color", "mask", "depth", _RECORDS):
        (set_dir / sub).mkdir(parents=True, exist_ok=True)
    for stale in set_dir.glob("*/.*.tmp*"):      # left over by an interrupted run
        stale.unlink()
    photos = bgs.find_photos() if photos is None else photos
    todo = [i for i in range(count) if not is_complete(set_dir, i)]
    log.info("%s: %d of %d samples to render (%d already done)", set_dir, len(todo), count, count - len(todo))
    workers = workers or os.cpu_count() or 1
    t0 = time.perf_counter()
    if todo:
        if workers <= 1:
            _init_worker(photos, set_dir, seed, set_name, size, vis_tolerance)
            it: Iterator[int] = map(_work, todo)
            pool = None
        else:
            ctx = mp.get_context("fork") if hasattr(os, "fork") else mp.get_context("spawn")
            pool = ctx.Pool(workers, initializer=_init_worker, initargs=(photos, str(set_dir), seed, set_name, size,
                                                                            vis_tolerance))
            it = pool.imap_unordered(_work, todo, chunksize=4)
        if progress:
            it = progress(it, len(todo))
        try:
            for _ in it:
                pass
        finally:
            if pool is not None:
                pool.close()
                pool.join()
    dt = time.perf_counter() - t0
    anno = assemble(set_dir, count, set_name)
    write_readme(out, photos, seed=seed, size=size, vis_tolerance=vis_tolerance)
    summary = {"set": set_name, "count": count, "rendered": len(todo), "seconds": dt,
               "samples_per_s": len(todo) / dt if dt > 0 and todo else None, "workers": workers,
               "hands_visible": int(sum(a["uv_vis"][:, 2].any() for a in anno.values()))}
    log.info("done: %s", summary)
    return summary


def assemble(set_dir: Path, count: int, set_name: str) -> dict:
    """Build ``anno_<set>.pickle`` from the per-sample records 0..count-1."""
    anno = {i: load_numpy_pickle(_paths(set_dir, i)["record"], "a synthetic sample's record")["anno"]
            for i in range(count)}
    save_annotations(set_dir / f"anno_{set_name}.pickle", anno)
    return anno


def write_readme(out: Path, photos: list[bgs.Photo], seed: int, size: int, vis_tolerance: float | None = None) -> None:
    vis = ("within 1 cm of its z (2.5 cm for the wrist and thumb CMC, 1.6 cm for the finger MCPs, which sit "
           "deeper under the surface)" if vis_tolerance is None else f"within {vis_tolerance * 100:g} cm of its z")
    text = f"""# Synthetic hands in RHD's layout (handcam, training/synth)

Rendered by `python -m training.synth` (generator version {VERSION}), seed {seed}, {size}x{size} pixels.
Layout, label ids and depth encoding are those of the Rendered Hand Pose Dataset (RHD):
`color/`, `mask/` (0 background, 1 person, 2-17 left hand with 17 the palm, 18-33 right hand with 33
the palm; per finger thumb, index, middle, ring, little: proximal, middle, distal segment),
`depth/` (metres = (R*256 + G) / 65535 * 5) and `anno_<set>.pickle` (keypoint 0 is the wrist, as in RHD).
A keypoint is visible when it lies inside the image, the mask there is its hand's, and the rendered depth
there is {vis}.
`.synth/` holds one record per sample (annotation plus the scene's pose names and joint angles).

Samples are deterministic functions of (seed, set, index) and of the background photographs installed
when they were rendered (listed below; a different set of photographs changes the images).

## Background photographs and their licences

{bgs.licence_table(photos)}
Procedural backgrounds (rooms, clutter, noise, patterns) are generated and carry no licence.
The rendered images are derived works of the photographs above where one was used; the
`.synth/*.pkl` records name the background of every sample.
"""
    atomic_write_text(out / "README.md", text)
    atomic_write_text(out / ".synth_meta.json", json.dumps({"version": VERSION, "seed": seed, "size": size,
                                                            "vis_tolerance_m": vis_tolerance}))
