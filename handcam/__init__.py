"""handcam: ColorHandPose3D (Zimmermann & Brox, ICCV 2017) in PyTorch.

    from handcam import HandPoseEstimator
    est = HandPoseEstimator.load(weights="W.pt", device="auto")
    pose = est(rgb_uint8_frame, hand_side="left")
"""
__version__ = "0.1.0"


def __getattr__(name):  # lazy, so that `import handcam.skeleton` stays light
    if name == "HandPoseEstimator":
        from .estimator import HandPoseEstimator
        return HandPoseEstimator
    if name in ("PipelineSettings", "HandPose"):
        from . import pose
        return getattr(pose, name)
    raise AttributeError(f"module 'handcam' has no attribute {name!r}")


__all__ = ["HandPoseEstimator", "PipelineSettings", "HandPose", "__version__"]
