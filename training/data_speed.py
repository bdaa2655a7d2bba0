"""``python -m training.data_speed --data RHD_DIR --task posenet --workers 4``: images/s of the data
pipeline alone (decode, augment, collate, pinning), to check it can keep a GPU busy."""
from __future__ import annotations

import argparse
import sys
import time

from torch.utils.data import DataLoader

from .config import TrainConfig
from .data import SeededBatchSampler
from .errors import cli_main
from .tasks import TASKS


def measure(task, data: str, workers: int, batches: int, batch_size: int = 8, pin: bool = False) -> float:
    """Images per second over ``batches`` batches after one warm-up batch (``task``'s dataset with the
    release recipe's defaults)."""
    ds = task.dataset(TrainConfig.for_task(task, data, "unused"))
    sampler = SeededBatchSampler(len(ds), batch_size, 0, 0, batches + 1)
    loader = DataLoader(ds, batch_sampler=sampler, num_workers=workers, pin_memory=pin,
                        prefetch_factor=4 if workers else None)
    it = iter(loader)
    next(it)
    t0 = time.perf_counter()
    n = sum(len(next(iter(b.values()))) for b in it)
    return n / (time.perf_counter() - t0)


@cli_main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.data_speed", description=__doc__,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", required=True, help="RHD top folder")
    p.add_argument("--task", choices=list(TASKS), nargs="+", default=list(TASKS), help="the tasks' datasets to time")
    p.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="DataLoader worker counts to try")
    p.add_argument("--batches", type=int, default=20, help="batches timed per setting (after one warm-up batch)")
    p.add_argument("--batch-size", type=int, default=8, help="samples per batch")
    p.add_argument("--pin", action="store_true", help="pin memory (as training on CUDA does)")
    a = p.parse_args(argv)
    for t in a.task:
        for w in a.workers:
            ips = measure(TASKS[t](), a.data, w, a.batches, a.batch_size, a.pin)
            print(f"{t:<11} workers={w:<2} {ips:8.1f} images/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
