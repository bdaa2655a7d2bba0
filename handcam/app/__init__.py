"""The desktop app (PyQt5 + pyqtgraph). Qt is imported only inside ``run`` so that headless use
(``handcam.app.headless``) never needs a display."""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def estimator_factory(args):
    """A callable that loads the estimator the command line asks for (run in the worker thread)."""
    from ..pose import PipelineSettings

    weights = getattr(args, "weights", None)
    device = getattr(args, "device", None) or "auto"
    side = getattr(args, "hand_side", None)

    def load():
        from ..estimator import HandPoseEstimator

        settings = PipelineSettings(hand_side=side) if side else PipelineSettings()
        return HandPoseEstimator.load(weights=weights, device=device, settings=settings)

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

    from PyQt5 import QtCore, QtWidgets

    from .window import APPLICATION, ORGANIZATION, MainWindow

    QtCore.QCoreApplication.setOrganizationName(ORGANIZATION)
    QtCore.QCoreApplication.setApplicationName(APPLICATION)
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    window = MainWindow(estimator_factory=estimator_factory_ or estimator_factory(args),
                        source=source_spec(args), hand_side=getattr(args, "hand_side", None),
                        output_dir=getattr(args, "output_dir", None))
    window.show()
    return int(app.exec_())
