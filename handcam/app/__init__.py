"""The desktop app (PyQt5 + pyqtgraph). Qt is imported only inside ``run`` so that headless use
(``handcam.app.headless``) never needs a display."""
from __future__ import annotations

import logging

from ..cli import backend_from_args, settings_from_args

log = logging.getLogger(__name__)


def estimator_factory(args):
    """A callable that loads the estimator the command line asks for (run in the worker thread)."""
    weights = getattr(args, "weights", None)
    device = getattr(args, "device", None) or "auto"
    settings = settings_from_args(args)
    backend = backend_from_args(args)

    def load():
        from ..estimator import HandPoseEstimator, set_inference_threads

        estimator = HandPoseEstimator.load(weights=weights, device=device, settings=settings, backend=backend)
        if estimator.device.type == "cpu":
            set_inference_threads()  # the library's rule for an app with a GUI thread
        return estimator

    return load


def source_spec(args):
    """("video", path) / ("image", path) / ("camera", n) from the command line (default camera 0)."""
    if getattr(args, "video", None):
        return ("video", args.video)
    if getattr(args, "image", None):
        return ("image", args.image)
    camera = getattr(args, "camera", None)
    return ("camera", 0 if camera is None else int(camera))


def run(args, estimator_factory_=None) -> int:
    """Open the window on the source the arguments name and run until it is closed."""
    import sys

    from ..compat import preload_triton

    preload_triton()  # before the first GL context: see handcam.compat

    from PyQt5 import QtCore, QtWidgets

    from .views import share_gl_contexts
    from .window import APPLICATION, ORGANIZATION, MainWindow

    share_gl_contexts()
    QtCore.QCoreApplication.setOrganizationName(ORGANIZATION)
    QtCore.QCoreApplication.setApplicationName(APPLICATION)
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    from ..pose import PipelineSettings

    # the sliders start where they were left unless the command line set another value
    settings = settings_from_args(args)
    defaults = PipelineSettings()
    overrides = {k: getattr(settings, k) for k in ("crop_factor", "mask_threshold")
                 if getattr(settings, k) != getattr(defaults, k)}
    window = MainWindow(estimator_factory=estimator_factory_ or estimator_factory(args),
                        source=source_spec(args), hand_side=getattr(args, "hand_side", None),
                        pipeline_settings=settings, setting_overrides=overrides,
                        output_dir=getattr(args, "output_dir", None))
    window.show()
    return int(app.exec_())
