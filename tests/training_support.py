"""Helpers of the training tests: short runs of a task, the environment of a training subprocess, a hand-made
hand and teacher labels of generated photos."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from handcam.handsize import MEAN_BONE_LENGTHS
from handcam.skeleton import BONES
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


def model_hand() -> np.ndarray:
    """A fixed left hand (21 x 3 metres, RHD order, keypoint 0 the wrist at the origin) in camera axes (x right,
    y down, z away from the camera): palm towards the camera, fingers up (-y), the thumb on the camera's left
    (-x), every finger flexed towards the camera (-z) by its own amount, so that no two fingers are alike."""
    pts = [np.zeros(3)]
    bases = [(-0.028, -0.025), (-0.025, -0.085), (-0.003, -0.09), (0.017, -0.085), (0.034, -0.075)]
    lengths = [(0.035, 0.03, 0.025), (0.042, 0.025, 0.022), (0.045, 0.028, 0.024), (0.042, 0.027, 0.023),
               (0.033, 0.02, 0.019)]
    curls = (0.15, 0.2, 0.3, 0.45, 0.6)
    for f, ((bx, by), segs, curl) in enumerate(zip(bases, lengths, curls)):
        d = np.array([-0.7, -0.7, 0.0]) if f == 0 else np.array([0.08 * (f - 2), -1.0, 0.0])
        d /= np.linalg.norm(d)
        joints = [np.array([bx, by, -0.01 if f == 0 else 0.0])]
        for k, seg in enumerate(segs):
            a = curl * (k + 1)
            joints.append(joints[-1] + np.array([d[0] * np.cos(a), d[1] * np.cos(a), -np.sin(a)]) * seg)
        pts += joints[::-1]  # RHD: tip, DIP (IP), PIP (MCP), MCP (CMC)
    return np.array(pts)


def rotation(axis, angle: float) -> np.ndarray:
    """The 3 x 3 rotation by ``angle`` radians about ``axis`` (Rodrigues), for column vectors (``R @ v``)."""
    k = np.asarray(axis, np.float64)
    k = k / np.linalg.norm(k)
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * kx + (1 - np.cos(angle)) * kx @ kx


#: The photos of :func:`write_teacher_labels`: 160 x 120 pixels.
PHOTO_SIZE = (160, 120)


def teacher_hand(i: int) -> dict:
    """The i-th hand of :func:`write_teacher_labels`: the model hand (mirrored into a right hand for odd i) as
    world landmarks, and its 2D keypoints (x, y of the world hand, 600 px per metre, around (80, 90))."""
    world = model_hand() @ (np.diag([-1.0, 1.0, 1.0]) if i % 2 else np.eye(3))
    kp = world[:, :2] * 600 + (80, 90)
    return {"side": "right" if i % 2 else "left", "side_score": 0.9, "keypoints_2d": kp.tolist(),
            "keypoints_world": world.tolist()}


def write_teacher_labels(folder: Path, n: int = 3) -> tuple[Path, list[dict]]:
    """``n`` generated photos (``folder/frames/img<i>.png``) with one teacher hand each (:func:`teacher_hand`),
    plus a last line for photo 0 whose hand has no world landmarks (an older teacher's): the labels file
    ``folder/labels.jsonl`` (image paths relative to it) and its records."""
    import cv2
    from conftest import synthetic_frame

    (folder / "frames").mkdir()
    lines = []
    for i in range(n):
        frame = synthetic_frame(PHOTO_SIZE[1], PHOTO_SIZE[0], seed=i)
        cv2.imwrite(str(folder / "frames" / f"img{i}.png"), frame[:, :, ::-1])
        lines.append({"image": f"frames/img{i}.png", "size": list(PHOTO_SIZE), "hands": [teacher_hand(i)]})
    old = {k: v for k, v in teacher_hand(0).items() if k != "keypoints_world"}
    lines.append({"image": "frames/img0.png", "size": list(PHOTO_SIZE), "hands": [old]})
    path = folder / "labels.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    return path, lines


def mean_hand(scale: float = 1.0) -> torch.Tensor:
    """A (1, 21, 3) hand whose bones have the mean hand's lengths times ``scale`` (each bone along its own
    direction, the tree laid out from the root)."""
    xyz = np.zeros((21, 3))
    for k, (p, c) in enumerate(BONES):
        d = np.array([np.cos(k), np.sin(k), 0.3 * k / len(BONES)])
        xyz[c] = xyz[p] + scale * MEAN_BONE_LENGTHS[k] * d / np.linalg.norm(d)
    return torch.as_tensor(xyz[None])
