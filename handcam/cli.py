"""Command line of ``main.py``: parses the flags into one ``RunConfig`` and hands it over -- to the
desktop app by default, or to headless processing of an image or a video. Errors become one line
on stderr and exit status 2.

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

from .config import Outputs, RunConfig, SourceSpec, check_output_folder, check_output_path, load_estimator
from .errors import USER_ERRORS, print_error
from .settings import BACKENDS, PipelineSettings, RuntimeOptions, setting_fields

log = logging.getLogger(__name__)


def add_setting_flags(group) -> None:
    """One flag per PipelineSettings field that has one, from the field's own help, choices and
    default (the default is shown, but left unset so that a given value is detected as given)."""
    for name, f in setting_fields().items():
        meta = f.metadata
        if not meta.get("flag", True):
            continue
        kw = dict(default=None, help=f"{meta['help']} (default {f.default})")
        if meta.get("choices"):
            kw["choices"] = meta["choices"]
        elif isinstance(f.default, bool):
            kw["action"] = "store_true"
            kw["help"] = meta["help"]
        elif meta.get("nargs"):
            kw.update(type=float, nargs=meta["nargs"], metavar="X")
        else:
            kw["type"] = type(f.default)
            kw["metavar"] = meta.get("metavar") or "X"
        group.add_argument("--" + name.replace("_", "-"), **kw)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python main.py" if Path(sys.argv[0]).name == "main.py" else "handcam",
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
    model.add_argument("--backend", default=None, choices=BACKENDS,
                       help="what runs the networks on a CPU (default: $HANDCAM_BACKEND, else auto: ONNX Runtime "
                            "when installed, except for a single --image, where exporting the networks would "
                            "cost more than it saves)")
    add_setting_flags(model)
    out = p.add_argument_group("output")
    out.add_argument("--headless", action="store_true", help="no window: process --image or --video and exit")
    out.add_argument("--json", metavar="OUT", help="write results as JSON (image) or JSON lines (video)")
    out.add_argument("--figure", metavar="OUT.png", help="(image) save the release's 2x2 result figure")
    out.add_argument("--out-video", metavar="OUT.mp4", help="(video) write an annotated video")
    out.add_argument("--smooth", action="store_true",
                     help="(headless video) One Euro filter on each hand's keypoints, per hand id (hand ids follow "
                          "the hands from frame to frame either way; the window smooths unless told not to)")
    out.add_argument("--batch", type=int, default=None, metavar="N",
                     help="(headless video) frames per network call (default: 8 on CUDA, 1 on a CPU)")
    out.add_argument("--output-dir", metavar="DIR",
                     help="(window) where screenshots and recordings go (default: the current folder; "
                          "created when missing)")
    p.add_argument("-v", "--verbose", action="store_true", help="log more")
    return p


def config_from_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> RunConfig:
    """The run's configuration; bad combinations end through ``parser.error`` (exit 2)."""
    if args.image and args.video:
        parser.error("pass either --image or --video, not both")
    if not args.headless and (args.figure or args.out_video or args.json):
        parser.error("--json, --figure and --out-video go with --headless")
    if args.headless and not (args.image or args.video):
        parser.error("--headless needs --image PATH or --video PATH")
    if args.headless and args.video and not (args.json or args.out_video):
        parser.error("--headless --video needs an output: --json OUT.jsonl and/or --out-video OUT.mp4")
    if args.image and args.out_video:
        parser.error("--out-video goes with --video")
    if args.video and args.figure:
        parser.error("--figure goes with --image")
    if args.smooth and not (args.headless and args.video):
        parser.error("--smooth goes with --headless --video (the window has its own switch)")
    if args.batch is not None and args.batch < 1:
        parser.error("--batch must be at least 1")
    given = {k: getattr(args, k) for k in setting_fields() if getattr(args, k, None) is not None}
    settings = PipelineSettings(**given)  # ValueError names a bad value
    if args.video:
        source = SourceSpec("video", args.video)
    elif args.image:
        source = SourceSpec("image", args.image)
    else:
        source = SourceSpec("camera", int(args.camera))
    backend = args.backend
    if backend is None and args.headless and args.image:
        backend = None if os.environ.get("HANDCAM_BACKEND") else "torch"
    outputs = Outputs(*(Path(p) if p else None for p in (args.json, args.figure, args.out_video)))
    for path in outputs.paths():  # before any work
        check_output_path(path)
    output_dir = check_output_folder(args.output_dir) if args.output_dir else None
    return RunConfig(source=source, weights=args.weights, device=args.device,
                     runtime=RuntimeOptions(backend=backend or "auto"), settings=settings,
                     explicit=frozenset(given), headless=args.headless, outputs=outputs,
                     batch_size=args.batch, output_dir=output_dir, verbose=args.verbose, smooth=args.smooth)


def run_image(config: RunConfig, estimator=None) -> int:
    """Headless single image: JSON (file or stdout) and optional figure."""
    from .sources import load_image

    path = config.source.value
    frame = load_image(path)
    if estimator is None:
        estimator = load_estimator(config)
    figure = config.outputs.figure is not None       # the figure shows the mask and the crop
    result = estimator.estimate(frame, config.settings, with_mask=figure, with_crop=figure)
    record = {"image": str(path), "image_size": [int(frame.shape[1]), int(frame.shape[0])],
              "device": str(estimator.device), **result.to_json()}
    text = json.dumps(record)
    if config.outputs.json:
        config.outputs.json.write_text(text + "\n")
        log.info("wrote %s", config.outputs.json)
    else:
        print(text)
    if config.outputs.figure:
        from .figure import save_figure

        sides = ", ".join(f"{h.side} {h.presence:.2f}" for h in result.hands)
        what = f"{len(result.hands)} hand{'s' if len(result.hands) != 1 else ''}" + (f": {sides}" if sides else "")
        save_figure(config.outputs.figure, frame, result, title=f"{Path(path).name} ({what})")
        log.info("wrote %s", config.outputs.figure)
    return 0


def dispatch(config: RunConfig) -> int:
    if config.headless and config.source.kind == "image":
        return run_image(config)
    if config.headless:
        from .headless import run_video

        return run_video(config)
    from .app import run  # the window (Qt) only when asked for

    return run(config)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s" if args.verbose else "%(message)s")
    try:
        return dispatch(config_from_args(args, parser))
    except USER_ERRORS as e:
        return print_error(e)
    except KeyboardInterrupt:
        return 130
