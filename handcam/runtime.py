"""Where and how the networks run: device, precision, memory layout, compilation, backend, threads,
and the one stage clock. The stages call networks as plain callables; ``prepare_networks`` makes
those callables from the registry's modules and a ``RuntimeOptions``.
"""
from __future__ import annotations

import contextlib
import copy
import logging
import os
import time

import torch

from .errors import InputError
from .models.registry import NETWORK_KEYS, Architecture
from .settings import RuntimeOptions

log = logging.getLogger(__name__)

#: autocast dtype of each precision ('fp32' runs without autocast).
AUTOCAST_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


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


def inference_threads(cores: int | None = None) -> int:
    """The documented CPU thread rule: leave one core to the rest of the process (GUI, capture) and
    the machine, ``max(1, cores - 1)`` intra-op threads (OpenMP workers that lose their core stall
    every operator at its barrier, so using every core is never the safe default).
    ``HANDCAM_THREADS=N`` overrides the rule (on an idle machine all cores can be faster)."""
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
    n = max(1, int(threads or inference_threads()))
    torch.set_num_threads(n)
    log.info("torch intra-op threads: %d", n)
    return n


def autocast(device: torch.device, precision: str = "fp32"):
    """The autocast context of a precision ('fp32': none) on a device."""
    if precision not in AUTOCAST_DTYPES:
        raise ValueError(f"precision must be one of {tuple(AUTOCAST_DTYPES)}, got {precision!r}")
    dtype = AUTOCAST_DTYPES[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


class Clock:
    """Stage timings: CUDA events on a GPU (no extra syncs until ``elapsed_ms``), perf_counter on a CPU.
    ``mark(name)`` ends the stage ``name`` (the first mark starts the clock)."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.marks: list = []

    def mark(self, name: str) -> None:
        if self.cuda:
            ev = torch.cuda.Event(enable_timing=True)
            ev.record()
            self.marks.append((name, ev))
        else:
            self.marks.append((name, time.perf_counter()))

    def elapsed_ms(self) -> dict:
        """Stage name -> milliseconds (a repeated name adds up)."""
        if self.cuda:
            torch.cuda.synchronize()
        out: dict = {}
        for (_, a), (name, b) in zip(self.marks, self.marks[1:]):
            ms = a.elapsed_time(b) if self.cuda else (b - a) * 1000.0
            out[name] = out.get(name, 0.0) + ms
        return out

    def total_ms(self) -> float:
        return sum(self.elapsed_ms().values())


def fuse_conv_bn(module: torch.nn.Module) -> torch.nn.Module:
    """Fold every BatchNorm2d that directly follows a Conv2d inside an ``nn.Sequential``, and the
    BatchNorm of every EfficientNet ``ConvBN`` (the lite trunks), into the conv (eval-mode arithmetic,
    in place; the BatchNorm becomes an Identity). Returns ``module``."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    from .models.efficientnet import ConvBN

    for block in module.modules():
        if isinstance(block, ConvBN) and isinstance(block.bn, torch.nn.BatchNorm2d):
            block.conv = fuse_conv_bn_eval(block.conv, block.bn)
            block.bn = torch.nn.Identity()
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
    return fuse_conv_bn(copy.deepcopy(net).eval())


class TorchNetwork:
    """A network as the stages call it: inputs in the chosen memory layout, run under the chosen
    autocast, outputs as they come (the stages cast them to float32)."""

    def __init__(self, module: torch.nn.Module, device: torch.device, precision: str, channels_last: bool):
        self.module = module
        self.device = device
        self.precision = precision
        self.set_layout(channels_last)

    def set_layout(self, channels_last: bool) -> None:
        self.channels_last = bool(channels_last)
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        self.module.to(memory_format=fmt)

    def __call__(self, *inputs: torch.Tensor):
        if self.channels_last:
            inputs = tuple(x.contiguous(memory_format=torch.channels_last) if x.ndim == 4 else x for x in inputs)
        with autocast(self.device, self.precision):
            return self.module(*inputs)


def resolve_backend(options: RuntimeOptions, device: torch.device) -> str:
    """The backend that runs the networks: see ``RuntimeOptions.backend`` (``$HANDCAM_BACKEND`` is the
    default of 'auto')."""
    from .onnx_backend import resolve_backend as resolve

    backend = options.backend
    if backend == "auto":
        backend = os.environ.get("HANDCAM_BACKEND") or "auto"
    return resolve(backend, device, options.precision, options.compile)


def prepare_networks(networks: dict, arch: Architecture, device: torch.device, options: RuntimeOptions) -> tuple:
    """(modules, callables, backend, channels_last): the caller's modules are copied (never changed),
    moved to ``device`` in eval mode; the callables run them as ``options`` say."""
    missing = [k for k in NETWORK_KEYS if k not in networks]
    if missing:
        raise ValueError(f"networks missing: {missing}")
    backend = resolve_backend(options, device)
    # ONNX Runtime picks its own layouts, so its networks stay contiguous
    channels_last = backend == "torch" and options.layout != "contiguous"
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    modules = {k: copy.deepcopy(networks[k]).to(device, memory_format=fmt).eval() for k in NETWORK_KEYS}
    if backend == "onnxruntime":
        from .onnx_backend import OrtNetwork
        from .stages.lift import LiftModule

        # the sessions are built on first use of each input shape; both lifting networks run with their
        # input resize as one graph (the small arithmetic around the networks runs in numpy, not in graphs:
        # ONNX Runtime's per-operator overhead measured larger than numpy's)
        calls = {k: OrtNetwork(inference_copy(n), k) for k, n in modules.items()}
        prior, view = inference_copy(modules["poseprior"]), inference_copy(modules["viewpoint"])
        calls["lift"] = OrtNetwork(LiftModule(prior, view, arch.scoremap_size), "lift")
        return modules, calls, backend, False
    runnable = {k: inference_copy(n).to(memory_format=fmt) for k, n in modules.items()}
    if options.compile:
        mode = "reduce-overhead" if device.type == "cuda" else None
        runnable = {k: torch.compile(n, mode=mode, dynamic=False) for k, n in runnable.items()}
    calls = {k: TorchNetwork(n, device, options.precision, channels_last) for k, n in runnable.items()}
    probe = options.layout == "probe" or (options.layout == "auto" and arch.probe_layout
                                          and device.type == "cpu" and not options.compile)
    if probe:
        channels_last = probe_layout(calls, arch, device)
    return modules, calls, backend, channels_last


def probe_layout(calls: dict, arch: Architecture, device: torch.device, iterations: int = 3) -> bool:
    """Time the networks on dummy inputs of the family's shapes in both memory layouts (best of
    ``iterations`` after one warm-up run), keep the faster; returns whether it is channels_last."""
    times = layout_times(calls, arch, device, iterations)
    channels_last = times["channels_last"] <= times["contiguous"]
    for n in calls.values():
        n.set_layout(channels_last)
    log.info("layout probe (ms): %s -> channels_last=%s", times, channels_last)
    return channels_last


def layout_times(calls: dict, arch: Architecture, device: torch.device, iterations: int = 3) -> dict:
    """{'contiguous': ms, 'channels_last': ms}: the best of ``iterations`` runs (after one warm-up) of
    the networks (``TorchNetwork``s) on dummy inputs of the family's shapes in each memory layout.
    Leaves the networks channels_last; ``probe_layout`` keeps the faster."""
    image = torch.zeros(1, 3, *arch.input_size, device=device)
    crop = torch.zeros(1, 3, arch.crop_size, arch.crop_size, device=device)
    maps_in = torch.zeros(1, 21, arch.scoremap_size, arch.scoremap_size, device=device)  # the lifting input
    side = torch.tensor([[1.0, 0.0]], device=device)
    times = {}
    for cl in (False, True):
        for n in calls.values():
            n.set_layout(cl)
        best = float("inf")
        with torch.inference_mode():
            for i in range(iterations + 1):
                t0 = time.perf_counter()
                calls["handsegnet"](image)
                calls["posenet"](crop)
                calls["poseprior"](maps_in, side)
                calls["viewpoint"](maps_in, side)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                if i:
                    best = min(best, time.perf_counter() - t0)
        times["channels_last" if cl else "contiguous"] = best * 1000.0
    return times
