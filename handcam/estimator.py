"""HandPoseEstimator: the paper's three stages composed, batched and on one device.

    est = HandPoseEstimator.load(weights="W.pt", device="auto")
    pose = est(frame)                 # H x W x 3 uint8 RGB, any size -> HandPose
    poses = est([f1, f2], hand_side="right")
    for pose in est.process_video(frames, batch_size=8): ...     # offline, batched

The tensor-level pipeline (``run_pipeline``) takes network-input images and returns every
intermediate as tensors on the device; the estimator maps frames of any size onto it and back.

Speed (issue 6): frames are uploaded as uint8 and normalised on the device; the networks run in
``channels_last`` layout (oneDNN and cuDNN both prefer it), optionally under bf16/fp16 autocast and
``torch.compile``; between the stages nothing waits for the device except one copy of the results at
the end (the CPU mask uses OpenCV, see ``handcam.segmentation``). With ``PipelineSettings(tracking=True)``
a single-frame call crops around the previous frame's confident keypoints and skips HandSegNet.
"""
from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass

import numpy as np
import torch

from . import geometry as G
from .errors import InputError, WeightsNotFoundError
from .models import NETWORKS
from .onnx_backend import OrtNetwork, resolve_backend
from .pose import PAPER_INPUT_SIZE, HandPose, PipelineSettings
from .segmentation import resolve_mask_method, single_object_mask
from .weights import HOW_TO_GET_WEIGHTS, build_networks, default_weights_candidates, load_weights

log = logging.getLogger(__name__)

STAGES = ("preprocess", "handsegnet", "crop", "posenet", "lifting", "postprocess")
ARCHITECTURES = ("paper", "lite")
#: autocast dtype of each precision ('fp32' runs without autocast).
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
#: Tracking crops a box of this many times the previous keypoints' extent: the side PoseNet was
#: trained with (crops of 2 x the extent of the visible keypoints, see the training recipe).
TRACK_CROP_FACTOR = 2.0
#: Smallest keypoint extent (network-input pixels) a tracked crop is built from.
TRACK_MIN_EXTENT = 8.0


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


def architecture_networks(arch: str = "paper") -> dict:
    """Network key -> class of an architecture ('paper' or 'lite')."""
    if arch == "paper":
        return NETWORKS
    if arch == "lite":
        from .models.lite import NETWORKS as LITE

        return LITE
    raise ValueError(f"unknown architecture {arch!r}; use one of {ARCHITECTURES}")


def inference_threads(cores: int | None = None) -> int:
    """The documented CPU thread rule: leave one core to the rest of the process (GUI, capture) and
    the machine, ``max(1, cores - 1)`` intra-op threads. Measured on the 2-core development machine
    with one other busy process: 1 thread runs the lite pipeline at 16 ms/frame, 2 threads at
    0.7-1.4 s/frame (OpenMP workers that lose their core stall every operator at its barrier), so
    using every core is never the safe default, even on 2 cores. On an idle 2-core machine, though,
    2 threads run the paper networks 1.8x faster (462 vs 845 ms/frame): ``HANDCAM_THREADS=N``
    overrides the rule."""
    env = os.environ.get("HANDCAM_THREADS", "").strip()
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            log.warning("ignoring HANDCAM_THREADS=%r: not a whole number", env)
    cores = cores or os.cpu_count() or 1
    return max(1, cores - 1)


def set_inference_threads(threads: int | None = None) -> int:
    """``torch.set_num_threads`` with :func:`inference_threads`'s rule (or ``threads``); returns it.
    Process-wide: call it once, e.g. when the inference worker starts."""
    n = int(threads or inference_threads())
    torch.set_num_threads(max(1, n))
    log.info("torch intra-op threads: %d", n)
    return n


def network_input_size(frame_hw: tuple[int, int], settings: PipelineSettings) -> tuple[int, int]:
    """(H, W) HandSegNet sees for a frame: the fixed input size in 'faithful' mode; in 'aspect' mode
    the frame's aspect ratio with the longer side at max(input_size), both multiples of 8."""
    size = tuple(settings.input_size or PAPER_INPUT_SIZE)
    if settings.resize_mode == "faithful":
        return size
    h, w = frame_hw
    s = max(size) / max(h, w)
    return max(8, int(round(h * s / 8)) * 8), max(8, int(round(w * s / 8)) * 8)


def posenet_input_size(posenet: torch.nn.Module) -> int:
    """The side of the square crop a PoseNet takes (256 for the paper's; lite nets say theirs)."""
    return int(getattr(posenet, "input_size", G.CROP_SIZE))


@dataclass
class PipelineOutput:
    """Tensor results of ``run_pipeline`` for a batch, (row, col) in network-input pixels unless noted."""
    logits: torch.Tensor | None   # B x 2 x h x w (None for tracked frames: HandSegNet did not run)
    mask: torch.Tensor            # B x h x w bool (all False for tracked frames)
    center: torch.Tensor          # B x 2
    crop_size: torch.Tensor       # B   (box size before the crop factor)
    scale: torch.Tensor           # B   crop pixels per network-input pixel
    crop: torch.Tensor            # B x 3 x S x S normalised (S = PoseNet input size)
    scoremaps: list               # stages x (B x 21 x s x s), float32
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


def autocast(device: torch.device, precision: str = "fp32"):
    """The autocast context of a precision ('fp32': none) on a device."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {tuple(PRECISIONS)}, got {precision!r}")
    dtype = PRECISIONS[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def _layout(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def run_pipeline(nets: dict, image: torch.Tensor, hand_side: torch.Tensor, settings: PipelineSettings,
                 crop_source: torch.Tensor | None = None, to_source=None, clock: _Clock | None = None,
                 *, track: tuple[torch.Tensor, torch.Tensor] | None = None, precision: str = "fp32",
                 channels_last: bool = False, mask_method: str = "auto") -> PipelineOutput:
    """The paper's pipeline on normalised B x 3 x h x w network-input images.

    ``crop_source`` (default: ``image``) is the image the crop is cut from; ``to_source`` maps
    (centre, scale) from network-input pixels to that image's pixels (the 'aspect' mode crops from the
    full-resolution frame). Keypoints come back in the crop; the caller maps them.

    ``track`` = (centre B x 2, keypoint extent B) in network-input pixels skips HandSegNet and crops
    ``TRACK_CROP_FACTOR`` times the extent around the centre (tracking mode). ``precision`` runs the
    networks under autocast (their outputs are cast back to float32 before any geometry),
    ``channels_last`` feeds them NHWC-strided inputs, ``mask_method`` picks the mask implementation.
    """
    tick = clock.mark if clock else (lambda name: None)
    amp = autocast(image.device, precision)
    crop_side = posenet_input_size(nets["posenet"])
    with torch.inference_mode():
        b, _, h, w = image.shape
        if track is None:
            with amp:
                logits = nets["handsegnet"](_layout(image, channels_last)).float()
            tick("handsegnet")
            mask, _ = single_object_mask(logits, settings.mask_threshold, method=mask_method)
            center, size = G.mask_center_and_size(mask)
            factor = settings.crop_factor
        else:
            tick("handsegnet")
            logits = None
            mask = torch.zeros(b, h, w, dtype=torch.bool, device=image.device)
            center, size = track
            factor = TRACK_CROP_FACTOR
        # the clip limits hold for the paper's 256 crop; a smaller crop scales them (same box)
        scale = G.crop_scale(size, factor)
        if crop_side != G.CROP_SIZE:
            scale = scale * (crop_side / G.CROP_SIZE)
        src = image if crop_source is None else crop_source
        c_src, s_src = (center, scale) if to_source is None else to_source(center, scale)
        boxes = G.normalize_boxes(G.crop_boxes(c_src, s_src, crop_side), src.shape[-2], src.shape[-1])
        crop = G.crop_and_resize(src, boxes, (crop_side, crop_side))
        tick("crop")
        with amp:
            scoremaps = [s.float() for s in nets["posenet"](_layout(crop, channels_last))]
        up = G.tf1_resize_bilinear(scoremaps[-1], (crop_side, crop_side))
        kp_crop, scores = G.scoremap_argmax(up)
        tick("posenet")
        with amp:
            coord_can = nets["poseprior"](scoremaps[-1], hand_side).float()
            axis_angle = nets["viewpoint"](scoremaps[-1], hand_side).float()
        xyz, rot = G.lift(coord_can, axis_angle, hand_side)
        tick("lifting")
    return PipelineOutput(logits, mask, center, size, scale, crop, scoremaps, kp_crop, scores,
                          coord_can, rot, xyz)


def track_box(keypoints_rc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Keypoints B x 21 x 2 (row, col, network-input pixels) -> the next frame's crop centre (box
    middle, B x 2) and extent (B; at least ``TRACK_MIN_EXTENT``) for tracking."""
    lo = keypoints_rc.amin(dim=1)
    hi = keypoints_rc.amax(dim=1)
    center = 0.5 * (lo + hi)
    extent = (hi - lo).amax(dim=1).clamp_min(TRACK_MIN_EXTENT)
    return center, extent


def fuse_conv_bn(module: torch.nn.Module) -> torch.nn.Module:
    """Fold every BatchNorm2d that directly follows a Conv2d inside an ``nn.Sequential`` into the
    conv (eval-mode arithmetic, in place; the BatchNorm becomes an Identity). Returns ``module``."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for seq in module.modules():
        if not isinstance(seq, torch.nn.Sequential):
            continue
        names = list(seq._modules)
        for a, b in zip(names, names[1:]):
            conv, bn = seq._modules[a], seq._modules[b]
            if isinstance(conv, torch.nn.Conv2d) and isinstance(bn, torch.nn.BatchNorm2d):
                seq._modules[a] = fuse_conv_bn_eval(conv, bn)
                seq._modules[b] = torch.nn.Identity()
    return module


def inference_copy(net: torch.nn.Module) -> torch.nn.Module:
    """The module the pipeline runs: ``net`` itself, or, when it has BatchNorm layers (the lite
    family), a copy with them folded into the convolutions (one operator less per layer)."""
    if not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules()):
        return net
    import copy

    fused = fuse_conv_bn(copy.deepcopy(net).eval())
    for name in ("input_size",):
        if hasattr(net, name):
            setattr(fused, name, getattr(net, name))
    return fused


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


@dataclass
class _TrackState:
    key: tuple                 # frame shape and the settings that define network-input pixels
    center: torch.Tensor       # 1 x 2 (row, col) network-input pixels, on the device
    extent: torch.Tensor       # 1
    confident: bool
    since_detect: int          # frames tracked since the last HandSegNet run


class HandPoseEstimator:
    """The three-stage pipeline on one device. Thread-compatible: one call at a time.

    Speed options (see the module doc): ``precision`` 'fp32' (default), 'bf16' or 'fp16' (autocast);
    ``channels_last`` True/False, or 'probe' (time both layouts once, on dummy inputs, keep the faster);
    default: 'probe' for the lite family on a CPU (milliseconds), on otherwise (measured faster for
    the paper networks on CPU, and what GPU tensor cores want); ``compile`` wraps the networks in ``torch.compile`` (on CUDA with
    CUDA graphs, mode 'reduce-overhead'; the first calls of each input shape compile); ``mask_method``
    as in :func:`handcam.segmentation.single_object_mask`; ``resize_uint8`` resizes frames to the
    network input before normalising them, on uint8 (default: lite family on CPU only);
    ``backend`` 'torch' or 'onnxruntime' runs the networks (see :mod:`handcam.onnx_backend`); None or
    'auto' (unless ``$HANDCAM_BACKEND`` says otherwise): ONNX Runtime on a CPU in fp32 without
    ``compile`` when it is installed (it then ignores ``channels_last``), else torch.
    """

    def __init__(self, networks: dict, device="auto", settings: PipelineSettings | None = None,
                 metadata: dict | None = None, *, precision: str = "fp32", channels_last: bool | str | None = None,
                 compile: bool = False, mask_method: str = "auto", resize_uint8: bool | None = None,
                 backend: str | None = None):
        missing = [k for k in NETWORKS if k not in networks]
        if missing:
            raise ValueError(f"networks missing: {missing}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {tuple(PRECISIONS)}, got {precision!r}")
        self.device = resolve_device(device)
        self.precision = precision
        if channels_last not in (None, True, False, "probe"):
            raise ValueError(f"channels_last must be True, False, 'probe' or None, got {channels_last!r}")
        self.compiled = bool(compile)
        self.backend = resolve_backend(backend or os.environ.get("HANDCAM_BACKEND") or "auto", self.device,
                                       precision, self.compiled)
        # ONNX Runtime picks its own layouts, so its networks stay contiguous
        self.channels_last = (self.backend == "torch"
                              and (True if channels_last in (None, "probe") else bool(channels_last)))
        self.mask_method = resolve_mask_method(mask_method, self.device)
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        self.networks = {k: n.to(self.device, memory_format=fmt).eval() for k, n in networks.items()}
        # a network family may run at its own default frame size (lite: 120x160)
        self.default_input_size = tuple(getattr(networks["handsegnet"], "input_size", PAPER_INPUT_SIZE))
        self._side_cache: dict = {}
        self.settings = self._resolve(settings or PipelineSettings())
        self.metadata = dict(metadata or {})
        self.architecture = str(self.metadata.get("architecture", getattr(
            self.networks["posenet"], "ARCHITECTURE", "paper")))
        # uint8 resizing of frames to the network input: 10x cheaper on a CPU than the float resize
        # but rounds the network input to 1/255; default for the lite family only (the paper
        # networks keep the float resize the parity tests pin down)
        self.resize_uint8 = (self.architecture == "lite" and self.device.type == "cpu") \
            if resize_uint8 is None else bool(resize_uint8)
        if self.backend == "onnxruntime":
            # the sessions are built on first use of each input shape
            self._nets = {k: OrtNetwork(inference_copy(n), k) for k, n in self.networks.items()}
        elif compile:
            mode = "reduce-overhead" if self.device.type == "cuda" else None
            self._nets = {k: torch.compile(inference_copy(n).to(memory_format=fmt), mode=mode, dynamic=False)
                          for k, n in self.networks.items()}
            # compiled modules keep the attributes the pipeline reads
            self._nets["posenet"].input_size = posenet_input_size(self.networks["posenet"])
        else:
            self._nets = {k: inference_copy(n).to(memory_format=fmt) for k, n in self.networks.items()}
            probe = channels_last == "probe" or (
                channels_last is None and self.architecture == "lite" and self.device.type == "cpu")
            if probe:
                self._probe_layout()
        self._track: _TrackState | None = None

    def _set_layout(self, channels_last: bool) -> None:
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        for n in (*self.networks.values(), *self._nets.values()):
            n.to(memory_format=fmt)
        self.channels_last = channels_last

    def _probe_layout(self, iterations: int = 3) -> dict:
        """Time the networks on dummy inputs of the pipeline's shapes in both memory layouts (best of
        ``iterations`` after one warm-up run) and keep the faster. Returns {layout: ms}."""
        s = posenet_input_size(self.networks["posenet"])
        image = torch.zeros(1, 3, *self.settings.input_size, device=self.device)
        crop = torch.zeros(1, 3, s, s, device=self.device)
        side = G.hand_side_onehot(["left"], device=self.device)
        times = {}
        for cl in (False, True):
            self._set_layout(cl)
            best = float("inf")
            with torch.inference_mode(), autocast(self.device, self.precision):
                for i in range(iterations + 1):
                    t0 = time.perf_counter()
                    self._nets["handsegnet"](_layout(image, cl))
                    maps = self._nets["posenet"](_layout(crop, cl))[-1]
                    self._nets["poseprior"](maps, side)
                    self._nets["viewpoint"](maps, side)
                    if self.device.type == "cuda":
                        torch.cuda.synchronize(self.device)
                    if i:
                        best = min(best, time.perf_counter() - t0)
            times["channels_last" if cl else "contiguous"] = best * 1000.0
        self._set_layout(times["channels_last"] <= times["contiguous"])
        log.info("layout probe (ms): %s -> channels_last=%s", times, self.channels_last)
        return times

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def load(cls, weights=None, device="auto", settings: PipelineSettings | None = None,
             **speed) -> "HandPoseEstimator":
        """Load handcam weights (a .pt from ``python -m handcam.weights`` or the training scripts);
        ``None`` looks in $HANDCAM_WEIGHTS, weights/handcam.pt and the download cache. The file's
        ``architecture`` ('paper' or 'lite') picks the networks. ``speed``: the constructor's options."""
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
        return cls(nets, device=device, settings=settings, metadata=meta, **speed)

    @classmethod
    def random(cls, seed: int = 0, device="auto", settings: PipelineSettings | None = None,
               arch: str = "paper", **speed) -> "HandPoseEstimator":
        """Freshly initialised networks (PyTorch default init, seeded) of ``arch`` ('paper' or 'lite'):
        for tests and benchmarks only."""
        classes = architecture_networks(arch)
        gen_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        try:
            nets = {k: cls_() for k, cls_ in classes.items()}
        finally:
            torch.random.set_rng_state(gen_state)
        return cls(nets, device=device, settings=settings,
                   metadata={"source": f"random(seed={seed})", "architecture": arch}, **speed)

    # -- inference ---------------------------------------------------------------------------
    def __call__(self, frames, hand_side: str | None = None, settings: PipelineSettings | None = None):
        """Estimate the hand pose in one frame (-> HandPose) or several (-> list of HandPose).

        Frames are RGB uint8, H x W x 3, any size; several frames of one size run as one batch.
        ``hand_side`` and ``settings`` override ``self.settings`` for this call. Tracking
        (``settings.tracking``) applies to calls with a single frame; batches are detected frame by frame.
        """
        single = isinstance(frames, np.ndarray) and frames.ndim == 3
        frames = _as_frames(frames)
        settings = self._resolve(settings or self.settings)
        if hand_side is not None:
            settings = settings.replace(hand_side=hand_side)
        if settings.tracking and len(frames) == 1:
            pose = self._run_tracked(frames[0], settings)
            return pose if single else [pose]
        results: list = [None] * len(frames)
        groups: dict = {}
        for i, f in enumerate(frames):
            groups.setdefault(f.shape, []).append(i)
        for idx in groups.values():
            for i, pose in zip(idx, self._run_same_size([frames[i] for i in idx], settings)):
                results[i] = pose
        return results[0] if single else results

    def process_video(self, frames, batch_size: int = 8, hand_side: str | None = None,
                      settings: PipelineSettings | None = None):
        """Offline video: yields one HandPose per frame of the iterable ``frames``, in order, running
        up to ``batch_size`` consecutive frames of one size as one batch (every frame is detected;
        no tracking). Best throughput on a GPU."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        settings = (settings or self.settings).replace(tracking=False)
        batch: list = []
        for frame in frames:
            frame = _as_frames(frame)[0]
            if batch and (len(batch) == batch_size or frame.shape != batch[0].shape):
                yield from self(batch, hand_side=hand_side, settings=settings)
                batch = []
            batch.append(frame)
        if batch:
            yield from self(batch, hand_side=hand_side, settings=settings)

    def reset_tracking(self) -> None:
        """Forget the previous frame: the next tracked call runs HandSegNet (e.g. after a source change)."""
        self._track = None

    def _run_tracked(self, frame: np.ndarray, settings: PipelineSettings) -> HandPose:
        key = (frame.shape, settings.resize_mode, tuple(settings.input_size))
        st = self._track
        use = (st is not None and st.key == key and st.confident
               and (settings.redetect_every == 0 or st.since_detect + 1 < settings.redetect_every))
        track = (st.center, st.extent) if use else None
        pose, (center, extent) = self._run_same_size([frame], settings, track=track, want_track=True)
        pose = pose[0]
        confident = bool(np.mean(pose.keypoint_scores) >= settings.track_min_score)
        self._track = _TrackState(key, center, extent, confident, (st.since_detect + 1) if use else 0)
        return pose

    def _resolve(self, settings: PipelineSettings) -> PipelineSettings:
        """Settings without an input size run at this network family's default."""
        return settings if settings.input_size else settings.replace(input_size=self.default_input_size)

    def _hand_side(self, side: str, n: int) -> torch.Tensor:
        """The hand-side one-hot on the device, cached (building it is a host->device copy)."""
        if (side, n) not in self._side_cache:
            self._side_cache[(side, n)] = G.hand_side_onehot([side] * n, device=self.device)
        return self._side_cache[(side, n)]

    def _upload(self, frames: list) -> torch.Tensor:
        batch = torch.from_numpy(np.stack(frames))
        if self.device.type == "cuda":
            return batch.pin_memory().to(self.device, non_blocking=True)
        return batch.to(self.device)

    def _run_same_size(self, frames: list, settings: PipelineSettings, track=None, want_track: bool = False):
        clock = _Clock(self.device)
        clock.mark("start")
        h, w = frames[0].shape[:2]
        raw = self._upload(frames)  # uint8 upload, normalised on the device
        net_hw = network_input_size((h, w), settings)
        if self.resize_uint8 and settings.resize_mode == "faithful" and (h, w) != tuple(net_hw):
            # the lite family's input: resize the uint8 frame (like the release's PIL resize), then
            # normalise the small image; the full-resolution frame is not needed in this mode
            full = image = G.normalize_image(G.resize_frames(raw.permute(0, 3, 1, 2), net_hw).permute(0, 2, 3, 1))
        else:
            full = G.normalize_image(raw)
            image = G.resize_frames(full, net_hw)
        side = self._hand_side(settings.hand_side, len(frames))
        clock.mark("preprocess")
        opts = dict(clock=clock, track=track, precision=self.precision, channels_last=self.channels_last,
                    mask_method=self.mask_method)
        crop_side = posenet_input_size(self.networks["posenet"])
        if settings.resize_mode == "aspect":
            # the mean of the two axis ratios in float32, as a scalar (no host->device copy)
            ratio = float(torch.tensor([h / net_hw[0], w / net_hw[1]]).mean())

            def to_frame(center, scale):
                return G.resize_points(center[:, None], net_hw, (h, w))[:, 0], scale / ratio

            out = run_pipeline(self._nets, image, side, settings, crop_source=full, to_source=to_frame, **opts)
            center_f, scale_f = to_frame(out.center, out.scale)
            kp_frame = G.crop_to_image(out.keypoints_crop, center_f, scale_f, crop_side)
            box_f = G.crop_boxes(center_f, scale_f, crop_side)  # y1 x1 y2 x2 in frame pixels
        else:
            out = run_pipeline(self._nets, image, side, settings, **opts)
            kp_net = G.crop_to_image(out.keypoints_crop, out.center, out.scale, crop_side)
            kp_frame = G.resize_points(kp_net, net_hw, (h, w))
            center_f = G.resize_points(out.center[:, None], net_hw, (h, w))[:, 0]
            corners = G.crop_boxes(out.center, out.scale, crop_side).reshape(-1, 2, 2)  # network-input px
            box_f = G.resize_points(corners, net_hw, (h, w)).reshape(-1, 4)
        if (h, w) != tuple(net_hw):
            mask_f = torch.nn.functional.interpolate(out.mask[:, None].to(torch.uint8), size=(h, w),
                                                     mode="nearest")[:, 0].bool()
        else:
            mask_f = out.mask
        next_track = track_box(G.crop_to_image(out.keypoints_crop, out.center, out.scale, crop_side)) \
            if want_track else None
        crop_u8 = ((out.crop + 0.5) * 255.0).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
        host = self._to_host(dict(
            mask=mask_f, center=center_f, scale=out.scale, box=box_f, crop=crop_u8, kp_crop=out.keypoints_crop,
            kp=kp_frame, scores=out.keypoint_scores, xyz=out.keypoints_3d, area=out.mask.sum((1, 2))))
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
                mask_area=int(host["area"][i]), timings_ms=dict(per_frame), tracked=track is not None))
        return (poses, next_track) if want_track else poses

    def _to_host(self, tensors: dict) -> dict:
        """The one device -> host copy of a call's results (a single synchronisation on CUDA)."""
        if self.device.type != "cuda":
            return {k: v.numpy() for k, v in tensors.items()}
        moved = {k: v.to("cpu", non_blocking=True) for k, v in tensors.items()}
        torch.cuda.current_stream(self.device).synchronize()
        return {k: v.numpy() for k, v in moved.items()}
