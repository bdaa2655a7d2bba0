"""The training loop shared by the three networks.

Adam with a piecewise-constant learning rate, checkpoints written atomically every N iterations,
``--resume`` that continues exactly (model, optimiser, AMP scaler, iteration, the RNG states of every
process; the data order and augmentations are a function of ``(seed, iteration)``, see
:mod:`training.data`), mixed precision on CUDA, DistributedDataParallel when started by ``torchrun``
(gloo on CPU, nccl on CUDA), TensorBoard logs and a tqdm bar.

A *task* (one per network, in ``train_*.py``) provides: ``recipe`` (:class:`Recipe`),
``build_model(args)``, ``dataset(args)``, ``loss(model, batch, args)``, ``export(model)`` ->
{weights key: state dict} and ``load_init(model, state_dicts)``.
"""
from __future__ import annotations

import argparse
import contextlib
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

from handcam.weights import atomic_save

from .data import SeededBatchSampler

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"
WEIGHTS = "weights.pt"


@dataclass(frozen=True)
class Recipe:
    """A network's release training recipe."""

    name: str
    iterations: int
    lrs: tuple[float, ...]
    lr_steps: tuple[int, ...]
    batch_size: int = 8
    checkpoint_every: int = 5000

    def describe_schedule(self) -> str:
        parts = [f"{self.lrs[0]:g}"] + [f"{v:g}@{s // 1000}k" for v, s in zip(self.lrs[1:], self.lr_steps)]
        return " -> ".join(parts)


def lr_at(iteration: int, lrs, steps) -> float:
    """Piecewise constant: ``lrs[k]`` where k = number of ``steps`` <= iteration (0-based iterations)."""
    k = sum(1 for s in steps if iteration >= s)
    return float(lrs[k])


# ---------------------------------------------------------------- CLI
def build_parser(recipe: Recipe, description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", required=True, help="RHD top folder (RHD_published_v2: contains training/ and evaluation/)")
    p.add_argument("--out", required=True, help="run folder: checkpoint.pt, weights.pt (final, for the app), "
                   "tb/ (TensorBoard logs), log.jsonl")
    p.add_argument("--iterations", type=int, default=recipe.iterations, help="total training iterations (the release's count by default)")
    p.add_argument("--resume", action="store_true", help="continue exactly from RUN_DIR/checkpoint.pt "
                   "(model, optimiser, schedule, RNG, iteration); --iterations may be raised")
    p.add_argument("--init", metavar="WEIGHTS", help="initialise from a handcam weights file (python -m handcam.weights "
                   "convert makes one from the official pickles) or a checkpoint.pt of another run; ignored with --resume")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="auto = CUDA if available")
    p.add_argument("--batch-size", type=int, default=recipe.batch_size, help="samples per iteration per process "
                   "(the release: 8 on one GPU; with torchrun the effective batch is this x processes)")
    p.add_argument("--lr", type=float, default=recipe.lrs[0], help=f"initial learning rate; later steps keep the "
                   f"recipe's ratios (release schedule: {recipe.describe_schedule()})")
    p.add_argument("--lr-steps", type=int, nargs="*", default=list(recipe.lr_steps), help="iterations at which the "
                   "learning rate drops (one per later value of the schedule)")
    p.add_argument("--checkpoint-every", type=int, default=recipe.checkpoint_every, help="write RUN_DIR/checkpoint.pt "
                   "every N iterations (atomically) and at the end")
    p.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1), help="DataLoader worker processes "
                   "(0 = load in the main process)")
    p.add_argument("--seed", type=int, default=0, help="seed of model init, data order, augmentation and dropout")
    p.add_argument("--arch", default="paper", choices=["paper", "lite"], help="paper = the published networks; "
                   "lite = the lighter family of handcam.models.lite with the same interfaces")
    p.add_argument("--amp", default="auto", choices=["auto", "off", "bf16", "fp16"], help="mixed precision on CUDA "
                   "(auto = bf16 where supported, else fp16 with a GradScaler); always off on CPU")
    p.add_argument("--log-every", type=int, default=20, help="TensorBoard / log.jsonl interval in iterations")
    p.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
    g = p.add_argument_group("extra augmentations (off in the release recipe)")
    g.add_argument("--color-jitter", type=float, default=0.0, help="max relative brightness/contrast/saturation change")
    g.add_argument("--blur", type=float, default=0.0, help="probability of a Gaussian blur")
    g.add_argument("--noise", type=float, default=0.0, help="std of additive pixel noise (0-255 units)")
    g.add_argument("--flip", type=float, default=0.0, help="probability of a horizontal mirror (hand side and mask "
                   "labels swap accordingly)")
    return p


def extras_from_args(args):
    from .augment import Extras

    return Extras(color_jitter=args.color_jitter, blur=args.blur, noise=args.noise, flip=args.flip)


class _Arch:
    """The network classes of one architecture family; a clear error for a missing one."""

    def __init__(self, module, arch: str):
        self._module, self._arch = module, arch

    def __getattr__(self, name):
        try:
            return getattr(self._module, name)
        except AttributeError:
            raise SystemExit(f"--arch {self._arch}: {self._module.__name__} has no {name} network") from None


def import_arch(arch: str):
    """The networks of ``arch``: handcam.models (paper) or handcam.models.lite (same interfaces)."""
    if arch == "paper":
        import handcam.models as m

        return _Arch(m, arch)
    if arch != "lite":
        raise SystemExit(f"--arch {arch}: unknown architecture; use paper or lite")
    import handcam.models.lite as m

    return _Arch(m, arch)


# ---------------------------------------------------------------- state
def _rng_state() -> dict:
    np_state = np.random.get_state()
    py_state = random.getstate()
    st = {
        "torch": torch.get_rng_state(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "python": [int(py_state[0]), list(py_state[1]), py_state[2]],
    }
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def _set_rng_state(st: dict) -> None:
    torch.set_rng_state(st["torch"])
    n = st["numpy"]
    np.random.set_state((n[0], n[1].numpy().astype(np.uint32), n[2], n[3], n[4]))
    p = st["python"]
    random.setstate((p[0], tuple(p[1]), p[2]))
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


def load_checkpoint(path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def _unwrap(model):
    return model.module if hasattr(model, "module") else model


def load_init_weights(path: str) -> dict:
    """State dicts by network key from a handcam weights file or a training checkpoint."""
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(blob, dict) and "export" in blob:  # our training checkpoint
        return blob["export"]
    from handcam.weights import load_weights

    return load_weights(path)[0]


# ---------------------------------------------------------------- distributed / device
@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def _setup(args) -> tuple[Dist, torch.device]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    want_cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available")
    d = Dist()
    if world > 1:
        d = Dist(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
        if not dist.is_initialized():
            dist.init_process_group("nccl" if want_cuda else "gloo")
    if want_cuda:
        torch.cuda.set_device(d.local_rank)
        return d, torch.device("cuda", d.local_rank)
    return d, torch.device("cpu")


def _amp(args, device) -> tuple[torch.dtype | None, bool]:
    if device.type != "cuda" or args.amp == "off":
        return None, False
    if args.amp == "bf16" or (args.amp == "auto" and torch.cuda.is_bf16_supported()):
        return torch.bfloat16, False
    return torch.float16, True


# ---------------------------------------------------------------- the loop
def run(task, args) -> list[tuple[int, float]]:
    """Train ``task`` as configured by ``args``; returns [(iteration, loss)] of this run's steps."""
    dd, device = _setup(args)
    out = Path(args.out)
    if dd.main:
        out.mkdir(parents=True, exist_ok=True)
    recipe = task.recipe
    lrs = [args.lr * v / recipe.lrs[0] for v in recipe.lrs]
    if len(args.lr_steps) != len(lrs) - 1:
        raise SystemExit(f"--lr-steps needs {len(lrs) - 1} values for the schedule {recipe.describe_schedule()}")

    seed = args.seed
    torch.manual_seed(seed + dd.rank)
    np.random.seed((seed + dd.rank) % 2**32)
    random.seed(seed + dd.rank)

    model = task.build_model(args).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lrs[0])
    amp_dtype, use_scaler = _amp(args, device)
    scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)

    start = 0
    ckpt_path = out / CHECKPOINT
    if args.resume:
        if not ckpt_path.is_file():
            raise SystemExit(f"--resume: no checkpoint at {ckpt_path}")
        ck = load_checkpoint(ckpt_path)
        if ck.get("task") != recipe.name:
            raise SystemExit(f"--resume: {ckpt_path} is a {ck.get('task')} checkpoint, not {recipe.name}")
        model.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
        if ck.get("scaler"):
            scaler.load_state_dict(ck["scaler"])
        start = int(ck["iteration"])
        rngs = ck["rng"]
        if len(rngs) != dd.world:
            log.warning("checkpoint has RNG states of %d processes, now %d: dropout noise will differ", len(rngs), dd.world)
        _set_rng_state(rngs[dd.rank % len(rngs)])
        log.info("resumed %s at iteration %d from %s", recipe.name, start, ckpt_path)
    elif args.init:
        task.load_init(model, load_init_weights(args.init))
        log.info("initialised from %s", args.init)

    if dd.world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        model = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)

    dataset = task.dataset(args)
    sampler = SeededBatchSampler(len(dataset), args.batch_size, seed, start, args.iterations, dd.rank, dd.world)
    loader = DataLoader(
        dataset, batch_sampler=sampler, num_workers=args.workers, pin_memory=device.type == "cuda",
        worker_init_fn=_worker_init, generator=torch.Generator().manual_seed(seed),
        persistent_workers=False, prefetch_factor=4 if args.workers > 0 else None,
    )

    writer = None
    if dd.main:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(out / "tb"), purge_step=start if args.resume else None)
    bar = None
    if dd.main and not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=args.iterations, initial=start, desc=recipe.name, unit="it", dynamic_ncols=True)

    model.train()
    history: list[tuple[int, float]] = []
    t_last, n_last = time.perf_counter(), 0
    ips = 0.0
    it = start
    for batch in loader:
        lr = lr_at(it, lrs, args.lr_steps)
        for g in optimizer.param_groups:
            g["lr"] = lr
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        ctx = torch.autocast(device.type, dtype=amp_dtype) if amp_dtype is not None else contextlib.nullcontext()
        with ctx:
            loss = task.loss(model, batch, args)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        it += 1
        loss_v = float(loss.detach())
        if not math.isfinite(loss_v):
            raise FloatingPointError(f"{recipe.name}: loss is {loss_v} at iteration {it}")
        history.append((it, loss_v))
        n_last += args.batch_size * dd.world
        now = time.perf_counter()
        if now - t_last > 2.0 or it == args.iterations:
            ips = n_last / (now - t_last)
            t_last, n_last = now, 0
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss_v:.4g}", img_s=f"{ips:.1f}", lr=f"{lr:g}")
        if writer is not None and (it % args.log_every == 0 or it == args.iterations):
            writer.add_scalar("loss", loss_v, it)
            writer.add_scalar("lr", lr, it)
            writer.add_scalar("images_per_s", ips, it)
            with open(out / "log.jsonl", "a") as f:
                f.write(json.dumps({"iteration": it, "loss": loss_v, "lr": lr, "images_per_s": ips}) + "\n")
        if it % args.checkpoint_every == 0 or it == args.iterations:
            _checkpoint(task, model, optimizer, scaler, it, args, dd, ckpt_path)
    if bar is not None:
        bar.close()
    if writer is not None:
        writer.close()
    if dd.main:
        export(task, model, args, it)
    if dd.world > 1:
        dist.barrier()
    return history


def _worker_init(_):
    import cv2

    cv2.setNumThreads(0)  # workers are the parallelism; OpenCV threads would oversubscribe
    torch.set_num_threads(1)


def _checkpoint(task, model, optimizer, scaler, it, args, dd: Dist, path: Path) -> None:
    rng = _rng_state()
    rngs = [rng]
    if dd.world > 1:
        rngs = [None] * dd.world
        dist.all_gather_object(rngs, rng)
    if not dd.main:
        return
    m = _unwrap(model)
    atomic_save({
        "task": task.recipe.name,
        "iteration": it,
        "model": m.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict() if scaler.is_enabled() else None,
        "rng": rngs,
        "export": task.export(m),
        "args": {k: (v if isinstance(v, (int, float, str, bool)) or v is None else str(v)) for k, v in vars(args).items()},
    }, path)
    log.info("checkpoint at iteration %d -> %s", it, path)


def export(task, model, args, it) -> Path:
    """Write RUN_DIR/weights.pt with handcam.weights.save_weights (what the app loads)."""
    from handcam.weights import save_weights

    meta = {"trained_by": f"training.{task.recipe.name}", "iterations": it, "data": str(args.data),
            "seed": args.seed, "batch_size": args.batch_size, "lr": args.lr}
    path = Path(args.out) / WEIGHTS
    save_weights(path, task.export(_unwrap(model)), meta, architecture=args.arch)
    log.info("weights -> %s", path)
    return path


def main(task, description: str, argv=None) -> list[tuple[int, float]]:
    parser = build_parser(task.recipe, description)
    if hasattr(task, "add_args"):
        task.add_args(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return run(task, args)
