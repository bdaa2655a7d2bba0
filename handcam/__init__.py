"""handcam: ColorHandPose3D (Zimmermann & Brox, ICCV 2017) in PyTorch.

    from handcam import HandPoseEstimator
    est = HandPoseEstimator.load(weights="W.pt", device="auto")
    result = est.estimate(rgb_uint8_frame)          # FrameResult; for hand in result.hands: hand.keypoints_2d ...
"""
__version__ = "0.2.0"

_LAZY = {
    "HandPoseEstimator": "estimator",
    "PipelineSettings": "settings",
    "RuntimeOptions": "settings",
    "FrameResult": "results",
    "HandPose": "results",
    "HandTracker": "tracking",
    "TrackingOptions": "tracking",
}


def __getattr__(name):  # lazy, so that `import handcam.skeleton` stays light
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'handcam' has no attribute {name!r}")


__all__ = [*_LAZY, "__version__"]
