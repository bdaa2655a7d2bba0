"""Helpers shared by the core library's tests (not a test module): a segmentation network that finds
``conftest.synthetic_frame``'s skin-coloured blob exactly, estimators built on it, and the official
pickle dicts of an estimator's networks."""
from __future__ import annotations

import pickle

import numpy as np
import torch
from torch import nn

from handcam.estimator import HandPoseEstimator
from handcam.models import registry
from handcam.official import DEFAULT_HANDSEGNET, DEFAULT_POSENET, to_official
from handcam.settings import RuntimeOptions

#: synthetic_frame's blob colour, normalised like the network input (rgb / 255 - 0.5).
BLOB_RGB = torch.tensor([220.0, 170.0, 140.0]) / 255.0 - 0.5


class BlobSegNet(nn.Module):
    """A stand-in HandSegNet: hand logit ``5 - 200 * |rgb - blob colour|^2`` (the blob of
    ``synthetic_frame`` is hand, its gradient background is not), background logit 0."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d2 = (x - BLOB_RGB.to(x)[None, :, None, None]).square().sum(1, keepdim=True)
        fg = 5.0 - 200.0 * d2
        return torch.cat([torch.zeros_like(fg), fg], 1)


class SidedBlobSegNet(BlobSegNet):
    """``BlobSegNet`` with sides, like the lite HandSegNet: the blob is a hand of side ``side``
    (logits: background 0, the other side -10)."""

    CLASSES = ("background", "left", "right")

    def __init__(self, side: str = "right"):
        super().__init__()
        self.side = side

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bg, fg = super().forward(x).unbind(1)
        other = torch.full_like(fg, -10.0)
        hands = (other, fg) if self.side == "right" else (fg, other)
        return torch.stack([bg, *hands], 1)


def blob_networks(arch: str = "lite", seed: int = 0, side: str | None = None) -> dict:
    """The family's random networks with ``BlobSegNet`` as the segmentation network (``SidedBlobSegNet``
    of that side when ``side`` is given)."""
    nets = registry.get(arch).build(seed=seed)
    nets["handsegnet"] = BlobSegNet() if side is None else SidedBlobSegNet(side)
    return nets


def blob_estimator(arch: str = "lite", seed: int = 0, side: str | None = None, **runtime) -> HandPoseEstimator:
    """An estimator (torch backend unless told) whose masks are synthetic_frame's blob (of ``side``:
    a 3-class segmentation network)."""
    runtime.setdefault("backend", "torch")
    return HandPoseEstimator(blob_networks(arch, seed, side), architecture=arch, device="cpu",
                             runtime=RuntimeOptions(**runtime))


def official_dicts(networks) -> tuple[dict, dict]:
    """Networks exported to the two official pickle dicts (with an optimiser slot and the step counter
    that ride along in the originals)."""
    flat = to_official({k: n.state_dict() for k, n in networks.items()})
    hs = {k: v for k, v in flat.items() if k.startswith("HandSegNet/")}
    pn = {k: v for k, v in flat.items() if not k.startswith("HandSegNet/")}
    hs["HandSegNet/conv1_1/weights/Adam"] = np.zeros(3, np.float32)
    hs["global_step"] = np.array(40000)
    return hs, pn


def write_pickles(d, hs, pn):
    """The two dicts as protocol-2 pickles under their official names in folder ``d``."""
    paths = []
    for name, data in ((DEFAULT_HANDSEGNET, hs), (DEFAULT_POSENET, pn)):
        p = d / name
        with open(p, "wb") as f:
            pickle.dump(data, f, protocol=2)
        paths.append(p)
    return paths
