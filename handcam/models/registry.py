"""The one registry of network families: which networks each has, at which sizes, with which weights.

Everything that needs to know a family asks here: the estimator (input and crop sizes, BatchNorm
folding, the uint8 frame resize), weights loading and saving, the ONNX export, training (which
classes to build, at which frame and crop size) and the benchmarks.

    arch = get("lite")
    nets = arch.build(seed=0)            # {"handsegnet": ..., "posenet": ..., "poseprior": ..., "viewpoint": ...}
    arch.input_size, arch.crop_size, arch.scoremap_size
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

import torch

#: The network keys every family has (the keys of weight files), in pipeline order, and the class
#: name each family's module gives that network.
NETWORK_KEYS = ("handsegnet", "posenet", "poseprior", "viewpoint")
CLASS_NAMES = {"handsegnet": "HandSegNet", "posenet": "PoseNet", "poseprior": "PosePrior", "viewpoint": "ViewPoint"}


@dataclass(frozen=True)
class Architecture:
    """One network family.

    name:            'paper' or 'lite' (stored in weight files as ``architecture``)
    module:          the module that defines the family's four classes (``CLASS_NAMES``)
    input_size:      (H, W) of the HandSegNet frame in 'faithful' mode
    crop_size:       side of PoseNet's square input crop
    scoremap_size:   side of the lifting networks' input scoremaps (PoseNet's maps are resized to it when
                     their own side differs: the lite PoseNet's are crop_size / 4)
    posenet_stages:  number of scoremap stages PoseNet returns (the last is the prediction)
    official:        whether the authors' TF pickles convert onto it (``handcam.weights.official``)
    uint8_resize:    resize frames to the network input as uint8 on a CPU (10x cheaper than the
                     float resize, rounds the input to 1/255); the paper family keeps the float resize
                     the TF-oracle parity tests pin down
    probe_layout:    time both memory layouts once on a CPU and keep the faster (cheap for small nets)
    subpixel_keypoints: keypoints from the scoremaps at their own resolution with sub-pixel refinement
                     (``geometry.scoremap_peaks``) instead of the release's argmax of the maps upsampled to
                     the crop (the paper family keeps the release's path, which the parity tests pin down)
    crop_from_frame: cut PoseNet's crop from the full-resolution frame in 'faithful' mode too (one resampling
                     of the camera's pixels, from the uint8 frame on a CPU) instead of from the squashed
                     network input ('aspect' mode always does)
    max_crop_scale:  the largest crop scale (crop pixels per network-input pixel, for a 256 crop): the smallest
                     crop is 256 / max_crop_scale network-input pixels wide (the release: 5, 51.2 of the
                     paper's 320; the lite family's 160-wide input needs a larger one for small hands)
    description:     one line for ``--help`` and model cards
    bundled:         file name of this family's weights shipped in the repository's ``weights/`` folder
                     (found by the default search after the official weights), or None
    """

    name: str
    module: str
    input_size: tuple[int, int]
    crop_size: int
    scoremap_size: int
    posenet_stages: int
    official: bool
    uint8_resize: bool
    probe_layout: bool
    description: str
    subpixel_keypoints: bool = False
    crop_from_frame: bool = False
    bundled: str | None = None
    max_crop_scale: float = 5.0

    def classes(self) -> dict:
        """Network key -> class (imported on first use: the lite family needs torchvision)."""
        module = importlib.import_module(self.module)
        return {k: getattr(module, CLASS_NAMES[k]) for k in NETWORK_KEYS}

    def network_class(self, key: str):
        if key not in NETWORK_KEYS:
            raise ValueError(f"unknown network {key!r}; the networks are {NETWORK_KEYS}")
        return self.classes()[key]

    def build(self, keys=NETWORK_KEYS, seed: int | None = None) -> dict:
        """Freshly initialised networks (PyTorch default init; seeded without touching the global RNG)."""
        classes = self.classes()
        if seed is None:
            return {k: classes[k]() for k in keys}
        state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        try:
            return {k: classes[k]() for k in keys}
        finally:
            torch.random.set_rng_state(state)

    @property
    def downscale(self) -> float:
        """This family's frame size relative to the paper's 240x320 (training shrinks frames by it)."""
        return self.input_size[1] / PAPER.input_size[1]


PAPER = Architecture(
    name="paper", module="handcam.models", input_size=(240, 320), crop_size=256, scoremap_size=32,
    posenet_stages=3, official=True, uint8_resize=False, probe_layout=False,
    description="the paper's networks (VGG-style, 35 M parameters), exact to the TF release")
LITE = Architecture(
    name="lite", module="handcam.models.lite", input_size=(120, 160), crop_size=96, scoremap_size=32,
    posenet_stages=2, official=False, uint8_resize=True, probe_layout=True,
    description="EfficientNet-Lite0 trunks, a left/right hand mask, the same interfaces; real time on a CPU",
    bundled="handcam-lite.pt", subpixel_keypoints=True,
    crop_from_frame=True, max_crop_scale=20.0)

ARCHITECTURES: dict[str, Architecture] = {a.name: a for a in (PAPER, LITE)}


def get(name: str) -> Architecture:
    """The family called ``name``; a ValueError naming the choices otherwise."""
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; use one of {tuple(ARCHITECTURES)}") from None


def segmentation_classes(handsegnet) -> tuple[str, ...]:
    """The classes a HandSegNet (class or instance) predicts: ('background', 'hand') or
    ('background', 'left', 'right') (a class's ``CLASSES``; the paper's two otherwise)."""
    cls = handsegnet if isinstance(handsegnet, type) else type(handsegnet)
    return tuple(getattr(cls, "CLASSES", ("background", "hand")))


def predicts_sides(handsegnet) -> bool:
    """Whether a HandSegNet's mask tells left from right hands (so ``hand_side="auto"`` can read it)."""
    return segmentation_classes(handsegnet) == ("background", "left", "right")


def of_networks(networks: dict) -> Architecture:
    """The family a dict of network modules belongs to (by the class's ``ARCHITECTURE``; paper otherwise)."""
    return get(getattr(type(networks["posenet"]), "ARCHITECTURE", PAPER.name))
