"""The three training tasks (network, data, loss, export) run by :mod:`training.loop`."""
from __future__ import annotations

from torch import nn

from . import augment as A
from .data import CropDataset, HandSegDataset
from .loop import Recipe, extras_from_args, import_arch
from .targets import gaussian_scoremaps, lifting_loss, pooled_gaussian_scoremaps, posenet_loss, segmentation_loss


def _load(model: nn.Module, state_dicts: dict, key: str) -> None:
    if key not in state_dicts:
        raise SystemExit(f"--init: the file has no '{key}' network (it has {sorted(state_dicts)})")
    model.load_state_dict(state_dicts[key])


class HandSegTask:
    """HandSegNet: random 256x256 crops + hue 0.1, per-pixel 2-class softmax cross-entropy."""

    recipe = Recipe("handsegnet", 40_000, (1e-5, 1e-6, 1e-7), (20_000, 30_000))

    @staticmethod
    def add_args(p):
        p.add_argument("--crop-size", type=int, default=None, help="side of the random training crop (release: 256; "
                       "a multiple of 8; default 256, scaled with the network's frame size for lite: 128)")
        p.add_argument("--hue", type=float, default=0.1, help="max random hue shift, fraction of the hue circle")

    def build_model(self, args):
        return import_arch(args.arch).HandSegNet()

    @staticmethod
    def downscale(args) -> float:
        """Frames are shrunk to the network's own frame size (lite runs at 120x160, the paper at 240x320)."""
        return getattr(import_arch(args.arch).HandSegNet, "input_size", (240, 320))[1] / 320

    def dataset(self, args):
        ds = self.downscale(args)
        crop = args.crop_size or int(round(256 * ds / 8)) * 8
        return HandSegDataset(args.data, "training", crop_size=crop, hue=args.hue, downscale=ds,
                              extras=extras_from_args(args))

    def loss(self, model, batch, args):
        return segmentation_loss(model(batch["image"]), batch["hand_mask"])

    def export(self, model):
        return {"handsegnet": model.state_dict()}

    def load_init(self, model, sds):
        _load(model, sds, "handsegnet")


class PoseNetTask:
    """PoseNet: keypoint-centred crops, Gaussian targets sigma 25, the release's loss on all 3 stages."""

    recipe = Recipe("posenet", 30_000, (1e-4, 1e-5, 1e-6), (10_000, 20_000))

    @staticmethod
    def add_args(p):
        p.add_argument("--crop-size", type=int, default=None, help="hand crop side (default: the network's input "
                       "size, 256 for the paper's PoseNet as in the release, 128 for lite)")
        p.add_argument("--sigma", type=float, default=None, help="scoremap target width in crop pixels, "
                       "exp(-d^2/sigma^2) (default: 25 px on a 256 crop, scaled with --crop-size)")

    @staticmethod
    def crop_size(args) -> int:
        return args.crop_size or int(getattr(import_arch(args.arch).PoseNet, "input_size", 256))

    def sigma(self, args) -> float:
        return args.sigma if args.sigma is not None else 25.0 * self.crop_size(args) / 256

    def build_model(self, args):
        return import_arch(args.arch).PoseNet()

    def dataset(self, args):
        return CropDataset(args.data, "training", noise=A.POSENET_NOISE, crop_size=self.crop_size(args),
                           with_image=True, extras=extras_from_args(args))

    def loss(self, model, batch, args):
        stages = model(batch["image"])
        size = tuple(batch["image"].shape[-2:])
        target = gaussian_scoremaps(batch["uv"], batch["vis"], size, self.sigma(args))
        return posenet_loss(stages, target, batch["vis"])

    def export(self, model):
        return {"posenet": model.state_dict()}

    def load_init(self, model, sds):
        _load(model, sds, "posenet")


class LiftingPair(nn.Module):
    """PosePrior + ViewPoint trained together: (scoremap, hand_side) -> (canonical xyz, rotation)."""

    def __init__(self, models_module):
        super().__init__()
        self.poseprior = models_module.PosePrior()
        self.viewpoint = models_module.ViewPoint()

    def forward(self, scoremap, hand_side):
        from handcam.geometry import rodrigues

        return self.poseprior(scoremap, hand_side), rodrigues(self.viewpoint(scoremap, hand_side).float())


class LiftingTask:
    """PosePrior + ViewPoint on ground-truth scoremaps (256 targets average-pooled to 32):
    MSE(canonical coordinates) + MSE(rotation matrix)."""

    recipe = Recipe("lifting", 80_000, (1e-5, 1e-6), (60_000,))
    crop_size = 256

    @staticmethod
    def add_args(p):
        p.add_argument("--sigma", type=float, default=25.0, help="scoremap width in 256-crop pixels before pooling")

    def build_model(self, args):
        return LiftingPair(import_arch(args.arch))

    def dataset(self, args):
        # only the mask (dominant hand) and the annotation are needed: colour is never decoded
        return CropDataset(args.data, "training", noise=A.LIFTING_NOISE, crop_size=self.crop_size,
                           with_image=False, extras=extras_from_args(args))

    def loss(self, model, batch, args):
        maps = pooled_gaussian_scoremaps(batch["uv"], batch["vis"], (self.crop_size, self.crop_size), args.sigma, 8)
        coord, rot = model(maps, batch["hand_side"])
        return lifting_loss(coord, rot, batch["coord_can"], batch["rot_mat"])

    def export(self, model):
        return {"poseprior": model.poseprior.state_dict(), "viewpoint": model.viewpoint.state_dict()}

    def load_init(self, model, sds):
        _load(model.poseprior, sds, "poseprior")
        _load(model.viewpoint, sds, "viewpoint")
