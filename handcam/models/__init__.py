"""The paper's four networks, one file each, plus their shared layers."""
from .handsegnet import HandSegNet
from .poseprior import PosePrior
from .posenet import PoseNet
from .viewpoint import ViewPoint

#: Network key (as used in weight files) -> class.
NETWORKS = {
    "handsegnet": HandSegNet,
    "posenet": PoseNet,
    "poseprior": PosePrior,
    "viewpoint": ViewPoint,
}

__all__ = ["HandSegNet", "PoseNet", "PosePrior", "ViewPoint", "NETWORKS"]
