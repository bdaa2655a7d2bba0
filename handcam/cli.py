"""Command line of ``main.py``: the desktop app by default, or headless processing of an image/video.

    python main.py                                   # webcam in a window
    python main.py --video clip.mp4                  # a video file in the window
    python main.py --image hand.png --headless --json out.json --figure fig.png
    python main.py --video clip.mp4 --headless --json out.jsonl [--out-video out.mp4]
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from .errors import HandcamError
from .pose import RESIZE_MODES, PipelineSettings

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="main.py",
        description="handcam: 3D hand pose from a single RGB image (ColorHandPose3D). Without "
                    "--headless a window shows the webcam (or --video/--image) with the hand mask, "
                    "2D keypoints and a rotatable 3D hand.")
    src = p.add_argument_group("input (default: the webcam)")
    src.add_argument("--camera", type=int, default=0, metavar="N", help="camera index for OpenCV (default 0)")
    src.add_argument("--video", metavar="PATH", help="a video file instead of the camera")
    src.add_argument("--image", metavar="PATH", help="a single image instead of the camera")
    model = p.add_argument_group("model")
    model.add_argument("--weights", metavar="W.pt",
                       help="handcam weights (default: $HANDCAM_WEIGHTS, weights/handcam.pt, then the "
                            "download cache; see `python -m handcam.weights --help`)")
    model.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                       help="where the networks run (auto: CUDA when present)")
    model.add_argument("--backend", default=None, choices=("auto", "torch", "onnxruntime"),
                       help="what runs the networks on a CPU (default: $HANDCAM_BACKEND, else auto: ONNX Runtime "
                            "when installed, except for a single --image, where exporting the networks would "
                            "cost more than it saves)")
    model.add_argument("--hand-side", default=None, choices=("left", "right"),
                       help="which hand is shown (the lifting networks need it; default left, or in the "
                            "window the side chosen last time)")
    model.add_argument("--crop-factor", type=float, default=1.25, help="enlarge the hand box by this (1.25)")
    model.add_argument("--mask-threshold", type=float, default=0.5,
                       help="hand probability above which a pixel is hand (0.5, as the release rounds)")
    model.add_argument("--resize-mode", default="faithful", choices=RESIZE_MODES,
                       help="faithful: squash every frame to 240x320 like the release; aspect: keep the "
                            "aspect ratio and crop from the full-resolution frame")
    out = p.add_argument_group("headless output")
    out.add_argument("--headless", action="store_true", help="no window: process --image or --video and exit")
    out.add_argument("--json", metavar="OUT", help="write results as JSON (image) or JSON lines (video)")
    out.add_argument("--figure", metavar="OUT.png", help="(image) save the release's 2x2 result figure")
    out.add_argument("--out-video", metavar="OUT.mp4", help="(video) write an annotated video")
    p.add_argument("-v", "--verbose", action="store_true", help="log more")
    return p


def settings_from_args(args) -> PipelineSettings:
    """PipelineSettings from main.py's flags; a flag the namespace lacks or leaves None keeps the
    default (the input size always does: each network family has its own)."""
    given = {k: getattr(args, k, None) for k in ("crop_factor", "mask_threshold", "resize_mode", "hand_side")}
    return PipelineSettings(**{k: v for k, v in given.items() if v is not None})


def backend_from_args(args, single_frame: bool = False) -> str | None:
    """--backend, or None (the estimator's default: $HANDCAM_BACKEND, else auto); for one frame, torch
    unless asked otherwise (the ONNX export of the paper networks takes longer than a frame)."""
    backend = getattr(args, "backend", None)
    if backend is None and single_frame and not os.environ.get("HANDCAM_BACKEND"):
        return "torch"
    return backend


def run_image(args) -> int:
    """Headless single image: JSON (file or stdout) and optional figure."""
    from .estimator import HandPoseEstimator
    from .sources import load_image

    frame = load_image(args.image)
    est = HandPoseEstimator.load(weights=args.weights, device=args.device, settings=settings_from_args(args),
                                 backend=backend_from_args(args, single_frame=True))
    pose = est(frame)
    result = {"image": str(args.image), "image_size": [int(frame.shape[1]), int(frame.shape[0])],
              "device": str(est.device), **pose.to_json()}
    text = json.dumps(result)
    if args.json:
        Path(args.json).write_text(text + "\n")
        log.info("wrote %s", args.json)
    else:
        print(text)
    if args.figure:
        from .figure import save_figure
        save_figure(args.figure, frame, pose, title=f"{Path(args.image).name} ({pose.hand_side} hand)")
        log.info("wrote %s", args.figure)
    return 0


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s" if args.verbose else "%(message)s")
    try:
        settings_from_args(args)  # validate the tunables early
        if args.image and args.video:
            parser.error("pass either --image or --video, not both")
        if args.headless:
            if args.image:
                return run_image(args)
            if args.video:
                from .app.headless import run_video
                return run_video(args)
            parser.error("--headless needs --image PATH or --video PATH")
        if args.figure or args.out_video:
            parser.error("--figure and --out-video go with --headless")
        from .app import run
        return run(args)
    except (HandcamError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
