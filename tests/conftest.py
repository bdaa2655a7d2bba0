"""Shared fixtures: the oracle folder, random weights in both formats, a random estimator."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# torch._dynamo loads Triton, whose bundled LLVM crashes when Mesa's LLVM (llvmpipe, loaded by the
# first OpenGL context of the GUI tests) is already in the process. Load it first.
from handcam.compat import preload_triton  # noqa: E402

preload_triton()


def oracle_dir() -> Path:
    return Path(os.environ.get("HANDCAM_ORACLE_DIR", ROOT.parent / "shared" / "oracle"))


def oracle_cases() -> list[Path]:
    d = oracle_dir()
    return sorted(d.glob("*.npz")) if d.is_dir() else []


SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def oracle_weights(tmp_path_factory):
    """seed -> handcam weights path, generated with the oracle's make_weights.py and converted
    through the official-pickle converter (checksum skipped: these are random test weights)."""
    from handcam.weights import convert_files

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
    from handcam.estimator import HandPoseEstimator

    torch.set_num_threads(max(1, torch.get_num_threads()))
    return HandPoseEstimator.random(seed=0, device="cpu")


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
