"""Shared fixtures: the oracle folder, random weights, random estimators, generated frames.

(``pyproject.toml`` puts the repository root and this folder on ``sys.path``.)
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

# torch._dynamo loads Triton, whose bundled LLVM crashes when Mesa's LLVM (llvmpipe, loaded by the
# first OpenGL context of the GUI tests) is already in the process. Load it first.
from handcam.compat import preload_triton

preload_triton()

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
DEFAULT_ORACLE_DIR = ROOT.parent / "shared" / "oracle"


def oracle_dir() -> Path:
    return Path(os.environ.get("HANDCAM_ORACLE_DIR") or DEFAULT_ORACLE_DIR)


def oracle_cases() -> list[Path]:
    """The oracle's cases. ``$HANDCAM_ORACLE_DIR`` set to a folder without cases is an error (a wrong
    path must not pass as "no data"); only the default folder may be absent (a fresh clone without
    ../shared), and then the oracle tests skip, saying so."""
    d = oracle_dir()
    cases = sorted(d.glob("*.npz")) if d.is_dir() else []
    if not cases and os.environ.get("HANDCAM_ORACLE_DIR"):
        raise pytest.UsageError(f"HANDCAM_ORACLE_DIR={d} holds no oracle cases (*.npz); unset it to use "
                                f"{DEFAULT_ORACLE_DIR}, or point it at the oracle folder")
    return cases



@pytest.fixture(scope="session")
def oracle_weights(tmp_path_factory):
    """seed -> handcam weights path, generated with the oracle's make_weights.py and converted
    through the official-pickle converter (checksum skipped: these are random test weights)."""
    from handcam.weights.official import convert_files

    cache = {}

    def get(seed: int) -> Path:
        if seed not in cache:
            d = tmp_path_factory.mktemp(f"oracle_w{seed}")
            subprocess.run([sys.executable, str(oracle_dir() / "make_weights.py"), str(seed), str(d)], check=True)
            out, _ = convert_files(d / "handsegnet-rhd.pickle", d / "posenet3d-rhd-stb-slr-finetuned.pickle",
                                   d / "w.pt", skip_checksum=True)
            for p in d.glob("*.pickle"):
                p.unlink()  # 200 MB each; the converted file is all the tests need
            cache[seed] = out
        return cache[seed]

    return get


@pytest.fixture(scope="session")
def random_estimator():
    """Paper networks, random weights, the default CPU runtime."""
    from handcam.estimator import HandPoseEstimator

    torch.set_num_threads(max(1, torch.get_num_threads()))
    return HandPoseEstimator.random(seed=0, device="cpu")


@pytest.fixture(scope="session")
def lite_estimator():
    """Lite networks (seed 1), random weights, the default CPU runtime."""
    from handcam.estimator import HandPoseEstimator

    return HandPoseEstimator.random(seed=1, device="cpu", arch="lite")


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory, random_estimator):
    """A handcam weights file holding the random estimator's networks."""
    from handcam.weights import save_weights

    path = tmp_path_factory.mktemp("weights") / "random.pt"
    save_weights(path, {k: n.state_dict() for k, n in random_estimator.networks.items()}, {"source": "test"})
    return path


def synthetic_frame(h: int = 240, w: int = 320, seed: int = 0) -> np.ndarray:
    """A deterministic RGB uint8 test frame: smooth gradients plus a skin-coloured blob."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 255 / max(w - 1, 1), yy * 255 / max(h - 1, 1), np.full((h, w), 90.0)], -1)
    cy, cx = h * rng.uniform(0.3, 0.7), w * rng.uniform(0.3, 0.7)
    blob = ((yy - cy) ** 2 / (0.2 * h) ** 2 + (xx - cx) ** 2 / (0.15 * w) ** 2) < 1
    img[blob] = (220, 170, 140)
    return np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)
