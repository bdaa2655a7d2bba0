"""``python -m training.train_lifting --data RHD_DIR --out RUN_DIR``: Train PosePrior + ViewPoint on RHD ground-truth scoremaps with the release's recipe (80k iterations, Adam, batch 8, lr 1e-5 -> 1e-6 @60k, extra crop offset noise 10 px and scale U(1, 1.2), loss MSE(canonical) + MSE(rotation))."""
from __future__ import annotations

import sys

from .loop import main
from .tasks import LiftingTask

DESCRIPTION = "Train PosePrior + ViewPoint on RHD ground-truth scoremaps with the release's recipe (80k iterations, Adam, batch 8, lr 1e-5 -> 1e-6 @60k, extra crop offset noise 10 px and scale U(1, 1.2), loss MSE(canonical) + MSE(rotation))."


def cli(argv=None) -> int:
    main(LiftingTask(), DESCRIPTION, argv)
    return 0


if __name__ == "__main__":
    sys.exit(cli())
