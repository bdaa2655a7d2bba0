"""``python -m training.train_handsegnet --data RHD_DIR --out RUN_DIR``: Train HandSegNet on RHD with the release's recipe (40k iterations, Adam, batch 8, lr 1e-5 -> 1e-6 @20k -> 1e-7 @30k, random 256x256 crops + hue 0.1, 2-class softmax cross-entropy)."""
from __future__ import annotations

import sys

from .loop import main
from .tasks import HandSegTask

DESCRIPTION = "Train HandSegNet on RHD with the release's recipe (40k iterations, Adam, batch 8, lr 1e-5 -> 1e-6 @20k -> 1e-7 @30k, random 256x256 crops + hue 0.1, 2-class softmax cross-entropy)."


def cli(argv=None) -> int:
    main(HandSegTask(), DESCRIPTION, argv)
    return 0


if __name__ == "__main__":
    sys.exit(cli())
