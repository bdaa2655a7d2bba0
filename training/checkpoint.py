"""What a run writes and reads back: ``checkpoint.pt`` (everything ``--resume`` needs, written
atomically), ``weights.pt`` (the exported networks, for the app) and ``--init`` files.

A checkpoint holds the model, optimiser and AMP scaler states, the iteration, the RNG states of
every process (torch, CUDA, numpy, Python), the exported networks and the run's configuration
(:meth:`training.config.TrainConfig.record`, under ``args``).
"""
from __future__ import annotations

import logging
import random
from pathlib import Path

import numpy as np
import torch

from handcam.weights import atomic_save, load_weights, save_weights

from .config import TrainConfig
from .errors import TrainingError

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"
WEIGHTS = "weights.pt"


def rng_state() -> dict:
    """This process's RNG states, as tensors and plain values (loadable with ``weights_only``)."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    st = {
        "torch": torch.get_rng_state(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), int(np_state[2]), int(np_state[3]),
                  float(np_state[4])],
        "python": [int(py_state[0]), list(py_state[1]), py_state[2]],
    }
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def set_rng_state(st: dict) -> None:
    torch.set_rng_state(st["torch"])
    n = st["numpy"]
    np.random.set_state((n[0], n[1].numpy().astype(np.uint32), n[2], n[3], n[4]))
    p = st["python"]
    random.setstate((p[0], tuple(p[1]), p[2]))
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


def load_checkpoint(path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def unwrap(model):
    """The module inside a DistributedDataParallel wrapper (or the model itself)."""
    return model.module if hasattr(model, "module") else model


def load_init_weights(path: str) -> dict:
    """State dicts by network key from a handcam weights file or a training checkpoint."""
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(blob, dict) and "export" in blob:  # our training checkpoint
        return blob["export"]
    return load_weights(path)[0]


def save_checkpoint(path: Path, task, model, optimizer, scaler, iteration: int, config: TrainConfig,
                    rngs: list) -> None:
    """Write ``path`` atomically; ``rngs``: the RNG states of every process, by rank."""
    m = unwrap(model)
    atomic_save({
        "task": task.recipe.name,
        "iteration": iteration,
        "model": m.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict() if scaler.is_enabled() else None,
        "rng": rngs,
        "export": task.export(m),
        "args": {"task": task.name, **config.record()},
    }, path)
    log.info("checkpoint at iteration %d -> %s", iteration, path)


def resume(path: Path, task, model, optimizer, scaler, rank: int, world: int) -> int:
    """Restore a run from its checkpoint (model, optimiser, scaler, this rank's RNG state); returns
    the iteration it continues from."""
    name = task.recipe.name
    if not path.is_file():
        raise TrainingError(f"--resume: no checkpoint at {path}")
    ck = load_checkpoint(path)
    if ck.get("task") != name:
        raise TrainingError(f"--resume: {path} is a {ck.get('task')} checkpoint, not {name}")
    model.load_state_dict(ck["model"])
    optimizer.load_state_dict(ck["optimizer"])
    if ck.get("scaler"):
        scaler.load_state_dict(ck["scaler"])
    rngs = ck["rng"]
    if len(rngs) != world:
        log.warning("checkpoint has RNG states of %d processes, now %d: dropout noise will differ", len(rngs), world)
    set_rng_state(rngs[rank % len(rngs)])
    start = int(ck["iteration"])
    log.info("resumed %s at iteration %d from %s", name, start, path)
    return start


def export_weights(task, model, config: TrainConfig, iteration: int) -> Path:
    """Write RUN_DIR/weights.pt with handcam.weights.save_weights (what the app loads)."""
    meta = {"trained_by": f"training.{task.recipe.name}", "iterations": iteration, "data": str(config.data),
            "seed": config.seed, "batch_size": config.batch_size, "lr": config.lr}
    path = Path(config.out) / WEIGHTS
    save_weights(path, task.export(unwrap(model)), meta, architecture=config.arch)
    log.info("weights -> %s", path)
    return path
