"""Work-arounds for the environment, each with its reason."""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def preload_triton() -> None:
    """Import ``torch._dynamo`` (and with it Triton) before any OpenGL context exists.

    Triton's shared library carries its own LLVM; loading it after Mesa's software OpenGL (which
    also links LLVM) has been loaded crashes the process in LLVM's static initialisers. The GUI
    creates GL contexts and the optimiser / ``torch.compile`` import ``torch._dynamo`` lazily, so
    whoever may create a GL context calls this first. A no-op when already imported.
    """
    try:
        import torch._dynamo  # noqa: F401
    except Exception as e:  # pragma: no cover - an unusual torch build
        log.debug("torch._dynamo not preloaded: %s", e)
