"""The training loop shared by the three networks.

Adam with a piecewise-constant learning rate, checkpoints written atomically every N iterations
(:mod:`training.checkpoint`), ``--resume`` that continues exactly (model, optimiser, AMP scaler,
iteration, the RNG states of every process; the data order and augmentations are a function of
``(seed, iteration)``, see :mod:`training.data`), mixed precision on CUDA, DistributedDataParallel
when started by ``torchrun`` (gloo on CPU, nccl on CUDA), TensorBoard logs and a tqdm bar.

A *task* (:mod:`training.tasks`) says what to train; a :class:`training.config.TrainConfig` says
how (:mod:`training.train`, the command line, builds it from the flags).
"""
from __future__ import annotations

import json
import logging
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from handcam.runtime import autocast, resolve_device

from . import checkpoint as C
from .config import TrainConfig
from .data import SeededBatchSampler
from .errors import TrainingError
from .tasks import lr_at

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- distributed / device
@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def _setup(device: str) -> tuple[Dist, torch.device]:
    """This process's rank and device (``device``: "auto", "cpu" or "cuda"); joins torchrun's group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    cuda = resolve_device(device).type == "cuda"
    d = Dist()
    if world > 1:
        d = Dist(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
        if not dist.is_initialized():
            dist.init_process_group("nccl" if cuda else "gloo")
    if cuda:
        torch.cuda.set_device(d.local_rank)
        return d, torch.device("cuda", d.local_rank)
    return d, torch.device("cpu")


def _amp(amp: str, device) -> tuple[str, bool]:
    """(precision for handcam.runtime.autocast, whether a GradScaler is needed) for ``amp``:
    "auto", "off", "bf16" or "fp16"."""
    if device.type != "cuda" or amp == "off":
        return "fp32", False
    if amp == "bf16" or (amp == "auto" and torch.cuda.is_bf16_supported()):
        return "bf16", False
    return "fp16", True


def _rng_states(dd: Dist) -> list:
    """The RNG states of every process (by rank); collective: every rank calls it."""
    rng = C.rng_state()
    if dd.world == 1:
        return [rng]
    rngs = [None] * dd.world
    dist.all_gather_object(rngs, rng)
    return rngs


def _worker_init(_):
    import cv2

    cv2.setNumThreads(0)  # workers are the parallelism; OpenCV threads would oversubscribe
    torch.set_num_threads(1)


# ---------------------------------------------------------------- the loop
def run(task, config: TrainConfig) -> list[tuple[int, float]]:
    """Train ``task`` as ``config`` says; returns [(iteration, loss)] of this run's steps."""
    if not isinstance(config.options, task.Options):
        raise TrainingError(f"{task.name} takes {task.Options.__name__}, not {type(config.options).__name__}")
    dd, device = _setup(config.device)
    out = Path(config.out)
    if dd.main:
        out.mkdir(parents=True, exist_ok=True)
    recipe = task.recipe
    lrs = [config.lr * v / recipe.lrs[0] for v in recipe.lrs]
    if len(config.lr_steps) != len(lrs) - 1:
        raise TrainingError(f"--lr-steps needs {len(lrs) - 1} values for the schedule {recipe.describe_schedule()}")

    seed = config.seed
    torch.manual_seed(seed + dd.rank)
    np.random.seed((seed + dd.rank) % 2**32)
    random.seed(seed + dd.rank)

    model = task.build_model(config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lrs[0])
    precision, use_scaler = _amp(config.amp, device)
    scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)

    start = 0
    ckpt_path = out / C.CHECKPOINT
    if config.resume:
        start = C.resume(ckpt_path, task, model, optimizer, scaler, dd.rank, dd.world)
    elif config.init == "imagenet":
        task.init_imagenet(model)
        log.info("backbone initialised from ImageNet")
    elif config.init:
        task.load_init(model, C.load_init_weights(config.init))
        log.info("initialised from %s", config.init)

    if dd.world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        model = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)

    dataset = task.dataset(config)
    sampler = SeededBatchSampler(len(dataset), config.batch_size, seed, start, config.iterations, dd.rank, dd.world)
    loader = DataLoader(
        dataset, batch_sampler=sampler, num_workers=config.workers, pin_memory=device.type == "cuda",
        worker_init_fn=_worker_init, generator=torch.Generator().manual_seed(seed),
        persistent_workers=False, prefetch_factor=4 if config.workers > 0 else None,
    )

    writer = None
    if dd.main:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(out / "tb"), purge_step=start if config.resume else None)
    bar = None
    if dd.main and config.progress:
        from tqdm import tqdm

        bar = tqdm(total=config.iterations, initial=start, desc=recipe.name, unit="it", dynamic_ncols=True)

    model.train()
    history: list[tuple[int, float]] = []
    t_last, n_last = time.perf_counter(), 0
    ips = 0.0
    it = start
    for batch in loader:
        lr = lr_at(it, lrs, config.lr_steps)
        for g in optimizer.param_groups:
            g["lr"] = lr
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        with autocast(device, precision):
            loss = task.loss(model, batch, config)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        it += 1
        loss_v = float(loss.detach())
        if not math.isfinite(loss_v):
            raise FloatingPointError(f"{recipe.name}: loss is {loss_v} at iteration {it}")
        history.append((it, loss_v))
        n_last += config.batch_size * dd.world
        now = time.perf_counter()
        if now - t_last > 2.0 or it == config.iterations:
            ips = n_last / (now - t_last)
            t_last, n_last = now, 0
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss_v:.4g}", img_s=f"{ips:.1f}", lr=f"{lr:g}")
        if writer is not None and (it % config.log_every == 0 or it == config.iterations):
            writer.add_scalar("loss", loss_v, it)
            writer.add_scalar("lr", lr, it)
            writer.add_scalar("images_per_s", ips, it)
            with open(out / "log.jsonl", "a") as f:
                f.write(json.dumps({"iteration": it, "loss": loss_v, "lr": lr, "images_per_s": ips}) + "\n")
        if it % config.checkpoint_every == 0 or it == config.iterations:
            rngs = _rng_states(dd)
            if dd.main:
                C.save_checkpoint(ckpt_path, task, model, optimizer, scaler, it, config, rngs)
    if bar is not None:
        bar.close()
    if writer is not None:
        writer.close()
    if dd.main:
        C.export_weights(task, model, config, it)
    if dd.world > 1:
        dist.barrier()
    return history
