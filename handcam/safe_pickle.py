"""The one restricted unpickler: numpy arrays, numpy scalars and plain Python values, nothing else.

Every pickle handcam reads goes through :func:`load_numpy_pickle`: the official ColorHandPose3D
weight pickles (``handcam.weights``), RHD's annotation files and the synthetic data's records
(``training``). Python 2 pickles (``copy_reg``, ``__builtin__``, latin-1 strings) and pickles written
by numpy 1.x (``numpy.core``) or 2.x (``numpy._core``) load; any other global (a function, a class
to construct) raises ``pickle.UnpicklingError`` naming it, before anything runs.
"""
from __future__ import annotations

import io
import os
import pickle

import numpy as np

#: (module, name) globals a pickle of numpy arrays and builtins needs.
ALLOWED = frozenset({
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("copy_reg", "_reconstructor"), ("copyreg", "_reconstructor"),
    ("__builtin__", "object"), ("builtins", "object"), ("_codecs", "encode"),
})


class NumpyUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` admitting only :data:`ALLOWED`; ``what`` names the file in errors."""

    def __init__(self, file, what: str = "a pickle"):
        super().__init__(file, encoding="latin1")
        self.what = what

    def find_class(self, module, name):
        if (module, name) not in ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from {self.what}")
        if module == "copy_reg":
            module = "copyreg"
        elif module == "__builtin__":
            module = "builtins"
        elif module.startswith("numpy.core") and hasattr(np, "_core"):
            module = module.replace("numpy.core", "numpy._core")  # numpy 2 moved it (no deprecation warning)
        return super().find_class(module, name)


def load_numpy_pickle(source, what: str = "a pickle"):
    """Unpickle ``source`` (a path, the pickle's bytes, or a binary file object) safely.

    ``what`` says what the file is in the error message (e.g. "a weights pickle"). Raises
    ``pickle.UnpicklingError`` for a forbidden global, and what ``pickle`` raises for a corrupt file.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        return NumpyUnpickler(io.BytesIO(source), what).load()
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            return NumpyUnpickler(io.BytesIO(f.read()), what).load()
    return NumpyUnpickler(source, what).load()
