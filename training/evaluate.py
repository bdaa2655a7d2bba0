"""``python -m training.evaluate {gt-crop,full-2d,lift-3d,full-3d} --data RHD_DIR --weights W --out DIR``

The release's four evaluations on RHD's evaluation split, with its metric definitions
(:mod:`training.metrics`):

gt-crop   PoseNet on crops from the ground truth (centred on keypoint 12, no noise); errors in frame
          pixels (crop pixels / crop scale); 0-30 px.  Paper Table 1: AUC 0.724, median 5.001, mean 9.135.
full-2d   HandSegNet + PoseNet on the frame resized to 240x320 (TF1 bilinear, non-uniform); 0-30 px.
          * ``release``: what the release reports (Table 1: 0.663 / 5.833 / 17.041) — ground truth with
            RHD's *wrist* as keypoint 0 although the network predicts the palm, errors in the squashed
            240x320 frame;
          * ``palm_240x320``: palm ground truth, same frame (the release's docstring: 0.679 / 5.275 / 16.561);
          * ``corrected``: palm ground truth, errors in RHD's own 320x320 frame (0.635 / 6.745 / 18.741).
lift-3d   PosePrior + ViewPoint on ground-truth scoremaps (the 256 target maps average-pooled to 32),
          prediction x ground-truth bone length, root-relative, mm, 0-50 mm (Table 2: median 18.8 mm).
          * ``release``: all 21 keypoints counted (the release's eval3d.py passes vis = 1);
          * ``visible``: only visible keypoints.
full-3d   The whole pipeline (ground-truth hand side) in 3D, visible keypoints, 0-50 mm; also the AUC
          "20-50 mm" the release prints, which is over ``thresholds[8:]`` = 21.05-50 mm
          (``auc_20_50_release``), and over 20-50 mm proper (``auc_20_50``).

Prints a table, writes ``DIR/<mode>.json`` and ``DIR/<mode>_pck.png``.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from handcam.geometry import host_array
from handcam.models import registry
from handcam.models.layers import tf1_resize_bilinear
from handcam.pipeline import run_pipeline
from handcam.runtime import resolve_device
from handcam.settings import PipelineSettings
from handcam.stages import crop_hands, detect_keypoints, lift_pose, segment
from handcam.transform import FrameTransform
from handcam.weights import build_networks, load_weights

from . import augment as A
from .data import CropDataset
from .errors import cli_main
from .metrics import auc_subset, plot_pck, summarize
from .rhd import RHD, dominant_side, select_hand
from .targets import pooled_gaussian_scoremaps
from .tasks import LiftingTask

log = logging.getLogger(__name__)

MODES = ("gt-crop", "full-2d", "lift-3d", "full-3d")
NEEDS = {"gt-crop": ["posenet"], "full-2d": ["handsegnet", "posenet"], "lift-3d": ["poseprior", "viewpoint"],
         "full-3d": ["handsegnet", "posenet", "poseprior", "viewpoint"]}
#: The paper's / release's figures per mode and variant: (AUC, median EPE, mean EPE); None = not published.
PUBLISHED = {
    ("gt-crop", "release"): (0.724, 5.001, 9.135),
    ("full-2d", "release"): (0.663, 5.833, 17.041),
    ("full-2d", "palm_240x320"): (0.679, 5.275, 16.561),
    ("full-2d", "corrected"): (0.635, 6.745, 18.741),
    ("lift-3d", "release"): (None, 18.8, None),
    # not in the paper: the release's eval_full.py docstring (RHD-e, official weights)
    ("full-3d", "release"): (0.424, 28.686, 35.606),
}
#: The release's evaluation frame (errors of every family are measured in it): RHD's 320x320 squashed
#: to 240x320.
FULL_SIZE = registry.PAPER.input_size


class _FrameDataset(torch.utils.data.Dataset):
    """Evaluation frames with both ground truths (palm and wrist roots)."""

    def __init__(self, rhd: RHD, limit: int | None):
        self.rhd, self.n = rhd, min(len(rhd), limit or len(rhd))

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        mask = self.rhd.mask(i)
        side = dominant_side(mask)
        anno = self.rhd.annotation(i)
        palm, wrist = select_hand(anno, side), select_hand(anno, side, use_wrist=True)
        return {
            "image": torch.from_numpy(A.normalize(self.rhd.color(i))),
            "uv_palm": torch.from_numpy(palm.uv), "vis_palm": torch.from_numpy(palm.vis.copy()),
            "uv_wrist": torch.from_numpy(wrist.uv), "vis_wrist": torch.from_numpy(wrist.vis.copy()),
            "hand_side": torch.from_numpy(palm.hand_side), "xyz": torch.from_numpy(palm.xyz),
            "scale3d": torch.tensor(palm.scale, dtype=torch.float32),
        }


class _Subset(torch.utils.data.Dataset):
    def __init__(self, ds, n):
        self.ds, self.n = ds, min(len(ds), n or len(ds))

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return self.ds[i]


def _networks(path, keys, device) -> tuple[registry.Architecture, dict]:
    """The family of a weights file and its networks ``keys``, on ``device`` in eval mode."""
    sds, meta = load_weights(path)
    arch = registry.get(meta.get("architecture", "paper"))
    nets = build_networks(sds, keys, architecture=arch.name, source=str(path))
    return arch, {k: v.to(device).eval() for k, v in nets.items()}


def _root_relative_mm(xyz_m: torch.Tensor) -> torch.Tensor:
    return (xyz_m - xyz_m[:, :1]) * 1000.0


def evaluate(mode: str, data, weights, device="cpu", batch_size: int = 8, workers: int = 0,
             limit: int | None = None, split: str = "evaluation") -> dict:
    """Run one evaluation; returns {variant: summary dict} (see :func:`training.metrics.summarize`)."""
    device = resolve_device(device)
    arch, nets = _networks(weights, NEEDS[mode], device)
    rhd = RHD(data, split)
    dists: dict[str, list] = {}
    viss: dict[str, list] = {}

    def add(name, d, v):
        dists.setdefault(name, []).append(d.cpu().numpy())
        viss.setdefault(name, []).append(v.cpu().numpy())

    if mode in ("gt-crop", "lift-3d"):
        crop = arch.crop_size if mode == "gt-crop" else LiftingTask.crop_size  # lifting: always 256 -> 32
        ds = _Subset(CropDataset(None, split, noise=A.EVAL_NOISE, crop_size=crop, with_image=mode == "gt-crop",
                                 reader=rhd), limit)
    else:
        ds = _FrameDataset(rhd, limit)
    loader = DataLoader(ds, batch_size=batch_size, num_workers=workers, pin_memory=device.type == "cuda")
    with torch.inference_mode():
        for batch in loader:
            batch = {k: v.to(device) for k, v in batch.items()}
            if mode == "gt-crop":
                pred = detect_keypoints(nets["posenet"], batch["image"],
                                        arch.subpixel_keypoints).keypoints.flip(-1)  # (x, y) crop px
                s = batch["crop_scale"][:, None]
                add("release", ((pred - batch["uv"]).norm(dim=-1)) / s, batch["vis"])
            elif mode == "lift-3d":
                maps = pooled_gaussian_scoremaps(batch["uv"], batch["vis"], (crop, crop))
                pose = lift_pose(nets["poseprior"], nets["viewpoint"], maps, batch["hand_side"])
                xyz = pose.keypoints * batch["scale3d"][:, None, None] * 1000.0
                d = (xyz - _root_relative_mm(batch["xyz"])).norm(dim=-1)
                add("release", d, torch.ones_like(batch["vis"]))
                add("visible", d, batch["vis"])
            else:
                out = _on_frames(nets, arch, batch, mode == "full-3d")
                if mode == "full-2d":
                    sy = FULL_SIZE[0] / batch["image"].shape[-2]
                    sx = FULL_SIZE[1] / batch["image"].shape[-1]
                    pred240 = out  # (x, y) in the 240x320 frame
                    to240 = torch.tensor([sx, sy], device=device)
                    add("release", (pred240 - batch["uv_wrist"] * to240).norm(dim=-1), batch["vis_wrist"])
                    add("palm_240x320", (pred240 - batch["uv_palm"] * to240).norm(dim=-1), batch["vis_palm"])
                    add("corrected", (pred240 / to240 - batch["uv_palm"]).norm(dim=-1), batch["vis_palm"])
                else:
                    xyz = out * batch["scale3d"][:, None, None] * 1000.0
                    add("release", (xyz - _root_relative_mm(batch["xyz"])).norm(dim=-1), batch["vis_palm"])
    lo, hi = (0.0, 30.0) if mode in ("gt-crop", "full-2d") else (0.0, 50.0)
    results = {}
    for name in dists:
        d, v = np.concatenate(dists[name]), np.concatenate(viss[name])
        s = summarize(d, v, lo, hi, 20)
        if mode in ("lift-3d", "full-3d"):
            s["auc_20_50_release"] = auc_subset(s, 8)
            s["auc_20_50"] = summarize(d, v, 20.0, 50.0, 20)["auc"]
        s["samples"] = int(d.shape[0])
        results[name] = s
    return results


def _on_frames(nets, arch: registry.Architecture, batch, three_d: bool) -> torch.Tensor:
    """The release's evaluation pipeline on a batch of RHD frames: resize to the family's frame size
    (240x320 for the paper's networks, 120x160 for lite; TF1 bilinear), HandSegNet -> single-object mask
    -> crop -> PoseNet (-> lifting), as the estimator runs it. Returns (x, y) keypoints in the 240x320
    frame, or normalised 3D keypoints when ``three_d``."""
    net_hw = arch.input_size                 # the family's own frame size (the paper's is FULL_SIZE)
    image = tf1_resize_bilinear(batch["image"], net_hw)
    settings = PipelineSettings.release()    # one hand per frame, always: the one RHD labels
    if arch.crop_from_frame:                 # crops from the 240x320 evaluation frame, as the estimator cuts them
        source = tf1_resize_bilinear(batch["image"], FULL_SIZE)
        transform = FrameTransform(FULL_SIZE, net_hw, crop_from_frame=True)
    else:
        source, transform = image, FrameTransform(net_hw, net_hw)
    if three_d:
        return run_pipeline(nets, image, batch["hand_side"], settings, transform, source, crop_size=arch.crop_size,
                            max_crop_scale=arch.max_crop_scale,
                            subpixel_keypoints=arch.subpixel_keypoints,
                            lifting_size=arch.scoremap_size).keypoints_3d
    seg = segment(nets["handsegnet"], image, settings.mask_threshold)
    crop = crop_hands(source, seg.hand_box(settings.crop_factor), arch.crop_size, transform,
                      max_scale=arch.max_crop_scale)
    keypoints = detect_keypoints(nets["posenet"], crop.image, arch.subpixel_keypoints).keypoints
    # the crop's geometry is on the host (``Crop.source``): map the keypoints there, then back to the batch's device
    xy = torch.from_numpy(transform.crop_to_frame(crop.source, host_array(keypoints))).to(keypoints.device)
    if not transform.crop_from_frame and tuple(net_hw) != tuple(FULL_SIZE):
        # a smaller family's pixels -> the 240x320 evaluation frame
        xy = xy * xy.new_tensor([FULL_SIZE[0] / net_hw[0], FULL_SIZE[1] / net_hw[1]])
    return xy.flip(-1)


def _table(mode: str, results: dict) -> str:
    unit = "px" if mode in ("gt-crop", "full-2d") else "mm"
    lines = [f"{mode}: {next(iter(results.values()))['samples']} samples",
             f"{'variant':<14} {'AUC':>6} {'median':>9} {'mean':>9}   published (AUC / median / mean)"]
    for name, s in results.items():
        pub = PUBLISHED.get((mode, name))
        pub_s = " / ".join("-" if v is None else f"{v:g}" for v in pub) if pub else "-"
        lines.append(f"{name:<14} {s['auc']:6.3f} {s['median_epe']:7.3f}{unit} {s['mean_epe']:7.3f}{unit}   {pub_s}")
        if "auc_20_50" in s:
            lines.append(f"{'':<14} AUC 20-50 mm {s['auc_20_50']:.3f} "
                         f"(release's 21.05-50 mm: {s['auc_20_50_release']:.3f})")
    return "\n".join(lines)


@cli_main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.evaluate",
                                description=__doc__.split("\n\n")[0] + " — the release's four RHD evaluations.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("mode", choices=MODES, help="gt-crop: PoseNet on ground-truth crops; full-2d: HandSegNet + "
                   "PoseNet on full frames; lift-3d: lifting from ground-truth scoremaps; full-3d: whole pipeline "
                   "in 3D")
    p.add_argument("--data", required=True, help="RHD top folder (contains evaluation/)")
    p.add_argument("--weights", required=True, help="handcam weights file with the networks the mode needs")
    p.add_argument("--out", required=True, help="folder for <mode>.json and <mode>_pck.png")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="auto = CUDA if available")
    p.add_argument("--batch-size", type=int, default=8, help="samples per batch")
    p.add_argument("--workers", type=int, default=4, help="DataLoader workers")
    p.add_argument("--limit", type=int, help="evaluate only the first N samples (quick checks)")
    p.add_argument("--split", default="evaluation", choices=["evaluation", "training"], help="RHD split to evaluate on")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    res = evaluate(args.mode, args.data, args.weights, args.device, args.batch_size, args.workers, args.limit,
                   args.split)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.mode}.json").write_text(json.dumps({"mode": args.mode, "weights": str(args.weights),
                                                        "data": str(args.data), "results": res}, indent=1))
    unit = "px" if args.mode in ("gt-crop", "full-2d") else "mm"
    plot_pck([(f"{k} (AUC {v['auc']:.3f})", v["thresholds"], v["pck"]) for k, v in res.items()],
             out / f"{args.mode}_pck.png", f"threshold ({unit})", f"RHD {args.mode}")
    print(_table(args.mode, res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
