"""Time MediaPipe Hands on the same frames as ``bench.py``, for the side-by-side comparison in docs/performance.md.

MediaPipe needs ``numpy<2``, so this runs in its own venv (the one ``training.teacher`` uses):

    python3 -m venv ../mp_venv && ../mp_venv/bin/pip install mediapipe==0.10.21
    ../mp_venv/bin/python benchmarks/mediapipe_bench.py --json mediapipe.json --frames 100
    .venv/bin/python benchmarks/check_targets.py cpu_lite.json --mediapipe mediapipe.json

Per model (``--models``: lite = ``model_complexity=0``, full = 1), MediaPipe's ``Hands`` runs in its video
mode (``static_image_mode=False``: the palm detector runs only when the landmark model loses the hand,
the same idea as handcam's tracking) with one hand; the wall clock around each ``process`` call is
recorded. Statistics are over the frames after ``--warmup``. Run it
right after ``bench.py`` on an idle machine, so that both see the same load.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

from common import default_video, parse_frame_args, read_video, stats  # benchmarks/common.py, beside this file

MODELS = {"lite": 0, "full": 1}


def time_model(frames: list, complexity: int, warmup: int) -> dict:
    """Milliseconds per ``Hands.process`` call in video mode, and on how many timed frames a hand was found."""
    import mediapipe as mp

    times, found = [], 0
    with mp.solutions.hands.Hands(static_image_mode=False, max_num_hands=1, model_complexity=complexity,
                                  min_detection_confidence=0.5, min_tracking_confidence=0.5) as hands:
        for i, frame in enumerate(frames):
            t0 = time.perf_counter()
            out = hands.process(frame)
            ms = (time.perf_counter() - t0) * 1000.0
            if i >= warmup:
                times.append(ms)
                found += bool(out.multi_hand_landmarks)
    return {"end_to_end_ms": stats(times), "hand_found_fraction": found / max(len(times), 1)}


def run(args) -> dict:
    import mediapipe as mp

    video = Path(args.video) if args.video else default_video()
    if video is None:
        raise SystemExit("no video: pass --video FILE (default: ../shared/data/real/video/prasad9_okay.mp4)")
    frames = read_video(video, args.warmup + args.frames, tuple(args.size) if args.size else None)
    load_start = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    models = {name: time_model(frames, MODELS[name], args.warmup) for name in args.models}
    return {
        "config": {"tool": "mediapipe", "version": mp.__version__, "mode": "video", "max_num_hands": 1,
                   "frames": args.frames, "warmup": args.warmup, "frame_size": list(frames[0].shape[:2]),
                   "source": str(video)},
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpu_count": os.cpu_count(), "loadavg_start": load_start,
                    "loadavg_end": list(os.getloadavg()) if hasattr(os, "getloadavg") else None},
        "models": models,
    }


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", help="write the result to this JSON file (default: print only)")
    p.add_argument("--video", help="video file (default: ../shared/data/real/video/prasad9_okay.mp4)")
    p.add_argument("--frames", type=int, default=100, help="timed frames per model")
    p.add_argument("--warmup", type=int, default=5, help="untimed frames first (model loading, first detection)")
    p.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), help="resize the frames to H x W first")
    p.add_argument("--models", nargs="+", choices=tuple(MODELS), default=list(MODELS),
                   help="which MediaPipe hand models to time: lite (model_complexity=0), full (1)")
    return parse_frame_args(p, argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        import mediapipe  # noqa: F401
    except ImportError:
        print("mediapipe_bench.py: mediapipe is not installed in this Python; run it with MediaPipe's venv "
              "(python3 -m venv ../mp_venv && ../mp_venv/bin/pip install mediapipe==0.10.21)", file=sys.stderr)
        return 2
    try:
        result = run(args)
    except ValueError as e:          # an unreadable video
        print(f"mediapipe_bench.py: {e}", file=sys.stderr)
        return 2
    for name, r in result["models"].items():
        s = r["end_to_end_ms"]
        print(f"mediapipe {name:<5} median {s['median']:6.2f} ms  p10 {s['p10']:6.2f}  p90 {s['p90']:6.2f}  "
              f"hand found {r['hand_found_fraction']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
