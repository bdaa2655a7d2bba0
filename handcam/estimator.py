"""HandPoseEstimator: the pipeline on one device, from frames of any size to ``FrameResult``s.

    est = HandPoseEstimator.load(weights="W.pt", device="auto")
    result = est.estimate(frame)             # H x W x 3 uint8 RGB -> FrameResult (always)
    results = est.estimate_batch(frames)     # -> list[FrameResult], same order
    tracker = est.tracker()                  # stateful: crops from the previous keypoints
    result = tracker.process(frame)

Frames are uploaded as uint8 and normalised on the device; between the stages nothing waits for the
device except the one copy of the results at the end. How the networks run (precision, backend,
layout, compile, mask method) is one ``RuntimeOptions``; the family's sizes come from the registry.
"""
from __future__ import annotations

import dataclasses
import functools
import logging
from types import MappingProxyType

import numpy as np
import torch
import torch.nn.functional as F

from . import geometry as G
from .camera import Intrinsics, camera_keypoints
from .errors import InputError, WeightsError, WeightsNotFoundError
from .handsize import hand_scales, scale_source
from .models import registry
from .pipeline import PipelineOutput, as_frames, prepare_frames, run_pipeline
from .results import FrameResult, HandPose
from .runtime import Clock, prepare_networks, resolve_device
from .settings import FALLBACK_SIDE, PipelineSettings, RuntimeOptions, parse_keypoint_score
from .skeleton import HAND_SIDES
from .stages.segment import resolve_mask_method
from .tracking import HandIdentities, HandTracker, KnownHands
from .transform import FrameTransform
from .weights import HOW_TO_GET_WEIGHTS, build_networks, default_weights_candidates, load_weights, metadata_flag

log = logging.getLogger(__name__)


def iter_batches(items, batch_size: int, shape=lambda item: item.shape):
    """Consecutive items in lists of at most ``batch_size`` with one ``shape`` each (the batching of
    offline video: frames of one size run as one batch)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    batch: list = []
    for item in items:
        if batch and (len(batch) == batch_size or shape(item) != shape(batch[0])):
            yield batch
            batch = []
        batch.append(item)
    if batch:
        yield batch


@functools.lru_cache(maxsize=32)
def _nearest_index(n_in: int, n_out: int) -> np.ndarray:
    """The input pixel each of ``n_out`` nearest-neighbour output pixels samples (PyTorch's rule)."""
    idx = F.interpolate(torch.arange(n_in, dtype=torch.float32)[None, None], size=n_out, mode="nearest")
    return idx[0, 0].long().numpy()


def upsample_masks(masks: np.ndarray, frame_hw: tuple[int, int]) -> np.ndarray:
    """B x h x w bool masks -> B x H x W by nearest neighbour (PyTorch's ``interpolate(mode="nearest")``
    rule, so ``frame_mask_area`` counts exactly its pixels), on the host: two row/column gathers."""
    rows = _nearest_index(masks.shape[-2], int(frame_hw[0]))
    cols = _nearest_index(masks.shape[-1], int(frame_hw[1]))
    return masks[:, rows][:, :, cols]


@functools.lru_cache(maxsize=32)
def _nearest_counts(n_in: int, n_out: int) -> np.ndarray:
    """How many of ``n_out`` nearest-neighbour output pixels sample each of ``n_in`` input pixels
    (PyTorch's own index rule, so that the counts are exact), float32."""
    return np.bincount(_nearest_index(n_in, n_out), minlength=n_in).astype(np.float32)


def frame_mask_area(mask, frame_hw: tuple[int, int]):
    """Pixels of the nearest-neighbour upsampling of B x h x w masks (a host array, or a tensor on any
    device) to ``frame_hw`` without building it: each mask pixel counts as many frame pixels as map onto it
    (exact). -> B int64, of the mask's type."""
    h, w = mask.shape[-2:]
    rows, cols = _nearest_counts(h, int(frame_hw[0])), _nearest_counts(w, int(frame_hw[1]))
    if isinstance(mask, torch.Tensor):
        rows, cols = (torch.from_numpy(a).to(mask.device) for a in (rows, cols))
        return ((mask.to(torch.float32) @ cols) @ rows).round().long()
    return np.rint((np.asarray(mask, np.float32) @ cols) @ rows).astype(np.int64)


#: Gauss-Newton steps on the reprojection error after the linear camera-space solve: one step lowers the
#: reprojection error and the depth error's tail on held-out renders, more overshoot (measured:
#: benchmarks/results/camera_space.json, discussed in docs/accuracy.md).
CAMERA_REFINE_STEPS = 1

#: The weights-file metadata key of the presence calibration: "a b" of ``stages.segment.calibrated_presence``.
PRESENCE_CALIBRATION_KEY = "presence_calibration"
#: The weights-file metadata flag (``weights.metadata_flag``): the PoseNet was trained for ``stages.refine``.
REFINE_CROPS_KEY = "refine_crops"
#: The weights-file metadata key of the mean keypoint score a detected hand needs (``min_keypoint_score``
#: "auto"): a number in [0, 1].
KEYPOINT_SCORE_KEY = "min_keypoint_score"


def parse_calibration(value) -> tuple[float, float] | None:
    """A weights file's presence calibration ("a b") -> (a, b); None when absent; WeightsError when malformed."""
    if value is None or value == "":
        return None
    try:
        a, b = (float(v) for v in str(value).replace(",", " ").split())
    except ValueError:
        raise WeightsError(f"the weights' {PRESENCE_CALIBRATION_KEY} is {value!r}; expected two numbers 'a b' "
                           f"(python -m training.calibrate writes it)") from None
    if not (a > 0 and np.isfinite(a) and np.isfinite(b)):
        raise WeightsError(f"the weights' {PRESENCE_CALIBRATION_KEY} {value!r} needs a > 0 and finite numbers")
    return a, b


def parse_score_floor(value) -> float:
    """A weights file's keypoint-score floor (a number in [0, 1]) -> float; 0.0 when absent; WeightsError when
    malformed."""
    if value is None or value == "":
        return 0.0
    try:
        floor = parse_keypoint_score(str(value))      # the setting's own rule: a score in [0, 1]
    except ValueError:
        floor = None
    if not isinstance(floor, float):                  # malformed, or "auto", which a file cannot mean
        raise WeightsError(f"the weights' {KEYPOINT_SCORE_KEY} is {value!r}; expected a number in [0, 1] "
                           f"(python -m training.calibrate writes it)")
    return floor


@functools.lru_cache(maxsize=64)
def _intrinsics(frame_hw: tuple[int, int], intrinsics, mirrored: bool, fov_deg: float) -> Intrinsics:
    """``HandPoseEstimator.intrinsics`` (cached: the same few cameras every frame)."""
    if intrinsics is not None:
        fx, fy, cx, cy = intrinsics
        return Intrinsics(fx, fy, frame_hw[1] - 1 - cx if mirrored else cx, cy)
    return Intrinsics.from_fov(frame_hw, fov_deg)


def image_side(side: str, mirrored: bool) -> str:
    """The side a hand shows in the image from the person's side (and back: the map is its own inverse):
    swapped in a mirror image."""
    return HAND_SIDES[1 - HAND_SIDES.index(side)] if mirrored else side


class HandPoseEstimator:
    """The three-stage pipeline of one network family on one device. One call at a time.

    ``networks``: key -> module (copied; the caller's modules are left as they are);
    ``architecture``: a registry name (default: what the networks' classes say);
    ``settings``: the pipeline's tunables (``self.settings``, replaceable between calls);
    ``runtime``: how the networks run (see ``RuntimeOptions``).
    """

    def __init__(self, networks: dict, architecture: str | None = None, device="auto",
                 settings: PipelineSettings | None = None, runtime: RuntimeOptions | None = None,
                 metadata: dict | None = None):
        self.architecture = registry.get(architecture) if architecture else registry.of_networks(networks)
        self.device = resolve_device(device)
        self.runtime = runtime or RuntimeOptions()
        self.metadata = MappingProxyType(dict(metadata or {}))
        self.presence_calibration = parse_calibration(self.metadata.get(PRESENCE_CALIBRATION_KEY))
        self.refine_trained = metadata_flag(self.metadata.get(REFINE_CROPS_KEY), REFINE_CROPS_KEY)
        self.keypoint_score_floor = parse_score_floor(self.metadata.get(KEYPOINT_SCORE_KEY))
        modules, self._calls, self.backend, self.channels_last = prepare_networks(
            networks, self.architecture, self.device, self.runtime)
        self.networks = MappingProxyType(modules)
        #: the callables the pipeline runs (BatchNorm folded, layout/precision applied, or ONNX Runtime)
        self.runnable_networks = MappingProxyType(self._calls)
        # the hand regions are grown on the host (``stages.segment.find_hands``), whatever the device
        self.mask_method = resolve_mask_method(self.runtime.mask_method, torch.device("cpu"))
        arch_resize = self.architecture.uint8_resize and self.device.type == "cpu"
        self.uint8_resize = arch_resize if self.runtime.uint8_resize is None else bool(self.runtime.uint8_resize)
        self.settings = settings or PipelineSettings()
        self._constants: dict = {}
        self._last_resolved: tuple | None = None

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def load(cls, weights=None, device="auto", settings: PipelineSettings | None = None,
             runtime: RuntimeOptions | None = None) -> "HandPoseEstimator":
        """Load a handcam weights file (``python -m handcam.weights`` or the training scripts); ``None``
        searches ``default_weights_candidates()``. The file's ``architecture`` picks the family."""
        if weights is None:
            found = [p for p in default_weights_candidates() if p.is_file()]
            if not found:
                raise WeightsNotFoundError(
                    "no weights found (looked in " + ", ".join(str(p) for p in default_weights_candidates())
                    + "); " + HOW_TO_GET_WEIGHTS)
            weights = found[0]
        state, meta = load_weights(weights)
        arch = meta.get("architecture", "paper")
        nets = build_networks(state, architecture=arch, source=str(weights))
        meta["path"] = str(weights)
        log.info("loaded weights %s", weights)
        return cls(nets, architecture=arch, device=device, settings=settings, runtime=runtime, metadata=meta)

    @classmethod
    def random(cls, seed: int = 0, device="auto", settings: PipelineSettings | None = None,
               arch: str = "paper", runtime: RuntimeOptions | None = None) -> "HandPoseEstimator":
        """Freshly initialised networks of ``arch`` (PyTorch default init, seeded): tests and benchmarks."""
        nets = registry.get(arch).build(seed=seed)
        return cls(nets, architecture=arch, device=device, settings=settings, runtime=runtime,
                   metadata={"source": f"random(seed={seed})", "architecture": arch})

    # -- the public calls --------------------------------------------------------------------
    def resolved(self, settings: PipelineSettings | None = None) -> PipelineSettings:
        """``settings`` (default: ``self.settings``) with the family's input size filled in."""
        s = settings or self.settings
        if s.input_size:
            return s
        last = self._last_resolved          # the same settings object frame after frame: no hashing
        if last is None or last[0] is not s:
            last = self._last_resolved = (s, s.replace(input_size=self.architecture.input_size))
        return last[1]

    def estimate(self, frame: np.ndarray, settings: PipelineSettings | None = None, *,
                 with_mask: bool = False, with_crop: bool = False) -> FrameResult:
        """The hands in one RGB uint8 H x W x 3 frame (any size). ``with_mask`` / ``with_crop``: also keep
        each hand's frame-size mask / the crop PoseNet saw (``HandPose.mask`` / ``.crop``; they cost time,
        so only when asked for)."""
        frames = as_frames(frame)
        if len(frames) != 1:
            raise InputError(f"estimate() takes one frame, got {len(frames)}; use estimate_batch()")
        return self.run_frames(frames, self.resolved(settings), with_mask=with_mask, with_crop=with_crop)[0][0]

    def estimate_batch(self, frames, settings: PipelineSettings | None = None, *,
                       with_mask: bool = False, with_crop: bool = False) -> list[FrameResult]:
        """One FrameResult per frame, in order; frames of one size run as one batch."""
        frames = as_frames(frames)
        settings = self.resolved(settings)
        results: list = [None] * len(frames)
        groups: dict = {}
        for i, f in enumerate(frames):
            groups.setdefault(f.shape, []).append(i)
        for idx in groups.values():
            out, _ = self.run_frames([frames[i] for i in idx], settings, with_mask=with_mask, with_crop=with_crop)
            for i, r in zip(idx, out):
                results[i] = r
        return results

    def estimate_video(self, frames, batch_size: int = 1, settings: PipelineSettings | None = None, *,
                       with_mask: bool = False, with_crop: bool = False):
        """Offline video: yields one FrameResult per frame of the iterable, in order, running up to
        ``batch_size`` consecutive frames of one size as one batch (every frame detected); hand ids follow
        the hands from frame to frame (``tracking.HandIdentities``), each with its camera-space scale held
        steady (``handsize.SteadyScales``)."""
        kw = dict(settings=settings, with_mask=with_mask, with_crop=with_crop)
        identities = HandIdentities()      # ids follow the hands from frame to frame (no smoothing)
        sizes = scale_source(settings or self.settings)      # each hand's scale held steady over its frames
        for batch in iter_batches((as_frames(f)[0] for f in frames), batch_size):
            for result in self.estimate_batch(batch, **kw):
                yield dataclasses.replace(result, hands=identities.update(result.hands, 0.0, size_key=sizes)[0])

    def tracker(self, **options):
        """A stateful ``HandTracker`` over this estimator (see ``handcam.tracking``)."""
        return HandTracker(self, **options)

    def describe(self) -> str:
        """Device, threads and backend, for status bars and logs."""
        if self.device.type == "cuda":
            return f"cuda ({torch.cuda.get_device_name(self.device)})"
        return f"{self.device.type} ({torch.get_num_threads()} threads, {self.backend})"

    # -- one batch of same-size frames ------------------------------------------------------
    def run_frames(self, frames: list, settings: PipelineSettings, known: KnownHands | None = None,
                   with_mask: bool = False, with_crop: bool = False):
        """Frames of one size through the pipeline -> (FrameResults, keypoints N x 21 x 2 of all hands in
        network-input pixels as a host array, for the next frame's boxes). ``known`` (hands of the first frame,
        from tracking) skips HandSegNet: its hands keep their presence and, with ``hand_side="auto"``, their
        side and its score. ``settings`` must be ``resolved``."""
        clock = Clock(self.device)
        clock.mark("start")
        h, w = frames[0].shape[:2]
        transform = FrameTransform.for_frame((h, w), settings, self.architecture.input_size,
                                             self.architecture.crop_from_frame)
        raw = self._upload(frames)
        image, source = prepare_frames(raw, transform, self.uint8_resize, need_image=known is None)
        if known is not None:
            sides = known.sides if settings.hand_side == "auto" else (settings.hand_side,) * len(known.sides)
            side = self._hand_side([image_side(s, settings.mirrored) for s in sides])
        elif settings.hand_side == "auto" and self.predicts_sides:
            side = None                      # read from the mask
        else:
            wanted = FALLBACK_SIDE if settings.hand_side == "auto" else image_side(settings.hand_side,
                                                                                   settings.mirrored)
            side = self._hand_side([wanted] * len(frames))
        clock.mark("preprocess")
        out = run_pipeline(self._calls, image, side, settings, transform, source,
                           box=None if known is None else known.box, clock=clock,
                           frame_index=None if known is None else np.zeros(len(known.sides), np.int64),
                           mask_method=self.mask_method, crop_size=self.architecture.crop_size,
                           max_crop_scale=self.architecture.max_crop_scale,
                           presence_calibration=self.presence_calibration,
                           subpixel_keypoints=self.architecture.subpixel_keypoints,
                           lifting_size=self.architecture.scoremap_size,
                           refine=known is None and settings.refines(self.refine_trained))
        hands, keypoints_net = self._results(out, transform, settings, with_mask, with_crop, known)
        clock.mark("postprocess")
        timings = clock.elapsed_ms()
        timings["total"] = sum(timings.values())
        per_frame = MappingProxyType({k: v / len(frames) for k, v in timings.items()})
        per = [[] for _ in frames]
        for f, hand in hands:
            per[f].append(hand)
        return [FrameResult(tuple(hs), (h, w), per_frame) for hs in per], keypoints_net

    def _results(self, out: PipelineOutput, transform: FrameTransform, settings: PipelineSettings,
                 with_mask: bool, with_crop: bool, known: KnownHands | None):
        """(frame index, HandPose) of every hand, and all hands' keypoints in network-input pixels (N x 21 x 2
        host array, for the next frame's boxes)."""
        crop = out.crop
        tensors = dict(kp_crop=out.keypoints.keypoints, scores=out.keypoints.scores, xyz=out.pose.keypoints,
                       side=out.hand_side[:, 1])
        if with_crop:
            tensors["crop"] = G.denormalize_image(crop.image)
        host = self._to_host(tensors)
        # the coordinate maps on the host: a few operations on N x 21 x 2 arrays
        kp_crop = host["kp_crop"]
        # the frame's keypoints, and those in network-input pixels for the next frame's box
        host["kp"], keypoints_net = transform.crop_points(crop.source, kp_crop)
        host["box"] = transform.box_in_frame(crop.source)
        host["center"] = transform.inverse(crop.network.center[:, None])[:, 0]
        host["scale"] = crop.network.scale
        host["frame"] = out.frame_index
        seg = out.segmentation
        if seg is not None:
            host["presence"] = seg.presence
            if seg.right is not None and settings.hand_side == "auto":
                host["right"] = seg.right
            # counted on the small mask (each pixel weighted by the frame pixels it becomes): the same
            # number as the frame-size mask's sum, without summing a frame-size array
            host["area"] = frame_mask_area(seg.mask, transform.frame_hw)
            if with_mask:
                host["mask"] = seg.mask if transform.identity else upsample_masks(seg.mask, transform.frame_hw)
        if len(host["kp"]):      # on the host: a few dozen operations on 21-point arrays
            host["size"] = hand_scales(host["xyz"], settings.hand_size, settings.bone_length_m)
            host["xyz_cam"] = camera_keypoints(host["xyz"], host["kp"][..., ::-1],
                                               self.intrinsics(transform.frame_hw, settings),
                                               host["size"], host["scores"], refine_steps=CAMERA_REFINE_STEPS)
        hands = []
        count = [0] * (int(host["frame"].max()) + 1 if len(host["frame"]) else 0)   # ids 0.. per frame
        # a detected hand whose keypoints PoseNet is unsure of is not a hand (tracked hands are judged by the
        # tracker, which follows them only while they are confident)
        floor = settings.keypoint_score_floor(self.keypoint_score_floor) if seg is not None else 0.0
        for i in range(len(host["kp"])):
            if floor > 0 and float(host["scores"][i].mean()) < floor:
                continue
            y1, x1, y2, x2 = host["box"][i]
            if "right" in host:
                score = float(max(host["right"][i], 1.0 - host["right"][i]))
            elif known is not None and settings.hand_side == "auto":
                score = known.side_scores[i]
            else:
                score = None
            seen = float(host["presence"][i]) if "presence" in host else float(known.presence[i])
            side = image_side(HAND_SIDES[int(host["side"][i] > 0.5)], settings.mirrored)
            f = int(host["frame"][i])
            count[f] += 1
            solved = bool(np.isfinite(host["xyz_cam"][i]).all())
            hands.append((f, HandPose(
                id=count[f] - 1, side=side, side_score=score, presence=seen,
                box=np.array([x1, y1, x2, y2]), center=host["center"][i, ::-1], scale=float(host["scale"][i]),
                keypoints_2d=host["kp"][i, :, ::-1], keypoint_scores=host["scores"][i],
                keypoints_3d=host["xyz"][i], keypoints_crop=host["kp_crop"][i, :, ::-1],
                keypoints_3d_camera=host["xyz_cam"][i] if solved else None,
                camera_scale=float(host["size"][i]) if solved else None,
                mask=host["mask"][i] if "mask" in host else None,
                mask_area=int(host["area"][i]) if "area" in host else 0,
                crop=host["crop"][i] if "crop" in host else None, tracked=seg is None)))
        return hands, keypoints_net

    @staticmethod
    def intrinsics(frame_hw: tuple[int, int], settings: PipelineSettings) -> Intrinsics:
        """The camera of a frame of ``frame_hw``: the settings' intrinsics (the camera's; for mirrored frames
        the principal point mirrored with the image, ``cx -> W - 1 - cx``), or a pinhole of their field of
        view (centred: a mirror changes nothing)."""
        return _intrinsics(tuple(frame_hw), settings.intrinsics, settings.mirrored, settings.fov_deg)

    @functools.cached_property
    def predicts_sides(self) -> bool:
        """Whether this estimator's HandSegNet tells left from right (``hand_side="auto"`` reads it)."""
        return registry.predicts_sides(self.networks["handsegnet"])

    def _constant(self, key: tuple, make) -> torch.Tensor:
        """A small constant tensor on the device, made once per ``key`` (making it is a host->device copy)."""
        if key not in self._constants:
            if len(self._constants) > 64:
                self._constants.clear()
            self._constants[key] = make()
        return self._constants[key]

    def _hand_side(self, sides: list[str]) -> torch.Tensor:
        """The hand-side one-hot (N x 2) of ``sides`` on the device."""
        return self._constant(("side", *sides), lambda: G.hand_side_onehot(list(sides), device=self.device))

    def _upload(self, frames: list) -> torch.Tensor:
        # one frame is only read, never written: use it in place instead of copying it into a batch
        one = len(frames) == 1 and frames[0].flags.c_contiguous and frames[0].flags.writeable
        batch = torch.from_numpy(frames[0])[None] if one else torch.from_numpy(np.stack(frames))
        if self.device.type == "cuda":
            return batch.pin_memory().to(self.device, non_blocking=True)
        return batch.to(self.device)

    def _to_host(self, tensors: dict) -> dict:
        """The one device -> host copy of a call's results (a single synchronisation on CUDA)."""
        if self.device.type != "cuda":
            return {k: v.numpy() for k, v in tensors.items()}
        moved = {k: v.to("cpu", non_blocking=True) for k, v in tensors.items()}
        torch.cuda.current_stream(self.device).synchronize()
        return {k: v.numpy() for k, v in moved.items()}
