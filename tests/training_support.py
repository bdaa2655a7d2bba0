"""Helpers of the training tests: short runs of a task, and the environment of a training subprocess."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from training import loop
from training.config import TrainConfig
from training.mixed import FrameSource

REPO = Path(__file__).resolve().parents[1]


def run_args(task_name: str, root, out, iterations: int, *extra: str) -> list[str]:
    """The command line of a short, quiet, seeded run (no DataLoader workers unless ``extra`` says)."""
    return [task_name, "--data", str(root), "--out", str(out), "--iterations", str(iterations), "--workers", "0",
            "--no-progress", "--seed", "7", *extra]


def run_config(task, root, out, iterations: int, **changes) -> TrainConfig:
    """The configuration of :func:`run_args` (the release recipe otherwise), with ``changes`` applied."""
    return TrainConfig.for_task(task, root, out, **{"iterations": iterations, "workers": 0, "progress": False,
                                                    "seed": 7, **changes})


def run_task(task, root, out, iterations: int, **changes) -> list[tuple[int, float]]:
    """``training.loop.run`` of ``task`` with :func:`run_config`; returns its (iteration, loss) history."""
    return loop.run(task, run_config(task, root, out, iterations, **changes))


def subprocess_env() -> dict:
    """This environment, with the repository importable and one OpenMP thread per process."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    return env


class ArrayFrames(FrameSource):
    """Frames held in memory (the FrameSource interface, for hand-made cases)."""

    def __init__(self, images, masks=None, hands=None, name="arrays"):
        self.images = list(images)
        self.masks = masks if masks is not None else [np.zeros(im.shape[:2], np.uint8) for im in self.images]
        self.hand_lists = hands if hands is not None else [[] for _ in self.images]
        self.name = name

    def __len__(self):
        return len(self.images)

    def image(self, i):
        return self.images[i]

    def side_mask(self, i):
        return self.masks[i]

    def hands(self, i):
        return self.hand_lists[i]
