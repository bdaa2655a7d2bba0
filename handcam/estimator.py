"""HandPoseEstimator: the paper's three stages composed, batched and on one device.

    est = HandPoseEstimator.load(weights="W.pt", device="auto")
    pose = est(frame)                 # H x W x 3 uint8 RGB, any size -> HandPose
    poses = est([f1, f2], hand_side="right")

The tensor-level pipeline (``run_pipeline``) takes network-input images and returns every
intermediate as tensors on the device; the estimator maps frames of any size onto it and back.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import geometry as G
from .errors import InputError, WeightsNotFoundError
from .models import NETWORKS
from .pose import HandPose, PipelineSettings
from .segmentation import single_object_mask
from .weights import HOW_TO_GET_WEIGHTS, build_networks, default_weights_candidates, load_weights

log = logging.getLogger(__name__)

STAGES = ("preprocess", "handsegnet", "crop", "posenet", "lifting", "postprocess")


def resolve_device(device="auto") -> torch.device:
    """'auto' -> CUDA when present, else CPU; 'cuda' without CUDA is a clear error."""
    if isinstance(device, torch.device):
        return device
    device = (device or "auto").lower()
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("--device cuda was asked for, but PyTorch sees no CUDA device; use --device cpu "
                         "or auto (or install a CUDA build of torch)")
    try:
        return torch.device(device)
    except RuntimeError:
        raise InputError(f"unknown device {device!r}; use auto, cpu or cuda") from None


def network_input_size(frame_hw: tuple[int, int], settings: PipelineSettings) -> tuple[int, int]:
    """(H, W) HandSegNet sees for a frame: the fixed input size in 'faithful' mode; in 'aspect' mode
    the frame's aspect ratio with the longer side at max(input_size), both multiples of 8."""
    if settings.resize_mode == "faithful":
        return tuple(settings.input_size)
    h, w = frame_hw
    s = max(settings.input_size) / max(h, w)
    return max(8, int(round(h * s / 8)) * 8), max(8, int(round(w * s / 8)) * 8)


@dataclass
class PipelineOutput:
    """Tensor results of ``run_pipeline`` for a batch, (row, col) in network-input pixels unless noted."""
    logits: torch.Tensor          # B x 2 x h x w
    mask: torch.Tensor            # B x h x w bool
    center: torch.Tensor          # B x 2
    crop_size: torch.Tensor       # B   (box size before the crop factor)
    scale: torch.Tensor           # B
    crop: torch.Tensor            # B x 3 x 256 x 256 normalised
    scoremaps: list               # 3 x (B x 21 x 32 x 32)
    keypoints_crop: torch.Tensor  # B x 21 x 2 (row, col) in the crop
    keypoint_scores: torch.Tensor  # B x 21
    coord_can: torch.Tensor       # B x 21 x 3
    rot_mat: torch.Tensor         # B x 3 x 3
    keypoints_3d: torch.Tensor    # B x 21 x 3


class _Clock:
    """Stage timings: CUDA events on GPU (no extra syncs), perf_counter on CPU."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.marks = []

    def mark(self, name: str):
        if self.cuda:
            ev = torch.cuda.Event(enable_timing=True)
            ev.record()
            self.marks.append((name, ev))
        else:
            self.marks.append((name, time.perf_counter()))

    def elapsed_ms(self) -> dict:
        if self.cuda:
            torch.cuda.synchronize()
            diff = lambda a, b: a.elapsed_time(b)  # noqa: E731
        else:
            diff = lambda a, b: (b - a) * 1000.0  # noqa: E731
        out = {}
        for (_, a), (name, b) in zip(self.marks, self.marks[1:]):
            out[name] = out.get(name, 0.0) + diff(a, b)
        return out


def run_pipeline(nets: dict, image: torch.Tensor, hand_side: torch.Tensor, settings: PipelineSettings,
                 crop_source: torch.Tensor | None = None, to_source=None, clock: _Clock | None = None
                 ) -> PipelineOutput:
    """The paper's pipeline on normalised B x 3 x h x w network-input images.

    ``crop_source`` (default: ``image``) is the image the 256x256 crop is cut from; ``to_source`` maps
    (centre, scale) from network-input pixels to that image's pixels (the 'aspect' mode crops from the
    full-resolution frame). Keypoints come back in the crop; the caller maps them.
    """
    tick = clock.mark if clock else (lambda name: None)
    with torch.inference_mode():
        logits = nets["handsegnet"](image)
        tick("handsegnet")
        mask, _ = single_object_mask(logits, settings.mask_threshold)
        center, size = G.mask_center_and_size(mask)
        scale = G.crop_scale(size, settings.crop_factor)
        src = image if crop_source is None else crop_source
        c_src, s_src = (center, scale) if to_source is None else to_source(center, scale)
        boxes = G.normalize_boxes(G.crop_boxes(c_src, s_src), src.shape[-2], src.shape[-1])
        crop = G.crop_and_resize(src, boxes, (G.CROP_SIZE, G.CROP_SIZE))
        tick("crop")
        scoremaps = nets["posenet"](crop)
        up = G.tf1_resize_bilinear(scoremaps[-1], (G.CROP_SIZE, G.CROP_SIZE))
        kp_crop, scores = G.scoremap_argmax(up)
        tick("posenet")
        coord_can = nets["poseprior"](scoremaps[-1], hand_side)
        xyz, rot = G.lift(coord_can, nets["viewpoint"](scoremaps[-1], hand_side), hand_side)
        tick("lifting")
    return PipelineOutput(logits, mask, center, size, scale, crop, scoremaps, kp_crop, scores,
                          coord_can, rot, xyz)


def _as_frames(frames) -> list[np.ndarray]:
    """Validate input frames: one H x W x 3 uint8 array, a B x H x W x 3 array, or a list of them."""
    if isinstance(frames, np.ndarray):
        if frames.ndim == 4:
            frames = list(frames)
        else:
            frames = [frames]
    out = []
    for f in frames:
        f = np.asarray(f)
        if f.ndim != 3 or f.shape[2] != 3:
            raise InputError(f"expected an H x W x 3 RGB frame, got shape {f.shape}; convert grayscale/RGBA "
                             f"with handcam.sources.to_rgb8 first")
        if f.dtype != np.uint8:
            raise InputError(f"expected uint8 pixels, got {f.dtype}; use handcam.sources.to_rgb8")
        if f.shape[0] < 1 or f.shape[1] < 1:
            raise InputError(f"empty frame of shape {f.shape}")
        out.append(f)
    if not out:
        raise InputError("no frames given")
    return out


class HandPoseEstimator:
    """The three-stage pipeline on one device. Thread-compatible: one call at a time."""

    def __init__(self, networks: dict, device="auto", settings: PipelineSettings | None = None,
                 metadata: dict | None = None):
        missing = [k for k in NETWORKS if k not in networks]
        if missing:
            raise ValueError(f"networks missing: {missing}")
        self.device = resolve_device(device)
        self.networks = {k: n.to(self.device).eval() for k, n in networks.items()}
        self.settings = settings or PipelineSettings()
        self.metadata = dict(metadata or {})

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def load(cls, weights=None, device="auto", settings: PipelineSettings | None = None) -> "HandPoseEstimator":
        """Load handcam weights (a .pt from ``python -m handcam.weights``); ``None`` looks in
        $HANDCAM_WEIGHTS, weights/handcam.pt and the download cache."""
        if weights is None:
            found = [p for p in default_weights_candidates() if p.is_file()]
            if not found:
                raise WeightsNotFoundError(
                    "no weights found (looked in " + ", ".join(str(p) for p in default_weights_candidates())
                    + "); " + HOW_TO_GET_WEIGHTS)
            weights = found[0]
        state, meta = load_weights(weights)
        nets = build_networks(state, architecture=meta.get("architecture", "paper"), source=str(weights))
        meta["path"] = str(weights)
        log.info("loaded weights %s", weights)
        return cls(nets, device=device, settings=settings, metadata=meta)

    @classmethod
    def random(cls, seed: int = 0, device="auto", settings: PipelineSettings | None = None) -> "HandPoseEstimator":
        """Freshly initialised networks (PyTorch default init, seeded): for tests and benchmarks only."""
        gen_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        try:
            nets = {k: cls_() for k, cls_ in NETWORKS.items()}
        finally:
            torch.random.set_rng_state(gen_state)
        return cls(nets, device=device, settings=settings, metadata={"source": f"random(seed={seed})"})

    # -- inference ---------------------------------------------------------------------------
    def __call__(self, frames, hand_side: str | None = None, settings: PipelineSettings | None = None):
        """Estimate the hand pose in one frame (-> HandPose) or several (-> list of HandPose).

        Frames are RGB uint8, H x W x 3, any size; several frames of one size run as one batch.
        ``hand_side`` and ``settings`` override ``self.settings`` for this call.
        """
        single = isinstance(frames, np.ndarray) and frames.ndim == 3
        frames = _as_frames(frames)
        settings = settings or self.settings
        if hand_side is not None:
            settings = settings.replace(hand_side=hand_side)
        results: list = [None] * len(frames)
        groups: dict = {}
        for i, f in enumerate(frames):
            groups.setdefault(f.shape, []).append(i)
        for idx in groups.values():
            for i, pose in zip(idx, self._run_same_size([frames[i] for i in idx], settings)):
                results[i] = pose
        return results[0] if single else results

    def _run_same_size(self, frames: list, settings: PipelineSettings) -> list[HandPose]:
        clock = _Clock(self.device)
        clock.mark("start")
        h, w = frames[0].shape[:2]
        batch = torch.from_numpy(np.stack(frames)).to(self.device, non_blocking=True)
        full = G.normalize_image(batch)
        net_hw = network_input_size((h, w), settings)
        image = G.resize_frames(full, net_hw)
        side = G.hand_side_onehot([settings.hand_side] * len(frames), device=self.device)
        clock.mark("preprocess")
        if settings.resize_mode == "aspect":
            ratio = torch.tensor([h / net_hw[0], w / net_hw[1]], device=self.device)

            def to_frame(center, scale):
                return G.resize_points(center[:, None], net_hw, (h, w))[:, 0], scale / ratio.mean()

            out = run_pipeline(self.networks, image, side, settings, crop_source=full, to_source=to_frame,
                               clock=clock)
            center_f, scale_f = to_frame(out.center, out.scale)
            kp_frame = G.crop_to_image(out.keypoints_crop, center_f, scale_f)
            box_f = G.crop_boxes(center_f, scale_f)  # y1 x1 y2 x2 in frame pixels
        else:
            out = run_pipeline(self.networks, image, side, settings, clock=clock)
            kp_net = G.crop_to_image(out.keypoints_crop, out.center, out.scale)
            kp_frame = G.resize_points(kp_net, net_hw, (h, w))
            center_f = G.resize_points(out.center[:, None], net_hw, (h, w))[:, 0]
            corners = G.crop_boxes(out.center, out.scale).reshape(-1, 2, 2)  # network-input pixels
            box_f = G.resize_points(corners, net_hw, (h, w)).reshape(-1, 4)
        if (h, w) != tuple(net_hw):
            mask_f = torch.nn.functional.interpolate(out.mask[:, None].float(), size=(h, w), mode="nearest")[:, 0] > 0.5
        else:
            mask_f = out.mask
        crop_u8 = ((out.crop + 0.5) * 255.0).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
        host = {k: v.cpu().numpy() for k, v in dict(
            mask=mask_f, center=center_f, scale=out.scale, box=box_f, crop=crop_u8, kp_crop=out.keypoints_crop,
            kp=kp_frame, scores=out.keypoint_scores, xyz=out.keypoints_3d, area=out.mask.sum((1, 2))).items()}
        clock.mark("postprocess")
        timings = clock.elapsed_ms()
        timings["total"] = sum(timings.values())
        n = len(frames)
        per_frame = {k: v / n for k, v in timings.items()}
        poses = []
        for i in range(n):
            y1, x1, y2, x2 = host["box"][i]
            poses.append(HandPose(
                mask=host["mask"][i], center=host["center"][i, ::-1].astype(np.float64),
                scale=float(host["scale"][i]), crop_box=np.array([x1, y1, x2, y2], dtype=np.float64),
                crop=host["crop"][i], keypoints_crop=host["kp_crop"][i, :, ::-1].astype(np.float64),
                keypoints_2d=host["kp"][i, :, ::-1].astype(np.float64),
                keypoint_scores=host["scores"][i].astype(np.float64),
                keypoints_3d=host["xyz"][i].astype(np.float64), hand_side=settings.hand_side,
                mask_area=int(host["area"][i]), timings_ms=dict(per_frame)))
        return poses
