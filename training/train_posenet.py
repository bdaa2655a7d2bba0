"""``python -m training.train_posenet --data RHD_DIR --out RUN_DIR``: Train PoseNet on RHD hand crops with the release's recipe (30k iterations, Adam, batch 8, lr 1e-4 -> 1e-5 @10k -> 1e-6 @20k, crops around keypoint 12 with centre noise 20 px and keypoint noise 2.5 px, Gaussian targets sigma 25, loss over all three stages)."""
from __future__ import annotations

import sys

from .loop import main
from .tasks import PoseNetTask

DESCRIPTION = "Train PoseNet on RHD hand crops with the release's recipe (30k iterations, Adam, batch 8, lr 1e-4 -> 1e-5 @10k -> 1e-6 @20k, crops around keypoint 12 with centre noise 20 px and keypoint noise 2.5 px, Gaussian targets sigma 25, loss over all three stages)."


def cli(argv=None) -> int:
    main(PoseNetTask(), DESCRIPTION, argv)
    return 0


if __name__ == "__main__":
    sys.exit(cli())
