"""Run the networks with ONNX Runtime on the CPU (the estimator's ``backend='onnxruntime'``).

Measured on the 2-core CPU at batch 1 (random weights, outputs equal to PyTorch's to a relative 1e-6):
the lite networks take 2.3 ms instead of 5.1 ms (ONNX Runtime fuses each conv with its activation and
has less per-operator overhead), the paper networks about 8 % less than PyTorch with channels_last.
So ``backend='auto'`` picks it on the CPU whenever ``onnxruntime`` and ``onnx`` (the exporter writes
its format) are installed, the precision is fp32 and ``torch.compile`` is not asked for.

Each network is exported in memory (``torch.onnx.export``, batch size left dynamic) the first time it
sees an input shape, so a new frame size costs one export (paper HandSegNet about 1 s, lite networks
0.1 s); the sessions run with the estimator's thread count and release the GIL, so a GUI stays
responsive. The weights are read at export time: change them and build a new estimator.
"""
from __future__ import annotations

import io
import logging
import warnings

import numpy as np
import torch

from .errors import InputError
from .geometry import host_array
from .settings import BACKENDS

log = logging.getLogger(__name__)

OPSET = 17
HOW_TO_INSTALL = "pip install onnxruntime onnx (or use backend='torch')"


_AVAILABLE: bool | None = None


def available() -> bool:
    """Whether ONNX Runtime and the ONNX package (the exporter needs it) import (checked once; a broken
    install counts as absent, with a warning)."""
    global _AVAILABLE
    if _AVAILABLE is None:
        try:
            import onnx  # noqa: F401
            import onnxruntime  # noqa: F401
            _AVAILABLE = True
        except Exception as e:     # noqa: BLE001 - any import failure means: use torch
            _AVAILABLE = False
            if not (isinstance(e, ModuleNotFoundError) and e.name in ("onnx", "onnxruntime")):   # not just absent
                log.warning("onnxruntime/onnx are installed but do not import (%s); using PyTorch", e)
    return _AVAILABLE


def resolve_backend(backend: str, device: torch.device, precision: str, compile: bool) -> str:
    """'auto' -> 'onnxruntime' on a CPU in fp32 without torch.compile when installed, else 'torch'.
    An explicit 'onnxruntime' that cannot run raises InputError (a ValueError) naming why."""
    if backend not in BACKENDS:
        raise InputError(f"backend must be one of {BACKENDS}, got {backend!r}")
    reasons = []
    if device.type != "cpu":
        reasons.append(f"it runs on the CPU only (device is {device})")
    if precision != "fp32":
        reasons.append(f"it runs fp32 only (precision is {precision})")
    if compile:
        reasons.append("compile=True is a torch option")
    if not available():
        reasons.append(f"onnxruntime/onnx are not installed ({HOW_TO_INSTALL})")
    if backend == "onnxruntime" and reasons:
        raise InputError("backend='onnxruntime' cannot be used: " + "; ".join(reasons))
    if backend == "auto":
        return "torch" if reasons else "onnxruntime"
    return backend


class OrtNetwork:
    """Called like the torch module it wraps (torch tensors in, torch tensors out: one tensor, or a
    list for a network that returns a list), run by ONNX Runtime; one session per input shape."""

    def __init__(self, module: torch.nn.Module, name: str, threads: int | None = None):
        self.module = module.eval()
        self.name = name
        self.threads = threads      # None: torch's thread count when a session is built (the app sets it)
        self._sessions: dict[tuple, tuple] = {}

    @property
    def session_count(self) -> int:
        """How many sessions (exports) this network holds: one per input shape it has seen."""
        return len(self._sessions)

    def _session(self, inputs: tuple[np.ndarray, ...]):
        key = tuple(x.shape[1:] for x in inputs)
        if key not in self._sessions:
            import onnxruntime as ort

            names = [f"in{i}" for i in range(len(inputs))]
            buf = io.BytesIO()
            # tracing needs ordinary tensors: leave inference mode (the pipeline runs in it)
            with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")           # tracer warnings about shape arithmetic
                example = tuple(torch.from_numpy(x.copy()) for x in inputs)
                ref = self.module(*example)
                as_list = isinstance(ref, (list, tuple))
                outs = [f"out{i}" for i in range(len(ref) if as_list else 1)]
                torch.onnx.export(self.module, example, buf, dynamo=False, opset_version=OPSET,
                                  input_names=names, output_names=outs,
                                  dynamic_axes={n: {0: "batch"} for n in names + outs})
            opts = ort.SessionOptions()
            threads = self.threads or torch.get_num_threads()
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            opts.log_severity_level = 3
            sess = ort.InferenceSession(buf.getvalue(), opts, providers=["CPUExecutionProvider"])
            log.info("%s: exported to ONNX for inputs %s (%d threads)", self.name, key, threads)
            self._sessions[key] = (sess, names, as_list)
        return self._sessions[key]

    def __call__(self, *inputs: torch.Tensor):
        arrays = tuple(np.ascontiguousarray(host_array(x)) for x in inputs)   # float32, no copy when it is one
        sess, names, as_list = self._session(arrays)
        outs = [torch.from_numpy(o) for o in sess.run(None, dict(zip(names, arrays)))]
        return outs if as_list else outs[0]

