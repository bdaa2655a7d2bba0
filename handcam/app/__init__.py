"""The desktop app (PyQt5 + pyqtgraph): ``run(config)`` opens the window on the config's source.

Modules: ``window`` (wiring, sources), ``layout`` (widgets, menus), ``controls`` (control rows from
the settings' metadata), ``overlay`` (frame and crop views as pyqtgraph layers), ``views`` (3D hands,
confidences), ``status`` (banner, status bar), ``outputs`` (screenshots, recordings on a writer
thread), ``state`` (saved window settings), ``opening`` (sources, dialogs), ``capture`` and
``worker`` (the two threads). Qt is imported only inside ``run``, so that importing this package
(and the headless paths) never needs a display.
"""
from __future__ import annotations

import logging
from typing import Callable

from ..config import RunConfig
from ..protocol import Estimator

log = logging.getLogger(__name__)


def estimator_factory(config: RunConfig) -> Estimator:
    """Load the estimator the config asks for (the window calls this in its worker thread); on a
    CPU, apply the library's thread rule for a process with a GUI thread."""
    from ..config import load_estimator
    from ..runtime import set_inference_threads

    estimator = load_estimator(config)
    if estimator.device.type == "cpu":
        set_inference_threads()
    return estimator


_load_estimator = estimator_factory  # run()'s parameter of the same name shadows it there


def run(config: RunConfig, estimator_factory: Callable[[RunConfig], Estimator] | None = None) -> int:
    """Open the window on ``config.source`` and run until it is closed; returns the exit status.
    ``estimator_factory(config)`` (default: load the config's weights) runs in the worker thread."""
    import sys

    from ..compat import preload_triton

    preload_triton()  # before the first GL context: see handcam.compat

    from PyQt5 import QtCore, QtWidgets

    from .state import APPLICATION, ORGANIZATION
    from .views import share_gl_contexts
    from .window import MainWindow

    share_gl_contexts()
    QtCore.QCoreApplication.setOrganizationName(ORGANIZATION)
    QtCore.QCoreApplication.setApplicationName(APPLICATION)
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    window = MainWindow(config, estimator_factory or _load_estimator, source=config.source)
    window.show()
    return int(app.exec_())
