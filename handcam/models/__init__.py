"""The networks, one file each, plus their shared layers; ``registry`` says which family has which."""
from . import registry
from .handsegnet import HandSegNet
from .posenet import PoseNet
from .poseprior import PosePrior
from .viewpoint import ViewPoint

#: Network key (as used in weight files) -> class, for the paper's family (``registry.PAPER``).
NETWORKS = registry.PAPER.classes()

__all__ = ["HandSegNet", "PoseNet", "PosePrior", "ViewPoint", "NETWORKS", "registry"]
