"""The training tasks (network, data, loss, export) that :mod:`training.loop` runs, and their registry.

A task provides: ``name``, ``recipe`` (:class:`Recipe`), ``description`` (one paragraph for
``--help``), ``Options`` (a frozen dataclass of the task's own options, one field per flag of
``add_args(parser)``), ``build_model(config)``, ``dataset(config)``, ``loss(model, batch, config)``
(``config``: a :class:`training.config.TrainConfig` whose ``options`` is a ``task.Options``),
``export(model)`` -> {weights key: state dict} and ``load_init(model, state_dicts)``. The network
classes, frame and crop sizes of the architecture come from :mod:`handcam.models.registry`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from handcam.errors import WeightsError
from handcam.geometry import rodrigues
from handcam.models import registry
from handcam.models.efficientnet import EfficientNetLite0
from handcam.stages.lift import lifting_input

from . import augment as A
from . import mixed as M
from .crops import HandCrops
from .data import CropDataset, HandSegDataset
from .errors import TrainingError
from .labels import read_boxes
from .targets import (
    bone_proportion_loss,
    gaussian_scoremaps,
    lifting_loss,
    pooled_gaussian_scoremaps,
    posenet_loss,
    segmentation_loss,
)


@dataclass(frozen=True)
class Recipe:
    """A network's release training recipe: Adam, piecewise-constant learning rate."""

    name: str
    iterations: int
    lrs: tuple[float, ...]
    lr_steps: tuple[int, ...]
    batch_size: int = 8
    checkpoint_every: int = 5000

    def describe_schedule(self) -> str:
        parts = [f"{self.lrs[0]:g}"] + [f"{v:g}@{s // 1000}k" for v, s in zip(self.lrs[1:], self.lr_steps)]
        return " -> ".join(parts)

    def summary(self) -> str:
        return (f"{self.iterations // 1000}k iterations, Adam, batch {self.batch_size}, "
                f"lr {self.describe_schedule()}")


def lr_at(iteration: int, lrs, steps) -> float:
    """Piecewise constant: ``lrs[k]`` where k = number of ``steps`` <= iteration (0-based iterations)."""
    k = sum(1 for s in steps if iteration >= s)
    return float(lrs[k])


def network_classes(arch_name: str) -> dict:
    """Network key -> class of the ``arch_name`` family (a clear error when it cannot be imported)."""
    arch = registry.get(arch_name)
    try:
        return arch.classes()
    except ImportError as e:
        raise TrainingError(f"--arch {arch.name}: cannot import {arch.module} ({e}); install what it needs "
                            f"or use --arch paper") from None


def classes_of(arch_name: str) -> int:
    """How many classes the family's HandSegNet predicts (2: background / hand; 3: background / left / right)."""
    return len(registry.segmentation_classes(network_classes(arch_name)["handsegnet"]))


def mixture(config, with_hand_free: bool) -> M.Mixture:
    """``config.data`` (an RHD-layout folder) + its teacher-labelled and hand-free sources, and
    ``config.composite`` composites of their hands on the hand-free photos, wallpapers and procedural
    backgrounds."""
    renders = M.RenderFrames(config.data, "training")
    boxes = {}
    for path in config.real_boxes:
        try:
            boxes.update(read_boxes(path))
        except ValueError as e:
            raise TrainingError(f"--real-boxes: {e}") from None
    real = [M.TeacherFrames(p, boxes or None) for p in config.real]
    hand_free = [M.HandFreeFrames(p) for p in config.hand_free]
    sources = [(renders, 1)] + [(s, config.real_repeat) for s in real]
    if with_hand_free:
        sources += [(s, config.hand_free_repeat) for s in hand_free]
    if config.composite:
        from .composite import CompositeFrames, CompositeOptions
        from .synth.backgrounds import BackgroundBank, find_photos

        photos = BackgroundBank(find_photos()).images()
        sources.append((CompositeFrames([(s, 1.0) for s in [renders, *real]], hand_free,
                                        CompositeOptions(frames=config.composite), seed=config.seed,
                                        extra_photos=photos), 1))
    return M.Mixture(sources)


class Task:
    """What the three tasks share: their networks are exported and initialised by weights key."""

    name: str
    recipe: Recipe
    title: str
    notes: str
    #: The task's own options (frozen dataclass; its fields are the dests of ``add_args``'s flags).
    Options: type

    @property
    def description(self) -> str:
        return f"Train {self.title} on RHD with the release's recipe ({self.recipe.summary()}, {self.notes})."

    def parts(self, model: nn.Module) -> dict[str, nn.Module]:
        """Weights key -> the (sub)module stored under it."""
        return {self.name: model}

    def export(self, model: nn.Module) -> dict:
        return {k: m.state_dict() for k, m in self.parts(model).items()}

    def init_imagenet(self, model: nn.Module) -> None:
        """``--init imagenet``: every network with an EfficientNet-Lite0 ``backbone`` gets ImageNet's weights."""
        from .imagenet import load_imagenet

        found = False
        for m in self.parts(model).values():
            backbone = getattr(m, "backbone", None)
            if isinstance(backbone, EfficientNetLite0):
                load_imagenet(backbone)
                found = True
        if not found:
            raise TrainingError(f"--init imagenet: {self.name} of this family has no EfficientNet-Lite0 backbone "
                                f"(the lite family's HandSegNet and PoseNet have one)")

    def load_init(self, model: nn.Module, state_dicts: dict) -> None:
        for key, m in self.parts(model).items():
            if key not in state_dicts:
                raise WeightsError(f"--init: the file has no '{key}' network (it has {sorted(state_dicts)})")
            m.load_state_dict(state_dicts[key])


@dataclass(frozen=True)
class HandSegOptions:
    """HandSegNet's options: random crop side (None: 256 scaled with the network's frame size), max hue shift."""

    crop_size: int | None = None
    hue: float = 0.1


class HandSegTask(Task):
    """HandSegNet: random 256x256 crops + hue 0.1, per-pixel 2-class softmax cross-entropy."""

    name = "handsegnet"
    recipe = Recipe(name, 40_000, (1e-5, 1e-6, 1e-7), (20_000, 30_000))
    title = "HandSegNet"
    notes = "random 256x256 crops + hue 0.1, 2-class softmax cross-entropy"
    Options = HandSegOptions

    @staticmethod
    def add_args(p):
        p.add_argument("--crop-size", type=int, default=None, help="side of the random training crop (release: 256; "
                       "a multiple of 8; default 256, scaled with the network's frame size for lite: 128)")
        p.add_argument("--hue", type=float, default=0.1, help="max random hue shift, fraction of the hue circle")

    def build_model(self, config):
        return network_classes(config.arch)["handsegnet"]()

    @staticmethod
    def downscale(config) -> float:
        """Frames are shrunk to the network's own frame size (lite runs at 120x160, the paper at 240x320)."""
        return registry.get(config.arch).downscale

    def dataset(self, config):
        ds = self.downscale(config)
        opts = config.options
        crop = opts.crop_size or int(round(256 * ds / 8)) * 8
        classes = classes_of(config.arch)
        if config.mixed or classes != 2:
            return M.SegmentationFrames(mixture(config, with_hand_free=True), registry.get(config.arch).input_size[1],
                                        crop, classes=classes, geometric=config.geometric or M.Geometric(),
                                        hue=opts.hue, extras=config.extras)
        return HandSegDataset(config.data, "training", crop_size=crop, hue=opts.hue, downscale=ds,
                              extras=config.extras)

    def loss(self, model, batch, config):
        return segmentation_loss(model(batch["image"]), batch["hand_mask"])


@dataclass(frozen=True)
class PoseNetOptions:
    """PoseNet's options: hand crop side (None: the network's input size), scoremap target width in crop
    pixels (None: 25 px on a 256 crop, scaled with the crop)."""

    crop_size: int | None = None
    sigma: float | None = None


class PoseNetTask(Task):
    """PoseNet: keypoint-centred crops, Gaussian targets sigma 25, the release's loss on all 3 stages."""

    name = "posenet"
    recipe = Recipe(name, 30_000, (1e-4, 1e-5, 1e-6), (10_000, 20_000))
    title = "PoseNet"
    notes = ("crops around keypoint 12 with centre noise 20 px and keypoint noise 2.5 px, Gaussian targets "
             "sigma 25, loss over all three stages")
    Options = PoseNetOptions

    @staticmethod
    def add_args(p):
        p.add_argument("--crop-size", type=int, default=None, help="hand crop side (default: the network's input "
                       "size, 256 for the paper's PoseNet as in the release, 96 for lite)")
        p.add_argument("--sigma", type=float, default=None, help="scoremap target width in crop pixels, "
                       "exp(-d^2/sigma^2) (default: 25 px on a 256 crop, scaled with --crop-size)")

    @staticmethod
    def crop_size(config) -> int:
        return config.options.crop_size or registry.get(config.arch).crop_size

    def sigma(self, config) -> float:
        sigma = config.options.sigma
        return sigma if sigma is not None else 25.0 * self.crop_size(config) / 256

    def build_model(self, config):
        return network_classes(config.arch)["posenet"]()

    def dataset(self, config):
        if config.mixed:
            return HandCrops(mixture(config, with_hand_free=False), registry.get(config.arch).input_size[1],
                               self.crop_size(config), geometric=config.geometric or M.Geometric(),
                               extras=config.extras, box_jitter=config.box_jitter)
        return CropDataset(config.data, "training", noise=A.POSENET_NOISE, crop_size=self.crop_size(config),
                           with_image=True, extras=config.extras)

    def loss(self, model, batch, config):
        stages = model(batch["image"])
        size = tuple(batch["image"].shape[-2:])
        target = gaussian_scoremaps(batch["uv"], batch["vis"], size, self.sigma(config))
        return posenet_loss(stages, target, batch["vis"])


class LiftingPair(nn.Module):
    """PosePrior + ViewPoint trained together: (scoremap, hand_side) -> (canonical xyz, rotation)."""

    def __init__(self, classes: dict):
        super().__init__()
        self.poseprior = classes["poseprior"]()
        self.viewpoint = classes["viewpoint"]()

    def forward(self, scoremap, hand_side):
        return self.poseprior(scoremap, hand_side), rodrigues(self.viewpoint(scoremap, hand_side).float())


@dataclass(frozen=True)
class LiftingOptions:
    """The lifting networks' options: scoremap width in 256-crop pixels before pooling; whether the input
    scoremaps show every keypoint (occluded ones too, as a PoseNet's output does) or, like the release,
    only the visible ones; files of PoseNet's own predicted maps to train on instead of drawn ones
    (``training.predicted_maps``); the weight of the bone-proportion term."""

    sigma: float = 25.0
    all_keypoints: bool = False
    scoremaps: tuple = ()
    bone_weight: float = 0.0


class LiftingTask(Task):
    """PosePrior + ViewPoint on ground-truth scoremaps (256 targets average-pooled to 32):
    MSE(canonical coordinates) + MSE(rotation matrix). With ``--scoremaps``: on a PoseNet's own predicted
    maps of renders and real photos (resized to the networks' input side as at run time), the targets
    made from each hand's 3D (``training.real3d.world_targets``)."""

    name = "lifting"
    recipe = Recipe(name, 80_000, (1e-5, 1e-6), (60_000,))
    title = "PosePrior + ViewPoint"
    notes = ("ground-truth scoremaps, extra crop offset noise 10 px and scale U(1, 1.2), loss MSE(canonical) + "
             "MSE(rotation)")
    #: The lifting networks always see 256-crop targets pooled 8x8 to 32x32 (both families).
    crop_size = 256
    Options = LiftingOptions

    @staticmethod
    def add_args(p):
        p.add_argument("--sigma", type=float, default=25.0, help="scoremap width in 256-crop pixels before pooling")
        p.add_argument("--all-keypoints", action="store_true", help="draw every keypoint inside the crop into the "
                       "input scoremaps, occluded ones too (what PoseNet's output shows); the release draws only "
                       "the visible ones")
        p.add_argument("--scoremaps", nargs="+", type=str, default=(), metavar="MAPS.npz",
                       help="train on these files of a PoseNet's predicted maps and their hands' 3D (python -m "
                       "training.predicted_maps) instead of maps drawn from --data's keypoints")
        p.add_argument("--bone-weight", type=float, default=0.0, help="weight of a bone-proportion term: the "
                       "squared difference between the predicted hand's log bone lengths and a mean hand's "
                       "(handcam.handsize.MEAN_BONE_LENGTHS), each centred on its mean (0: off, the release)")

    def build_model(self, config):
        return LiftingPair(network_classes(config.arch))

    def dataset(self, config):
        if config.options.scoremaps:
            from .predicted_maps import PredictedMaps

            return PredictedMaps(config.options.scoremaps)
        # only the mask (dominant hand) and the annotation are needed: colour is never decoded
        return CropDataset(config.data, "training", noise=A.LIFTING_NOISE, crop_size=self.crop_size,
                           with_image=False, extras=config.extras)

    def loss(self, model, batch, config):
        if config.options.scoremaps:
            from .real3d import world_targets

            maps = lifting_input(batch["scoremap"], registry.get(config.arch).scoremap_size)   # as at run time
            target = world_targets(batch["xyz"].double(), batch["hand_side"].double())
            coord_can, rot_mat, hand_side = (target.coord_can.float(), target.rot_mat.float(),
                                             batch["hand_side"])
        else:
            size = (self.crop_size, self.crop_size)
            shown = torch.ones_like(batch["vis"]) if config.options.all_keypoints else batch["vis"]
            maps = pooled_gaussian_scoremaps(batch["uv"], shown, size, config.options.sigma, 8)
            coord_can, rot_mat, hand_side = batch["coord_can"], batch["rot_mat"], batch["hand_side"]
        coord, rot = model(maps, hand_side)
        loss = lifting_loss(coord, rot, coord_can, rot_mat)
        if config.options.bone_weight > 0:
            loss = loss + config.options.bone_weight * bone_proportion_loss(coord)
        return loss

    def parts(self, model):
        return {"poseprior": model.poseprior, "viewpoint": model.viewpoint}


#: Task name (the ``python -m training.train`` subcommand) -> task class.
TASKS: dict[str, type[Task]] = {t.name: t for t in (HandSegTask, PoseNetTask, LiftingTask)}


def get(name: str) -> Task:
    """A fresh task by name; a TrainingError naming the tasks otherwise."""
    if name not in TASKS:
        raise TrainingError(f"unknown task {name!r}; use one of {', '.join(TASKS)}")
    return TASKS[name]()
