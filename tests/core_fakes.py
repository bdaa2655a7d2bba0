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
from handcam.settings import RuntimeOptions
from handcam.stages.crop import TRACK_CENTER, TRACK_CROP_FACTOR
from handcam.weights.official import DEFAULT_HANDSEGNET, DEFAULT_POSENET, to_official

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


#: The colours of ``two_hand_frame``'s hands: a left hand (synthetic_frame's blob colour) and a right hand.
LEFT_COLOR, RIGHT_COLOR = (220, 170, 140), (120, 160, 230)


class TwoSidedBlobSegNet(nn.Module):
    """A stand-in 3-class HandSegNet for ``two_hand_frame``: pixels of ``LEFT_COLOR`` are a left hand, of
    ``RIGHT_COLOR`` a right hand (logit ``5 - 200 * |rgb - colour|^2`` each), background logit 0."""

    CLASSES = ("background", "left", "right")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        def logit(color):
            c = torch.tensor(color, dtype=x.dtype, device=x.device) / 255.0 - 0.5
            return 5.0 - 200.0 * (x - c[None, :, None, None]).square().sum(1)

        left, right = logit(LEFT_COLOR), logit(RIGHT_COLOR)
        return torch.stack([torch.zeros_like(left), left, right], 1)


def two_hand_frame(h: int = 240, w: int = 320, left=(0.5, 0.3), right=(0.5, 0.7), size=0.12,
                   seed: int = 0) -> np.ndarray:
    """A deterministic RGB uint8 frame like ``synthetic_frame`` with two hand-sized ellipses: a left hand
    (``LEFT_COLOR``) centred at ``left`` and a right hand (``RIGHT_COLOR``) at ``right`` (row, col fractions
    of the frame; None leaves that hand out), each ``size`` of the frame's height across (times 1.6 tall)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 255 / max(w - 1, 1), yy * 255 / max(h - 1, 1), np.full((h, w), 90.0)], -1)
    for where, color in ((left, LEFT_COLOR), (right, RIGHT_COLOR)):
        if where is None:
            continue
        cy, cx = where[0] * h, where[1] * w
        img[((yy - cy) / (1.6 * size * h)) ** 2 + ((xx - cx) / (size * h)) ** 2 < 1] = color
    return np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)


class RingPoseNet(nn.Module):
    """A stand-in PoseNet whose keypoint 12 (the tracked crop's centre) sits at the crop's centre and the others
    on a ring around it that a tracked crop (``box_from_keypoints``) fits exactly: the crop keeps its size.
    Each map peaks at 1 when a tenth of the crop or more shows a ``two_hand_frame`` hand colour
    (confident), lower in proportion (a crop that lost its hand is not). ``stride``: crop pixels per
    scoremap pixel (lite 4, paper 8). ``right_spread``: the ring's radius is this many times as large in
    crops where the right hand's colour outnumbers the left's (below 1: those keypoints fit a smaller crop);
    ``graded``: each map peaks at the share of the crop the hand colours cover (another crop of the same hand:
    other maps)."""

    def __init__(self, stride: int = 4, right_spread: float = 1.0, graded: bool = False):
        super().__init__()
        self.stride = stride
        self.right_spread = right_spread
        self.graded = graded

    def forward(self, x: torch.Tensor):
        s = x.shape[-1] // self.stride
        angle = torch.arange(21, dtype=torch.float32) * (2 * np.pi / 20)
        d2 = torch.stack([(x - (torch.tensor(c, dtype=x.dtype) / 255.0 - 0.5)[None, :, None, None]).square().sum(1)
                          for c in (LEFT_COLOR, RIGHT_COLOR)])
        left, right = (d2 < 0.02).float().flatten(2).mean(2)
        spread = torch.where(right > left, self.right_spread, 1.0)
        radius = torch.full((21,), s / (2 * TRACK_CROP_FACTOR))
        radius[TRACK_CENTER] = 0.0
        radius = radius[None] * spread[:, None]                                  # B x 21
        centre = (s - 1) / 2
        rows, cols = centre + radius * torch.sin(angle), centre + radius * torch.cos(angle)
        grid = torch.arange(s, dtype=torch.float32)
        maps = torch.exp(-((grid[None, None, :, None] - rows[..., None, None]) ** 2 +
                           (grid[None, None, None, :] - cols[..., None, None]) ** 2) / 2.0)
        maps = maps / maps.flatten(2).amax(2)[..., None, None]
        share = (d2.amin(0) < 0.02).float().flatten(1).mean(1)
        seen = share if self.graded else (10.0 * share).clamp(max=1.0)
        maps = maps * seen[:, None, None, None]
        return [maps.to(x.dtype), maps.to(x.dtype)]


def two_hand_estimator(arch: str = "lite", seed: int = 0, ring_keypoints: bool = False, right_spread: float = 1.0,
                       metadata: dict | None = None, graded: bool = False, **runtime) -> HandPoseEstimator:
    """An estimator (torch backend unless told) whose segmentation finds ``two_hand_frame``'s hands and sides
    (and, with ``ring_keypoints``, whose PoseNet is ``RingPoseNet``: steady, confident keypoints; its
    ``right_spread`` and ``graded``), with weights ``metadata``."""
    runtime.setdefault("backend", "torch")
    nets = registry.get(arch).build(seed=seed)
    nets["handsegnet"] = TwoSidedBlobSegNet()
    if ring_keypoints:
        nets["posenet"] = RingPoseNet(4 if arch == "lite" else 8, right_spread, graded)
    return HandPoseEstimator(nets, architecture=arch, device="cpu", runtime=RuntimeOptions(**runtime),
                             metadata=metadata)


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
